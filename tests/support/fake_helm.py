"""A fake `helm` for the helm provider's tests: `install(bin_dir)` puts an
executable `helm` there that runs :func:`main`.

It answers the commands vaultform runs as helm 3 and 4 do (same output
shapes, same error texts, exit 1 on errors), records every call to a JSON
file (argv, and for -f files their mode and content at call time), and keeps
releases in the fake Kubernetes API (tests/support/fake_kube_api.py), found
from the kubeconfig as real helm finds its cluster. Installing a release of
the vault chart makes that API start real OpenBao "pods".

Charts it knows (anything else is "not found", as from a real repository):
hashicorp's vault and consul, openbao's openbao, each in a few versions;
the vault charts check a few value types, as their values.schema.json does.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import ssl
import stat
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional

import yaml

HASHICORP = "https://helm.releases.hashicorp.com"
OPENBAO = "https://openbao.github.io/openbao-helm"
CHARTS: Dict[str, Dict[str, Dict[str, str]]] = {   # repo -> chart -> version -> app version
    HASHICORP: {"vault": {"0.28.1": "1.17.2", "0.29.1": "1.18.1"},
                "consul": {"1.5.3": "1.19.2", "1.6.1": "1.20.1"}},
    OPENBAO: {"openbao": {"0.8.1": "v2.1.0", "0.16.1": "v2.3.1"}},
}
REPO_ALIASES = {"hashicorp": HASHICORP, "openbao": OPENBAO}
LOG_ENV = "FAKE_HELM_LOG"


def install(bin_dir: Path, log_file: Optional[Path] = None) -> Path:
    """Write bin_dir/helm; calls are logged to log_file (default bin_dir/helm-calls.json)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_file or bin_dir / "helm-calls.json"
    root = Path(__file__).resolve().parents[2]
    script = bin_dir / "helm"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        f"os.environ.setdefault({LOG_ENV!r}, {str(log_file)!r})\n"
        "from tests.support.fake_helm import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    script.chmod(0o755)
    return script


def calls(log_file: Path) -> List[dict]:
    try:
        return json.loads(log_file.read_text())
    except FileNotFoundError:
        return []


# -- the command line ----------------------------------------------------------------

class HelmError(Exception):
    pass


def _parse(argv: List[str]):
    """Positional arguments and flags (--flag value, --flag=value, boolean --flag)."""
    booleans = {"--install", "--wait", "--create-namespace", "--all", "-a", "--atomic", "--debug"}
    short = {"-n": "--namespace", "-o": "--output", "-f": "--values"}
    positional: List[str] = []
    flags: Dict[str, List[str]] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-"):
            name, _, value = arg.partition("=")
            name = short.get(name, name)
            if name in booleans:
                flags.setdefault("--all" if name == "-a" else name, []).append(value or "true")
            elif value:
                flags.setdefault(name, []).append(value)
            else:
                i += 1
                if i >= len(argv):
                    raise HelmError(f"flag needs an argument: {arg}")
                flags.setdefault(name, []).append(argv[i])
        else:
            positional.append(arg)
        i += 1
    return positional, flags


def _log(argv: List[str], flags: Dict[str, List[str]]) -> None:
    entry: dict = {"argv": argv, "time": time.time()}
    files = []
    for path in flags.get("--values", []):
        try:
            st = os.stat(path)
            files.append({"path": path, "mode": stat.S_IMODE(st.st_mode), "content": Path(path).read_text()})
        except OSError:
            files.append({"path": path, "mode": None, "content": None})
    if files:
        entry["values_files"] = files
    log = Path(os.environ.get(LOG_ENV, "helm-calls.json"))
    with open(str(log) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = calls(log)
        entries.append(entry)
        log.write_text(json.dumps(entries, indent=1))


class Cluster:
    """The fake API server from the kubeconfig, as helm would find it."""

    def __init__(self, flags: Dict[str, List[str]]):
        path = (flags.get("--kubeconfig") or [os.environ.get("KUBECONFIG", "~/.kube/config")])[0]
        try:
            config = yaml.safe_load(Path(os.path.expanduser(path.split(os.pathsep)[0])).read_text())
        except OSError:
            raise HelmError("Kubernetes cluster unreachable: no kubeconfig") from None
        cluster = config["clusters"][0]["cluster"]
        self.url = cluster["server"]
        self.token = config["users"][0]["user"].get("token", "")
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        self.context = ssl.create_default_context(cadata=ca)

    def request(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                raise HelmError("Kubernetes cluster unreachable: the server has asked for the client to "
                                "provide credentials") from None
            return exc.code, None
        except urllib.error.URLError as exc:
            raise HelmError(f"Kubernetes cluster unreachable: {exc.reason}") from None


# -- commands ---------------------------------------------------------------------

def cmd_list(cluster: Cluster, namespace: str, flags) -> int:
    _, releases = cluster.request("GET", f"/fake/releases?namespace={namespace}")
    shown = [{"name": r["name"], "namespace": r["namespace"], "revision": str(r["revision"]),
              "updated": r["updated"], "status": r["status"], "chart": f"{r['chart_name']}-{r['version']}",
              "app_version": r["app_version"]} for r in releases or []]
    if (flags.get("--output") or ["table"])[0] == "json":
        print(json.dumps(shown))
    else:
        print("NAME\tNAMESPACE\tREVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION")
        for r in shown:
            print("\t".join(r[k] for k in ("name", "namespace", "revision", "updated", "status", "chart",
                                           "app_version")))
    return 0


def cmd_get_values(cluster: Cluster, namespace: str, name: str, flags) -> int:
    code, release = cluster.request("GET", f"/fake/releases/{namespace}/{name}")
    if code == 404:
        raise HelmError("release: not found")
    config = release.get("config")
    if (flags.get("--output") or ["table"])[0] == "json":
        print(json.dumps(config if config else None))
    else:
        print("USER-SUPPLIED VALUES:")
        print(yaml.safe_dump(config) if config else "null")
    return 0


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _check_values(chart: str, values: dict) -> List[str]:
    """A few of the type rules the vault chart's values.schema.json has."""
    rules = [(("server", "ha", "enabled"), bool, "boolean"), (("server", "ha", "replicas"), int, "integer"),
             (("server", "ha", "raft", "enabled"), bool, "boolean"), (("injector", "enabled"), (bool, str),
                                                                       "boolean"),
             (("server", "replicas"), int, "integer")]
    problems = []
    for path, wanted, name in rules:
        node = values
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None and (not isinstance(node, wanted) or (wanted is int and isinstance(node, bool))):
            given = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array",
                     dict: "object"}.get(type(node), "unknown")
            problems.append(f"- {'.'.join(path)}: Invalid type. Expected: {name}, given: {given}")
    return problems


def cmd_upgrade(cluster: Cluster, namespace: str, positional: List[str], flags) -> int:
    if "--install" not in flags:
        raise HelmError("this fake only does upgrade --install")
    name, chart_ref = positional
    repo = (flags.get("--repo") or [None])[0]
    if repo is None:
        alias, _, chart = chart_ref.partition("/")
        if not chart or alias not in REPO_ALIASES:
            raise HelmError(f'repo {alias} not found' if chart else f"non-absolute URLs should be in form of "
                            f"repo_name/path_to_chart, got: {chart_ref}")
        repo = REPO_ALIASES[alias]
    else:
        chart = chart_ref
    if repo.rstrip("/") not in CHARTS:
        raise HelmError(f'looks like "{repo}" is not a valid chart repository or cannot be reached: '
                        f'failed to fetch {repo}/index.yaml : 404 Not Found')
    versions = CHARTS[repo.rstrip("/")].get(chart)
    if versions is None:
        raise HelmError(f'chart "{chart}" not found in {repo} repository')
    version = (flags.get("--version") or [None])[0]
    if version is None:
        version = max(versions, key=lambda v: [int(x) for x in v.split(".")])
    elif version not in versions:
        raise HelmError(f'chart "{chart}" version "{version}" not found in {repo} repository')
    values: dict = {}
    for path in flags.get("--values", []):
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError:
            raise HelmError(f"open {path}: no such file or directory") from None
        values = _merge(values, loaded or {})
    problems = _check_values(chart, values)
    if problems:
        raise HelmError("values don't meet the specifications of the schema(s) in the following chart(s):\n"
                        f"{chart}:\n" + "\n".join(problems))
    code, existing = cluster.request("GET", f"/fake/releases/{namespace}/{name}")
    revision = existing["revision"] + 1 if code == 200 else 1
    release = {"name": name, "namespace": namespace, "revision": revision, "status": "deployed",
               "updated": time.strftime("%Y-%m-%d %H:%M:%S.000000000 +0000 UTC", time.gmtime()),
               "chart_name": chart, "version": version, "app_version": versions[version], "config": values}
    cluster.request("PUT", f"/fake/releases/{namespace}/{name}", release)
    if code == 200:
        print(f'Release "{name}" has been upgraded. Happy Helming!')
    else:
        print(f'Release "{name}" does not exist. Installing it now.')
    print(f"NAME: {name}\nNAMESPACE: {namespace}\nSTATUS: deployed\nREVISION: {revision}")
    return 0


def cmd_uninstall(cluster: Cluster, namespace: str, name: str) -> int:
    code, _ = cluster.request("DELETE", f"/fake/releases/{namespace}/{name}")
    if code == 404:
        raise HelmError(f"uninstall: Release not loaded: {name}: release: not found")
    print(f'release "{name}" uninstalled')
    return 0


def main(argv: List[str]) -> int:
    try:
        positional, flags = _parse(argv)
        _log(argv, flags)
        namespace = (flags.get("--namespace") or ["default"])[0]
        if not positional:
            raise HelmError("unknown command")
        command = positional[0]
        if command == "version":
            print("v3.15.4+gfa9efb0")
            return 0
        cluster = Cluster(flags)
        if command in ("list", "ls"):
            return cmd_list(cluster, namespace, flags)
        if command == "get" and positional[1:2] == ["values"]:
            return cmd_get_values(cluster, namespace, positional[2], flags)
        if command == "upgrade":
            return cmd_upgrade(cluster, namespace, positional[1:], flags)
        if command in ("uninstall", "delete", "un"):
            return cmd_uninstall(cluster, namespace, positional[1])
        raise HelmError(f'unknown command "{command}" for "helm"')
    except HelmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
