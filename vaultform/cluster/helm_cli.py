"""The `helm` binary (3 or 4), run as a subprocess: list, get values, upgrade --install, uninstall.

`VAULTFORM_HELM` names the binary, else `helm` on PATH. Values go to helm in
a temporary file (mode 0600, deleted afterwards), never on the command line
where `ps` would show them. A failure is one ClusterError line made of
helm's own error text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Any, Dict, List, Optional

from vaultform import redact
from vaultform.childenv import child_environment
from vaultform.cluster.releases import ReleaseSpec
from vaultform.errors import ClusterError

HELM_ENV = "VAULTFORM_HELM"
READ_TIMEOUT = 60.0
# Beyond helm's own --timeout (which bounds its --wait), time to talk to the
# repository and the API server.
EXTRA_SECONDS = 120.0


def helm_binary() -> str:
    named = os.environ.get(HELM_ENV)
    if named:
        found = shutil.which(named)
        if found is None:
            raise ClusterError(f"{HELM_ENV}={named} is not an executable helm binary")
        return found
    found = shutil.which("helm")
    if found is None:
        raise ClusterError("the helm provider needs the helm binary (3 or 4), and there is no `helm` on PATH: "
                           f"install it, or set {HELM_ENV} to its path")
    return found


def error_text(stderr: str, stdout: str = "") -> str:
    """helm's error as one line: from its first `Error:` line on, joined."""
    lines = [line.strip() for line in (stderr or stdout).splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith("Error:")), 0)
    text = "; ".join(lines[start:]) or "no error message"
    if text.startswith("Error: "):
        text = text[len("Error: "):]
    return redact.redact(text if len(text) <= 500 else text[:500] + "…")


def _seconds(duration: str) -> float:
    """Go duration ("5m", "1h30m", "90s") to seconds, for our own subprocess timeout."""
    import re

    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(h|m|s|ms)", duration):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total or 300.0


class Helm:
    def __init__(self, namespace: str, kubeconfig: Optional[str] = None, context: Optional[str] = None):
        self.namespace = namespace
        self.global_flags: List[str] = ["--namespace", namespace]
        if kubeconfig:
            self.global_flags += ["--kubeconfig", kubeconfig]
        if context:
            self.global_flags += ["--kube-context", context]

    def _run(self, args: List[str], what: str, timeout: float = READ_TIMEOUT) -> str:
        command = [helm_binary(), *args, *self.global_flags]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, env=child_environment())
        except subprocess.TimeoutExpired:
            raise ClusterError(f"helm {what} did not finish within {timeout:.0f} s") from None
        except OSError as exc:
            raise ClusterError(f"cannot run {command[0]}: {exc.strerror}") from None
        if done.returncode != 0:
            raise ClusterError(f"helm {what} failed: {error_text(done.stderr, done.stdout)}")
        return done.stdout

    # -- reading ---------------------------------------------------------------
    def list_releases(self) -> Dict[str, dict]:
        """name -> helm list's entry (chart "vault-0.28.1", status, revision, ...), every status."""
        text = self._run(["list", "--all", "--output", "json"], f"list in namespace {self.namespace}")
        try:
            entries = json.loads(text or "[]") or []
        except ValueError:
            raise ClusterError(f"helm list in namespace {self.namespace} did not print JSON") from None
        return {e["name"]: e for e in entries if isinstance(e, dict) and "name" in e}

    def get_values(self, name: str) -> Dict[str, Any]:
        """The values the release was installed with (helm's "user-supplied values")."""
        text = self._run(["get", "values", name, "--output", "json"], f"get values {name}")
        try:
            values = json.loads(text or "null")
        except ValueError:
            raise ClusterError(f"helm get values {name} did not print JSON") from None
        return values if isinstance(values, dict) else {}  # helm prints null for none

    # -- changing ----------------------------------------------------------------
    def upgrade_install(self, release: ReleaseSpec) -> None:
        fd, path = tempfile.mkstemp(prefix=f"vaultform-{release.name}-", suffix=".json")  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(release.values, handle)  # JSON is YAML: helm reads it as is
            args = ["upgrade", "--install", release.name, release.chart]
            if release.version:
                args += ["--version", release.version]
            if release.repo:
                args += ["--repo", release.repo]
            args += ["-f", path, "--create-namespace"]
            if release.wait:
                args += ["--wait", "--timeout", release.timeout]
            self._run(args, f"upgrade --install {release.name}", timeout=_seconds(release.timeout) + EXTRA_SECONDS)
        finally:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def uninstall(self, name: str) -> None:
        self._run(["uninstall", name, "--wait"], f"uninstall {name}", timeout=_seconds("5m") + EXTRA_SECONDS)
