"""The helm provider: releases, pods, init, unseal and raft join, for real
where it can be.

No Kubernetes can run here, so `helm` is a fake on PATH
(tests/support/fake_helm.py: records its calls, answers as helm 3/4 do) and
the official `kubernetes` client talks over TLS to a small API server
(tests/support/fake_kube_api.py) whose Vault "pods" are real OpenBao
processes, each on its own pod IP: init, unseal, raft join and port-forward
run for real. `pytest -m kubernetes` runs the same scenario against the
cluster KUBECONFIG points at (docs/kubernetes.md).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import jsonschema
import pytest
import requests
import yaml

from tests.conftest import run_cli
from tests.support import fake_helm
from tests.support.bao import wait_until
from tests.support.cli import (
    Result,
    Transcript,
    assert_clean_failure,
    assert_no_secrets,
    clean_env,
    error_lines,
)
from tests.support.fake_kube_api import FakeKubeAPI

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "kubernetes"
PLAN_SCHEMA = json.loads((REPO / "schemas" / "plan-output.schema.json").read_text(encoding="utf-8"))
NS = "vault"
KEYS_SECRET = "vault-unseal-keys"
HASHICORP = "https://helm.releases.hashicorp.com"


@dataclass
class HelmWorld:
    """A spec directory, a fake cluster and a fake helm, and everything run in it."""

    work: Path
    env: dict
    api: FakeKubeAPI
    helm_log: Path
    transcript: Transcript = field(default_factory=Transcript)

    def run(self, *args: str, env: Optional[dict] = None) -> Result:
        """`vaultform ARGS` in a subprocess, as a user runs it."""
        return self.transcript.run(*args, env=env or self.env, cwd=self.work)

    def run_here(self, *args: str, env: Optional[dict] = None, stdin: Optional[str] = None) -> Result:
        """The same in this process (no interpreter start-up): for runs that
        fail early or use pod IPs only (port-forward patches the process)."""
        started = time.monotonic()
        with _chdir(self.work):
            done = run_cli(list(args), env={**{k: None for k in os.environ}, **(env or self.env)}, input=stdin)
        assert done.exception is None, done
        result = Result(list(args), done.exit_code, done.stdout, done.stderr, time.monotonic() - started)
        self.transcript.results.append(result)
        return result

    def write_spec(self, spec: dict, name: str = "spec.yaml") -> Path:
        path = self.work / name
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    def example(self, name: str) -> dict:
        """An example spec, with its values files beside it in the work dir."""
        for source in EXAMPLES.iterdir():
            shutil.copy(source, self.work / source.name)
        return yaml.safe_load((self.work / name).read_text())

    def helm_calls(self, command: Optional[str] = None) -> List[dict]:
        found = fake_helm.calls(self.helm_log)
        return [c for c in found if command is None or c["argv"][0] == command]

    def status(self, here: bool = False) -> list:
        result = (self.run_here if here else self.run)("status", "spec.yaml", "--format", "json")
        assert result.returncode == 0, result
        return json.loads(result.stdout)["nodes"]

    def stored_keys(self) -> dict:
        return json.loads(self.api.secret_data(NS, KEYS_SECRET)["cluster-keys.json"])


@contextlib.contextmanager
def _chdir(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@pytest.fixture
def world(tmp_path):
    api = FakeKubeAPI(tmp_path / "cluster").start()
    try:
        work = tmp_path / "work"
        work.mkdir()
        bin_dir = tmp_path / "bin"
        fake_helm.install(bin_dir)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        env = clean_env(tmp_path / "home", KUBECONFIG=str(kubeconfig),
                        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        env.pop("VAULTFORM_HELM", None)
        yield HelmWorld(work, env, api, bin_dir / "helm-calls.json")
    finally:
        api.close()


@pytest.fixture(autouse=True)
def _timings(request):
    """How long each command took (shown with -s, or when a test fails)."""
    yield
    world = request.node.funcargs.get("world")
    if world is not None:
        print("\n".join(f"{r.seconds:6.2f}s  vaultform {' '.join(r.args)}" for r in world.transcript.results))


def small_spec(**cluster) -> dict:
    """One Vault server (no HA), pod-ip, keys in a Secret: the quickest real bring-up."""
    spec = {"version": 1,
            "cluster": {"provider": "helm", "namespace": NS, "access": "pod-ip",
                        "releases": {"vault": {"chart": "vault", "repo": HASHICORP, "version": "0.28.1"}},
                        "pods": {"ready_timeout": 2},
                        "init": {"key_shares": 1, "key_threshold": 1},
                        "keys": {"kubernetes_secret": KEYS_SECRET}},
            "policies": {"app": 'path "secret/data/app/*" { capabilities = ["read"] }\n'}}
    spec["cluster"].update(cluster)
    return spec


def healthy(nodes: list) -> bool:
    """Every pod unsealed, one active; members of raft (joined nodes become
    voters when autopilot promotes them, which the helm provider leaves alone)."""
    return (all(n["reachable"] and n["initialized"] and n["sealed"] is False for n in nodes)
            and sum(1 for n in nodes if n["active"]) == 1)


def vault_get(address: str, token: str, path: str) -> dict:
    response = requests.get(f"{address}/v1/{path}", headers={"X-Vault-Token": token}, timeout=5)
    assert response.status_code == 200, (path, response.status_code, response.text[:200])
    return response.json()


def position(text: str, *needles: str) -> List[int]:
    return [text.index(n) for n in needles]


# -- the tutorial's architecture ----------------------------------------------------

def test_tutorial_example_installs_consul_then_vault_and_brings_up_three_pods(world):
    spec = world.example("vault.yaml")
    # The fake's pods are processes on this machine, not in a cluster: Vault
    # cannot read a pod's CA and token for Kubernetes auth, so that part of
    # the example (tested on the local cluster) is left out here.
    del spec["auth"], spec["policies"]["webapp"]
    spec["policies"]["app"] = 'path "secret/data/webapp/*" { capabilities = ["read"] }\n'
    world.write_spec(spec)
    # Until the pods exist nothing is port-forwarded: these can run in-process.
    assert world.run_here("validate", "spec.yaml").returncode == 0

    plan = world.run_here("plan", "spec.yaml", "--detailed-exitcode")
    assert plan.returncode == 2, plan
    out = plan.stdout
    order = position(out, "+ helm_release.consul", "+ helm_release.vault", "+ cluster.node[0]", "+ cluster.node[2]",
                     "+ cluster.init", "~ cluster.unseal[0]", "~ cluster.unseal[2]", "+ secrets_engine.secret")
    assert order == sorted(order), out
    assert "values.global.datacenter" in out and "values.server.ha.enabled" in out, out
    assert '+ cluster.node[1]  (no pod yet: the vault release makes it)' in out, out
    assert 'keys_secret   = "vault/vault-unseal-keys"' in out, out
    as_json = world.run_here("plan", "spec.yaml", "--format", "json")
    document = json.loads(as_json.stdout)
    jsonschema.validate(document, PLAN_SCHEMA)
    assert [c["address"] for c in document["changes"]][:2] == ["helm_release.consul", "helm_release.vault"]

    applied = world.run("apply", "spec.yaml", "--auto-approve")
    assert applied.returncode == 0, applied
    assert "WARNING: the unseal keys and the root token were written to the Kubernetes Secret vault/vault-unseal-keys" \
        in applied.stderr

    # helm: consul first, then vault, each with exactly the spec's values in a
    # 0600 file that is gone afterwards.
    upgrades = world.helm_calls("upgrade")
    assert [c["argv"][2] for c in upgrades] == ["consul", "vault"]
    for call, values_file in zip(upgrades, ["helm-consul-values.yaml", "helm-vault-values.yaml"]):
        argv = call["argv"]
        assert argv[:4] == ["upgrade", "--install", call["argv"][2], call["argv"][2]]
        for flag, value in (("--version", None), ("--repo", HASHICORP), ("--namespace", NS), ("--timeout", "5m")):
            assert flag in argv and (value is None or argv[argv.index(flag) + 1] == value), argv
        assert "--wait" in argv
        (sent,) = call["values_files"]
        assert sent["mode"] == 0o600
        assert json.loads(sent["content"]) == yaml.safe_load((world.work / values_file).read_text())
        assert not Path(sent["path"]).exists()

    nodes = world.status()
    assert [n["name"] for n in nodes] == ["vault-0", "vault-1", "vault-2"]
    assert [n["address"] for n in nodes] == [f"http://{world.api.pod(n).ip}:8200" for n in ("vault-0", "vault-1", "vault-2")]
    assert healthy(nodes), nodes
    # access: port-forward: vaultform reached every Vault pod through the API
    # (and never the agent injector, whose pod the selector leaves out).
    assert set(world.api.port_forwards) == {"vault-0", "vault-1", "vault-2"}

    keys = world.stored_keys()
    assert len(keys["unseal_keys_b64"]) == 3 and keys["unseal_threshold"] == 2
    assert world.api.secrets[(NS, KEYS_SECRET)]["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "vaultform"}
    active = next(n for n in nodes if n["active"])
    data = vault_get(active["address"], keys["root_token"], "secret/data/webapp/config")["data"]["data"]
    assert len(data["password"]) == 32
    members = vault_get(active["address"], keys["root_token"], "sys/storage/raft/configuration")
    assert sorted(s["node_id"] for s in members["data"]["config"]["servers"]) == ["vault-0", "vault-1", "vault-2"]

    again = world.run("plan", "spec.yaml", "--detailed-exitcode")
    assert again.returncode == 0, again
    secrets = [keys["root_token"], data["password"], *keys["unseal_keys_b64"], *keys["unseal_keys_hex"]]
    assert_no_secrets(world.transcript.text, secrets, "command output")


def test_raft_example_over_pod_ips_recovers_pods_and_destroys_in_two_steps(world):
    spec = world.example("vault-raft.yaml")
    spec["cluster"]["access"] = "pod-ip"
    world.write_spec(spec)
    # pod-ip routes nothing through the process: every run here is in-process.
    t = world.transcript
    applied = world.run_here("apply", "spec.yaml", "--auto-approve")
    assert applied.returncode == 0, applied
    keys_file = world.work / ".vaultform" / "cluster-keys.json"
    assert keys_file.stat().st_mode & 0o777 == 0o600
    keys = json.loads(keys_file.read_text())
    token = keys["root_token"]
    nodes = world.status(here=True)
    assert healthy(nodes), nodes
    assert world.api.port_forwards == []  # pod-ip: straight to the pods

    # Something vaultform does not manage, to find again after a reinstall.
    active = next(n for n in nodes if n["active"])["address"]
    headers = {"X-Vault-Token": token}
    assert requests.post(f"{active}/v1/sys/mounts/hand", json={"type": "kv"}, headers=headers, timeout=5).ok
    assert requests.post(f"{active}/v1/hand/note", json={"kept": "yes"}, headers=headers, timeout=5).ok

    # A standby's container crashes; the kubelet restarts it, sealed.
    standby = next(n for n in nodes if not n["active"])
    index = int(standby["name"].rsplit("-", 1)[1])
    world.api.kill(standby["name"])
    plan = world.run_here("plan", "spec.yaml", "--detailed-exitcode")
    assert plan.returncode == 2, plan
    assert f"~ cluster.unseal[{index}]  (sealed)" in plan.stdout, plan
    assert world.run_here("apply", "spec.yaml", "--auto-approve").returncode == 0

    # A values change is an upgrade of that release, shown leaf by leaf.
    spec["cluster"]["releases"]["vault"]["values"] = {"injector": {"enabled": False}}
    world.write_spec(spec)
    plan = world.run_here("plan", "spec.yaml", "--detailed-exitcode")
    assert plan.returncode == 2, plan
    assert "~ helm_release.vault" in plan.stdout and "values.injector.enabled : (absent) -> false" in plan.stdout
    assert world.run_here("apply", "spec.yaml", "--auto-approve").returncode == 0
    assert world.api.releases[(NS, "vault")]["revision"] == 2

    # destroy without the flag: the managed objects only.
    destroyed = world.run_here("destroy", "spec.yaml", "--auto-approve")
    assert destroyed.returncode == 0, destroyed
    assert "Warning: the helm releases stay installed (helm_release.vault); pass --uninstall-releases" in destroyed.stdout
    assert "- policy.webapp" in destroyed.stdout and "- helm_release" not in destroyed.stdout
    assert (NS, "vault") in world.api.releases and not world.helm_calls("uninstall")

    # With the flag: the release goes, and the plan says its volumes stay.
    destroyed = world.run_here("destroy", "spec.yaml", "--auto-approve", "--uninstall-releases")
    assert destroyed.returncode == 0, destroyed
    assert "- helm_release.vault  (destroy --uninstall-releases)" in destroyed.stdout
    assert "PersistentVolumeClaims its StatefulSets made are kept by helm" in destroyed.stdout
    assert f"kubectl -n {NS} delete pvc -l app.kubernetes.io/instance=vault" in destroyed.stdout
    assert [c["argv"][:2] for c in world.helm_calls("uninstall")] == [["uninstall", "vault"]]
    assert not world.api.releases and not world.api.pods

    # Installed again, the pods find their volumes: no second init, the kept
    # keys unseal them, and what was in Vault is still there.
    again = world.run_here("apply", "spec.yaml", "--auto-approve")
    assert again.returncode == 0, again
    assert "WARNING: the unseal keys" not in again.stderr
    assert json.loads(keys_file.read_text())["root_token"] == token
    wait_until(lambda: healthy(world.status(here=True)), timeout=20, what="three unsealed pods")
    active = next(n for n in world.status(here=True) if n["active"])["address"]
    assert vault_get(active, token, "hand/note")["data"] == {"kept": "yes"}
    assert world.run_here("plan", "spec.yaml", "--detailed-exitcode").returncode == 0
    secrets = [token, *keys["unseal_keys_b64"], *keys["unseal_keys_hex"]]
    assert_no_secrets(t.text, secrets, "command output")


# -- bad input and faults ----------------------------------------------------------

@pytest.mark.parametrize("release, message", [
    ({"version": "9.9.9"},
     'helm_release.vault: helm upgrade --install vault failed: chart "vault" version "9.9.9" not found in '
     f"{HASHICORP} repository"),
    ({"values": {"server": {"ha": {"enabled": True, "replicas": "three"}}}},
     "helm_release.vault: helm upgrade --install vault failed: values don't meet the specifications of the "
     "schema(s) in the following chart(s):; vault:; - server.ha.replicas: Invalid type. Expected: integer, "
     "given: string"),
])
def test_what_helm_rejects_is_one_line_and_nothing_is_half_done(world, release, message):
    spec = small_spec()
    spec["cluster"]["releases"]["vault"].update(release)
    world.write_spec(spec)
    result = world.run_here("apply", "spec.yaml", "--auto-approve")
    assert_clean_failure(result)
    assert f"Error: {message}" in error_lines(result), result
    assert "Done: nothing." in result.stderr
    assert not world.api.releases and not world.api.pods and not world.api.secrets


def test_a_pod_that_never_runs_is_named_and_apply_recovers_once_it_does(world):
    world.write_spec(small_spec())
    world.api.stuck.add("vault-0")
    result = world.run_here("apply", "spec.yaml", "--auto-approve")
    assert_clean_failure(result)
    assert ("Error: cluster.node[0]: pod vault-0 in namespace vault is still Pending (ContainerCreating) after 2 s; "
            "see kubectl -n vault describe pod vault-0") in error_lines(result), result
    assert "Done: helm_release.vault." in result.stderr
    assert world.api.secret_data(NS, KEYS_SECRET) is None  # nothing initialised

    world.api.unstick("vault-0")
    plan = world.run_here("plan", "spec.yaml", "--detailed-exitcode")
    assert plan.returncode == 2 and "helm_release" not in plan.stdout, plan
    assert world.run_here("apply", "spec.yaml", "--auto-approve").returncode == 0
    assert world.run_here("plan", "spec.yaml", "--detailed-exitcode").returncode == 0
    keys = world.stored_keys()
    assert_no_secrets(world.transcript.text, [keys["root_token"], *keys["unseal_keys_b64"]], "command output")


def gpg(home: Path, *args: str, stdin: bytes = b"") -> bytes:
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes", *args],
                          input=stdin, capture_output=True, check=True).stdout


def test_pgp_custody_keeps_only_encrypted_shares_in_the_secret(world, tmp_path):
    if shutil.which("gpg") is None:
        pytest.fail("gpg is needed for the PGP custody tests (.ci/run installs Debian's gnupg)")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg(home, "--passphrase", "", "--quick-gen-key", "alice <alice@example.com>", "rsa2048", "encrypt", "never")
    (world.work / "alice.asc").write_bytes(gpg(home, "--export", "--armor", "alice@example.com"))
    world.write_spec(small_spec(init={"key_shares": 1, "key_threshold": 1, "pgp_keys": ["alice.asc"],
                                      "root_token_pgp_key": "alice.asc"}, pods={"ready_timeout": 20}))

    first = world.run_here("apply", "spec.yaml", "--auto-approve")
    assert first.returncode == 1 and "Traceback" not in first.output, first  # stderr also has init's banner
    assert ("Error: cluster.unseal[0]: vault-0 is sealed and its shares are held by custodians (0/1 entered): "
            "each runs `vaultform unseal SPEC` with their decrypted share, then run apply again") in error_lines(first)
    stored = world.stored_keys()
    assert set(stored) == {"pgp", "encrypted_unseal_keys_b64", "unseal_shares", "unseal_threshold",
                           "encrypted_root_token"}
    decrypt = lambda b64: gpg(home, "--decrypt", "--quiet", stdin=base64.b64decode(b64)).decode().strip()
    share, root_token = decrypt(stored["encrypted_unseal_keys_b64"][0]), decrypt(stored["encrypted_root_token"])
    assert_no_secrets(json.dumps(world.api.secrets[(NS, KEYS_SECRET)]), [share, root_token], "the Secret")

    entered = world.run_here("unseal", "spec.yaml", stdin=share + "\n")
    assert entered.returncode == 0 and "vault-0: unsealed" in entered.stdout, entered
    done = world.run_here("apply", "spec.yaml", "--auto-approve", env={**world.env, "VAULT_TOKEN": root_token})
    assert done.returncode == 0, done
    assert_no_secrets(world.transcript.text, [share, root_token], "command output")


def test_keys_that_cannot_be_stored_after_init_are_rescued_to_a_0600_file(world):
    world.write_spec(small_spec(pods={"ready_timeout": 20}))
    world.api.refuse_secret_updates = True  # creating the (empty) Secret before init works; filling it does not
    result = world.run_here("apply", "spec.yaml", "--auto-approve")
    rescued = world.work / ".vaultform" / "cluster-keys.rescued.json"
    assert_clean_failure(result)
    (line,) = error_lines(result)
    assert line.startswith("Error: cluster.init: the cluster was initialised but its keys could not be stored in the "
                           "Kubernetes Secret vault/vault-unseal-keys (the Kubernetes API at "), line
    assert f"they were written to {rescued} (mode 0600) instead: store it with `kubectl -n vault create secret " \
           f"generic vault-unseal-keys --from-file=cluster-keys.json={rescued}" in line
    assert rescued.stat().st_mode & 0o777 == 0o600
    keys = json.loads(rescued.read_text())
    assert_no_secrets(world.transcript.text, [keys["root_token"], *keys["unseal_keys_b64"]], "command output")

    # Put where the message says, apply picks up from there.
    world.api.refuse_secret_updates = False
    world.api.secrets[(NS, KEYS_SECRET)]["data"] = {
        "cluster-keys.json": base64.b64encode(rescued.read_bytes()).decode()}
    assert world.run_here("apply", "spec.yaml", "--auto-approve").returncode == 0
    assert world.run_here("plan", "spec.yaml", "--detailed-exitcode").returncode == 0


def test_no_pod_matching_the_selector_is_an_error_naming_it(world):
    world.write_spec(small_spec(pods={"ready_timeout": 1, "selector": "app.kubernetes.io/name=nope"}))
    result = world.run_here("apply", "spec.yaml", "--auto-approve")
    assert_clean_failure(result)
    assert ("Error: cluster.node[0]: no pod vault-0 (label selector app.kubernetes.io/name=nope) appeared in "
            "namespace vault within 1 s; see kubectl -n vault get pods,statefulsets") in error_lines(result), result
    assert world.api.secret_data(NS, KEYS_SECRET) is None


def test_missing_helm_and_refused_credentials_are_one_line_errors(world, tmp_path):
    world.write_spec(small_spec())
    no_helm = {**world.env, "PATH": "/usr/bin:/bin"}
    result = world.run_here("plan", "spec.yaml", env=no_helm)
    assert_clean_failure(result)
    assert error_lines(result) == [
        "Error: helm_release.vault: the helm provider needs the helm binary (3 or 4), and there is no `helm` on "
        "PATH: install it, or set VAULTFORM_HELM to its path"], result
    named = world.run_here("plan", "spec.yaml", env={**no_helm, "VAULTFORM_HELM": str(tmp_path / "nothing")})
    assert_clean_failure(named)
    assert error_lines(named) == [f"Error: helm_release.vault: VAULTFORM_HELM={tmp_path / 'nothing'} is not an "
                                  "executable helm binary"], named

    stranger = world.api.write_kubeconfig(tmp_path / "stranger", token="not-the-token")
    refused = world.run_here("plan", "spec.yaml", env={**world.env, "KUBECONFIG": str(stranger)})
    assert_clean_failure(refused)
    assert error_lines(refused) == [
        f"Error: the Kubernetes API at {world.api.url} refused the credentials (401 Unauthorized) to list pods "
        "(app.kubernetes.io/name=vault,app.kubernetes.io/instance=vault) in namespace vault"], refused
    assert not world.api.releases


def test_destroy_needs_an_unsealed_pod_unless_it_only_uninstalls(world):
    world.write_spec(small_spec())
    result = world.run_here("destroy", "spec.yaml", "--auto-approve")
    assert_clean_failure(result)
    assert error_lines(result) == [
        "Error: no active Vault pod in namespace vault to delete the managed objects through: run `vaultform "
        "apply` to unseal it first (or pass --uninstall-releases to uninstall the releases)"], result
    nothing = world.run_here("destroy", "spec.yaml", "--auto-approve", "--uninstall-releases")
    assert nothing.returncode == 0, nothing
    assert "Warning: no unsealed Vault pod to delete the managed objects through" in nothing.stdout
    assert "No changes." in nothing.stdout and not world.helm_calls("uninstall")


def test_validate_checks_a_helm_spec_offline(world, run_cli):
    spec = small_spec()
    spec["cluster"]["releases"] = {"storage": {"chart": "consul", "values_files": ["missing.yaml"]}}
    spec["cluster"]["acess"] = "pod-ip"
    path = world.write_spec(spec)
    result = run_cli(["validate", str(path)], env={"KUBECONFIG": "/nonexistent"})
    assert result.exit_code == 1, result
    assert f"{path}:" in result.stderr and "cluster.acess: unknown field; did you mean 'access'?" in result.stderr
    del spec["cluster"]["acess"]
    world.write_spec(spec)
    result = run_cli(["validate", str(path)], env={"KUBECONFIG": "/nonexistent"})
    assert result.exit_code == 1, result
    assert "cluster.releases.storage.values_files[0]: values file" in result.stderr and "does not exist" in result.stderr
    assert "cluster.vault_release: no release named 'vault' under cluster.releases" in result.stderr
    assert world.api.requests == []  # nothing was asked of the cluster


def test_uninstall_releases_is_refused_for_a_local_cluster(tmp_path, run_cli):
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\ncluster: {provider: local, listen: '127.0.0.1:1', data_dir: data}\n")
    result = run_cli(["destroy", str(spec), "--auto-approve", "--uninstall-releases"], env={})
    assert result.exit_code == 1 and result.exception is None, result
    assert "--uninstall-releases is for a spec whose cluster.provider is helm" in result.stderr
    assert not (tmp_path / "data").exists()


# -- opt-in: a real cluster ------------------------------------------------------------

@pytest.mark.kubernetes
def test_real_cluster_end_to_end(tmp_path):
    """`pytest -m kubernetes` with KUBECONFIG pointing at a kind or minikube
    cluster, helm on PATH (or VAULTFORM_HELM) and access to the chart
    repository: the raft example in a fresh namespace, through port-forward,
    then destroy --uninstall-releases and the namespace is deleted."""
    if not os.environ.get("KUBECONFIG"):
        pytest.skip("KUBECONFIG does not point at a cluster")
    helm = os.environ.get("VAULTFORM_HELM") or shutil.which("helm")
    if not helm:
        pytest.skip("no helm on PATH (or VAULTFORM_HELM)")
    namespace = f"vaultform-test-{uuid.uuid4().hex[:6]}"
    work = tmp_path / "work"
    work.mkdir()
    for source in EXAMPLES.iterdir():
        shutil.copy(source, work / source.name)
    spec = yaml.safe_load((work / "vault-raft.yaml").read_text())
    spec["cluster"]["namespace"] = namespace
    spec["cluster"]["init"]["keys_file"] = "keys.json"
    (work / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    env = clean_env(tmp_path / "home", KUBECONFIG=os.environ["KUBECONFIG"])
    t = Transcript()
    try:
        applied = t.run("apply", "spec.yaml", "--auto-approve", env=env, cwd=work, timeout=900)
        assert applied.returncode == 0, applied

        def nodes() -> list:
            return json.loads(t.run("status", "spec.yaml", "--format", "json", env=env, cwd=work).stdout)["nodes"]

        wait_until(lambda: healthy(nodes()), timeout=120, interval=2, what="three unsealed pods")
        assert len(nodes()) == 3
        assert t.run("plan", "spec.yaml", "--detailed-exitcode", env=env, cwd=work).returncode == 0
        keys = json.loads((work / "keys.json").read_text())
        assert_no_secrets(t.text, [keys["root_token"], *keys["unseal_keys_b64"]], "command output")
        destroyed = t.run("destroy", "spec.yaml", "--auto-approve", "--uninstall-releases", env=env, cwd=work,
                          timeout=900)
        assert destroyed.returncode == 0, destroyed
    finally:
        from vaultform.cluster.kube_api import KubeAPI
        KubeAPI().request("DELETE", f"/api/v1/namespaces/{namespace}", f"delete namespace {namespace}",
                          missing_ok=True)
