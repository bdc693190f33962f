"""A throwaway PostgreSQL server for the database secrets engine tests.

Debian's postgresql package (`.ci/run` installs it) provides the binaries;
the server is initialised into a temporary directory and listens on a free
loopback port only (and a socket in that directory), with a generated
superuser password (scram-sha-256 for TCP). PostgreSQL refuses to run as
root, so as root it runs as the `postgres` user the package creates.

`postgres_or_skip()` says why when no server can be had (no binaries), so a
test skips with that reason instead of failing; CI installs the package, so
there it always runs.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

from tests.support.bao import free_port

START_TIMEOUT = 30.0


def bin_dir() -> Optional[str]:
    """The newest installed PostgreSQL's bin directory (Debian keeps them off PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if candidates:
        return os.path.dirname(candidates[-1])
    found = shutil.which("postgres") or shutil.which("initdb")
    return os.path.dirname(found) if found else None


def missing_reason() -> Optional[str]:
    if bin_dir() is None:
        return "PostgreSQL is not installed (Debian package postgresql; .ci/run installs it)"
    if shutil.which("psql") is None:
        return "the psql client is not installed (Debian package postgresql-client)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run PostgreSQL as"
    return None


class PostgresServer:
    """`with PostgresServer() as pg:` a running server; pg.url(...) and pg.psql(...)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.superuser = "vaultadmin"
        self.password = "pg-" + secrets.token_hex(16)
        self.database = "app"
        self.dir = Path(tempfile.mkdtemp(prefix="vaultform-pg-"))
        self.proc: Optional[subprocess.Popen] = None
        self._user = "postgres" if os.geteuid() == 0 else None

    # -- running as the right user ---------------------------------------------------
    def _run(self, args: List[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(args, user=self._user, check=True, capture_output=True, text=True, timeout=120,
                              cwd=str(self.dir), **kwargs)

    def start(self) -> "PostgresServer":
        bindir = bin_dir()
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        if self._user:
            os.chown(pwfile, pwd.getpwnam(self._user).pw_uid, -1)
        data = self.dir / "data"
        self._run([f"{bindir}/initdb", "-D", str(data), "-U", self.superuser, f"--pwfile={pwfile}",
                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"])
        pwfile.unlink()
        self.proc = subprocess.Popen(
            [f"{bindir}/postgres", "-D", str(data), "-p", str(self.port), "-k", str(self.dir),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50"],
            user=self._user, cwd=str(self.dir), stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "server.log", "wb"))
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited: {(self.dir / 'server.log').read_text()[-2000:]}")
            ready = subprocess.run([f"{bindir}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                                   capture_output=True)
            if ready.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("PostgreSQL did not start in time")
        self.psql(f"CREATE DATABASE {self.database}", database="postgres")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # Fast shutdown (SIGINT): SIGTERM's smart shutdown waits for every
            # client to leave, and Vault's database plugin keeps its connections
            # open until the Vault server stops, which is after this one.
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- talking to it ------------------------------------------------------------------
    def psql(self, sql: str, user: Optional[str] = None, password: Optional[str] = None,
             database: Optional[str] = None) -> str:
        """Run SQL over TCP as `user` (the superuser by default); the output, unaligned."""
        env: Dict[str, str] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                               "PGPASSWORD": password if password is not None else self.password,
                               "PGCONNECT_TIMEOUT": "10"}
        result = subprocess.run(
            ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", user or self.superuser, "-d", database or self.database, "-c", sql],
            env=env, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def url(self) -> str:
        """For Vault's connection_url: Vault fills in the templates itself."""
        return f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{self.port}/{self.database}"
