"""Where `operator init`'s answer is kept: a file (mode 0600) or a Kubernetes Secret.

Both are for demos, like the tutorial's cluster-keys.json, unless the spec
names custodians' PGP keys: then what is stored is encrypted to them.
A store holds one JSON document; the cluster decides what goes in it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from vaultform.errors import ClusterError


class FileKeyStore:
    def __init__(self, path: Path):
        self.path = path

    @property
    def description(self) -> str:
        return str(self.path)

    @property
    def missing(self) -> str:
        """Completes "... there is {missing}"."""
        return f"no keys file at {self.path}"

    def plan_field(self) -> dict:
        """How cluster.init shows where the keys go."""
        return {"keys_file": str(self.path)}

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> Optional[dict]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        if st.st_mode & 0o077:
            raise ClusterError(f"keys file {self.path} is readable by others (mode {st.st_mode & 0o777:o}); "
                               f"chmod 600 it")
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            raise ClusterError(f"keys file {self.path} is not readable JSON") from None

    def prepare(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ClusterError(f"cannot create the directory of the keys file {self.path}: {exc.strerror}") from None

    def write(self, keys: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(keys, handle, indent=2)
        os.replace(tmp, self.path)

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

    def restore_hint(self, path) -> str:
        return (f"store it with `kubectl -n {self.namespace} create secret generic {self.name} "
                f"--from-file={SECRET_KEY}={path} --dry-run=client -o yaml | kubectl apply -f -`")
