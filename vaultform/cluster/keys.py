"""Where `operator init`'s answer is kept: a file (mode 0600) or a Kubernetes Secret.

Every store is prepared before init (so a store that cannot take the keys
fails while Vault still holds nothing) and written once after it; when that
write fails, the cluster writes a rescue file instead (base.py).

Both are for demos, like the tutorial's cluster-keys.json, unless the spec
names custodians' PGP keys: then what is stored is encrypted to them.
A store holds one JSON document; the cluster decides what goes in it.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import List, Optional

from vaultform.cluster import keyfile
from vaultform.errors import ClusterError


class FileKeyStore:
    """A JSON file, 0600, in a directory vaultform makes 0700. See keyfile.py
    for how it is reserved before init and written after it."""

    def __init__(self, path: Path):
        self.path = keyfile.unresolved(path)
        self._reservation = None

    @property
    def description(self) -> str:
        return str(self.path)

    @property
    def missing(self) -> str:
        """Completes "... there is {missing}"."""
        leftovers = self.leftovers()
        if leftovers:
            return (f"no keys file at {self.path} (a file an earlier run left beside it may hold the keys: "
                    f"{', '.join(str(p) for p in leftovers)})")
        return f"no keys file at {self.path}"

    def leftovers(self) -> List[Path]:
        """Rescue files and unrenamed temp files beside the keys file."""
        name = self.path.name
        try:
            return sorted(p for p in self.path.parent.iterdir()
                          if p.name.startswith((f"{name}.rescued-", f".{name}."))
                          and p.is_file() and p.stat().st_size > 0)
        except OSError:
            return []

    def plan_field(self) -> dict:
        """How cluster.init shows where the keys go."""
        return {"keys_file": str(self.path)}

    def exists(self) -> bool:
        """Something holds the name; an empty file (a reservation made before
        an init that never answered) does not count: it holds no keys."""
        try:
            st = self.path.lstat()
        except FileNotFoundError:
            return False
        return not (stat.S_ISREG(st.st_mode) and st.st_size == 0)

    def read(self) -> Optional[dict]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ClusterError(f"keys file {self.path} is a symbolic link, which vaultform does not follow "
                                   "for keys; set keys_file to where it points") from None
            raise ClusterError(f"keys file {self.path} cannot be read: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ClusterError(f"keys file {self.path} is not a regular file")
            if st.st_size == 0:
                return None  # a reservation whose init never answered: no keys
            if st.st_mode & 0o077:
                raise ClusterError(f"keys file {self.path} is readable by others (mode {st.st_mode & 0o777:o}); "
                                   f"chmod 600 it")
            try:
                return json.loads(handle.read())
            except (OSError, ValueError):
                raise ClusterError(f"keys file {self.path} is not readable JSON") from None

    def prepare(self) -> None:
        """Before init: make the directory (0700) and take the file's name
        (exclusively, 0600), so that every reason the keys could not be
        written later shows now, while Vault still holds nothing."""
        directory = self.path.parent
        keyfile.private_dirs(directory, self.path)
        keyfile.check_directory(directory, self.path)
        self._reservation = keyfile.reserve(self.path)

    def release(self) -> None:
        """Init did not happen: give the name back."""
        keyfile.release(self.path, self._reservation)
        self._reservation = None

    def write(self, keys: dict) -> None:
        try:
            keyfile.write_atomically(self.path, json.dumps(keys, indent=2).encode())
        except OSError as exc:
            raise ClusterError(f"cannot write the keys file {self.path}: {exc.strerror or exc}") from None
        self._reservation = None

    def restore_hint(self, rescued: Path) -> str:
        return f"move it into place (`mv {rescued} {self.path}`), then run apply again"

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


SECRET_KEY = "cluster-keys.json"


class SecretKeyStore:
    """One key (`cluster-keys.json`) of a Secret in the cluster's namespace,
    labelled as vaultform's. Anyone allowed to read Secrets there can read it."""

    def __init__(self, kube, namespace: str, name: str):
        self.kube, self.namespace, self.name = kube, namespace, name

    @property
    def description(self) -> str:
        return f"the Kubernetes Secret {self.namespace}/{self.name}"

    @property
    def missing(self) -> str:
        return f"no unseal keys in {self.description}"

    def plan_field(self) -> dict:
        return {"keys_secret": f"{self.namespace}/{self.name}"}

    def exists(self) -> bool:
        return self.read() is not None

    def read(self) -> Optional[dict]:
        data = self.kube.read_secret(self.namespace, self.name)
        if not data or SECRET_KEY not in data:
            return None
        try:
            return json.loads(data[SECRET_KEY])
        except ValueError:
            raise ClusterError(f"{self.description} does not hold readable JSON under {SECRET_KEY}") from None

    def prepare(self) -> None:
        # Writing an empty Secret first proves the namespace exists and the
        # credentials may write Secrets there, before init hands out the keys.
        if self.kube.read_secret(self.namespace, self.name) is None:
            self.kube.write_secret(self.namespace, self.name, {})

    def write(self, keys: dict) -> None:
        self.kube.write_secret(self.namespace, self.name, {SECRET_KEY: json.dumps(keys, indent=2)})

    def delete(self) -> None:
        self.kube.delete_secret(self.namespace, self.name)

    def release(self) -> None:
        """The empty Secret made by prepare() holds nothing; it may stay."""

    def restore_hint(self, path) -> str:
        return (f"store it with `kubectl -n {self.namespace} create secret generic {self.name} "
                f"--from-file={SECRET_KEY}={path} --dry-run=client -o yaml | kubectl apply -f -`, "
                "delete the file, then run apply again")
