"""cluster.releases: the helm releases a helm-provider spec installs.

Each release's values are its `values_files` (relative to the spec, merged in
order the way `helm -f a -f b` merges them) with its inline `values` on top.
Everything here is offline, so `vaultform validate` reports a missing or
malformed values file at its line in the spec.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from vaultform.errors import Location, SpecError

DEFAULT_TIMEOUT = "5m"


@dataclass
class ReleaseSpec:
    name: str
    chart: str
    version: Optional[str]
    repo: Optional[str]
    values: Dict[str, Any]
    wait: bool = True
    timeout: str = DEFAULT_TIMEOUT
    position: int = 0
    location: Optional[Location] = None
    values_files: List[Path] = field(default_factory=list)

    @property
    def chart_name(self) -> str:
        return chart_name(self.chart)


def chart_name(chart: str) -> str:
    """The name `helm list` shows for a chart reference: hashicorp/vault,
    oci://registry/charts/vault, ./charts/vault and vault-0.28.1.tgz are all "vault"."""
    last = chart.rstrip("/").rsplit("/", 1)[-1]
    if last.endswith(".tgz"):
        last = last[: -len(".tgz")]
        head, _, tail = last.rpartition("-")
        if head and tail[:1].isdigit():
            last = head
    return last


def merge_values(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    """Helm's merge of -f files: maps merge key by key, anything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _load_values_file(spec, release: str, index: int, name: str) -> Dict[str, Any]:
    path = (spec.base_dir / name).resolve()
    where = spec.loc("cluster", "releases", release, "values_files", index)
    field_name = f"cluster.releases.{release}.values_files[{index}]"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"values file {path} does not exist", location=where, field=field_name) from None
    except (OSError, UnicodeDecodeError):
        raise SpecError(f"values file {path} cannot be read", location=where, field=field_name) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SpecError(f"values file {path} is not valid YAML{at}", location=where, field=field_name) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError(f"values file {path} must hold a mapping of chart values", location=where,
                        field=field_name)
    return data


def load_releases(spec) -> List[ReleaseSpec]:
    releases = []
    for position, (name, body) in enumerate(((spec.cluster or {}).get("releases") or {}).items()):
        values: Dict[str, Any] = {}
        files = []
        for index, file_name in enumerate(body.get("values_files") or []):
            values = merge_values(values, _load_values_file(spec, name, index, file_name))
            files.append((spec.base_dir / file_name).resolve())
        values = merge_values(values, body.get("values") or {})
        version = body.get("version")
        releases.append(ReleaseSpec(
            name=name, chart=body["chart"], version=None if version is None else str(version),
            repo=body.get("repo"), values=values, wait=body.get("wait", True),
            timeout=str(body.get("timeout", DEFAULT_TIMEOUT)), position=position,
            location=spec.key_loc("cluster", "releases", name), values_files=files))
    return releases


def spec_problems(spec) -> List[SpecError]:
    """What `validate` checks offline for a helm spec: values files, and that
    the release holding Vault is one of the spec's releases."""
    cluster = spec.cluster or {}
    if cluster.get("provider") != "helm":
        return []
    problems: List[SpecError] = []
    releases = cluster.get("releases") or {}
    for name, body in releases.items():
        for index, file_name in enumerate(body.get("values_files") or []):
            try:
                _load_values_file(spec, name, index, file_name)
            except SpecError as exc:
                problems.append(exc)
    vault_release = cluster.get("vault_release", "vault")
    if vault_release not in releases:
        where = spec.loc("cluster", "vault_release") if "vault_release" in cluster else spec.key_loc("cluster", "releases")
        problems.append(SpecError(f"no release named {vault_release!r} under cluster.releases: name the release "
                                  "that runs Vault with cluster.vault_release", location=where,
                                  field="cluster.vault_release"))
    if "keys_file" in (cluster.get("init") or {}) and (cluster.get("keys") or {}).get("kubernetes_secret"):
        problems.append(SpecError("init.keys_file and keys.kubernetes_secret both say where the unseal keys go: "
                                  "keep one", location=spec.key_loc("cluster", "keys", "kubernetes_secret"),
                                  field="cluster.keys.kubernetes_secret"))
    return problems
