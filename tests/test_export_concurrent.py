"""vaultform export reads concurrently (concurrency.adaptive_map) and writes
exactly what reading one object after another writes: the same spec bytes,
the same files of secret values, the same notes, the same error.

Each case exports one real Vault twice: once with export's adaptive_map
replaced by a plain sequential map (the reads in order, one at a time), once
with the real adaptive_map, each read held back a random moment so that
reads finish out of order."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import hvac
import pytest
import yaml

from tests.support.bao import BaoDevServer
from tests.test_export import build_namespaces, build_rich_vault
from vaultform import concurrency
from vaultform import export as exporting

# A token that may list and read everything but: some policies and roles
# (PermissionDenied notes), one auth mount's role listing (a listing note),
# and, inside namespace team-a, one secret's value (there: "not wholly
# exported", with what was read before it kept).
LIMITED_POLICY = """
path "*" { capabilities = ["read", "list"] }
path "sys/policies/acl/bulk-1*" { capabilities = ["deny"] }
path "auth/approle/role/bulk-2*" { capabilities = ["deny"] }
path "auth/k8s/role" { capabilities = ["deny"] }
path "auth/k8s/role/" { capabilities = ["deny"] }
path "team-a/kv/data/app/db" { capabilities = ["deny"] }
"""


def build_bulk(server) -> dict:
    """Enough objects of each kind that export has many reads in flight."""
    c = server.client()
    secrets = {}
    for i in range(40):
        c.sys.create_or_update_policy(f"bulk-{i}", f'path "bulk/{i}/*" {{ capabilities = ["read"] }}')
        value = f"bulk-value-{i}-{random.random()}"
        secrets[f"bulk-{i}"] = value
        c.secrets.kv.v2.create_or_update_secret(path=f"team{i % 4}/app{i}/config", mount_point="apps",
                                                secret={"password": value, "user": f"u{i}"})
        c.write(f"legacy/dir{i % 3}/key{i}", value=value, count=str(i))
    for i in range(30):
        c.write(f"auth/approle/role/bulk-{i}", token_policies=[f"bulk-{i}"], token_ttl=f"{i + 1}m")
        c.write(f"auth/k8s/role/r{i}", bound_service_account_names=[f"sa{i}"],
                bound_service_account_namespaces=["prod"], token_ttl=60 * (i + 1))
        c.write(f"auth/people/users/user{i}", password=f"pw-{i}-long-enough", token_policies=["reader"])
        c.write(f"identity/entity/name/person{i}", policies=["reader"], metadata={"n": str(i)})
        c.write(f"auth/token/roles/role{i}", allowed_policies=[f"bulk-{i}"], orphan=bool(i % 2))
    # A value that is not a string (a note under --secret-values-to), and a
    # secret whose latest version is deleted (left out).
    c.secrets.kv.v2.create_or_update_secret(path="numbers", mount_point="apps", secret={"n": 5, "s": "x"})
    c.secrets.kv.v2.create_or_update_secret(path="gone", mount_point="apps", secret={"k": "v"})
    c.secrets.kv.v2.delete_latest_version_of_secret(path="gone", mount_point="apps")
    ns = hvac.Client(url=server.address, token=server.root_token, namespace="team-a")
    for i in range(20):
        ns.sys.create_or_update_policy(f"ns-{i}", f'path "x/{i}" {{ capabilities = ["read"] }}')
        ns.secrets.kv.v2.create_or_update_secret(path=f"app/s{i:02d}", mount_point="kv", secret={"v": f"ns-{i}"})
    return secrets


@pytest.fixture(scope="module")
def rich():
    with BaoDevServer() as server:
        secrets = build_rich_vault(server.client())
        secrets.update(build_namespaces(server))
        secrets.update(build_bulk(server))
        c = server.client()
        c.sys.create_or_update_policy("limited", LIMITED_POLICY)
        limited = c.auth.token.create(policies=["limited"], no_default_policy=True)["auth"]["client_token"]
        yield server, secrets, limited


def _files(directory: Path) -> dict:
    return {str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None, p.stat().st_mode)
            for p in sorted(directory.rglob("*"))}


def _export(run_cli, monkeypatch, tmp_path: Path, name: str, env: dict, concurrent: bool, values: bool):
    calls = {"maps": 0, "threads": set()}
    real = concurrency.adaptive_map

    def sequential(fn, items, pushback, **_):
        calls["maps"] += 1
        return [fn(item) for item in items]

    def shuffled(fn, items, pushback, **kw):
        calls["maps"] += 1

        def late(item):
            calls["threads"].add(threading.current_thread().name)
            time.sleep(random.random() * 0.01)  # reads finish in any order
            return fn(item)
        return real(late, items, pushback, **kw)

    monkeypatch.setattr(exporting, "adaptive_map", shuffled if concurrent else sequential)
    # The same names in a directory of its own: the spec names the files of
    # values relative to itself.
    (tmp_path / name).mkdir()
    spec = tmp_path / name / "exported.yaml"
    args = ["export", "--output", str(spec)]
    if values:
        args += ["--secret-values-to", str(tmp_path / name / "values")]
    result = run_cli(args, env=env)
    monkeypatch.undo()
    result.stderr = result.stderr.replace(str(tmp_path / name), "DIR")
    return result, spec, calls


@pytest.mark.parametrize("who", ["root", "limited"])
def test_concurrent_export_writes_the_bytes_of_the_sequential_one(run_cli, monkeypatch, tmp_path, rich, who):
    server, secrets, limited = rich
    home = tmp_path / "home"
    home.mkdir()
    env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token if who == "root" else limited,
           "HOME": str(home), "VAULT_NAMESPACE": None, "BAO_TOKEN": None, "BAO_ADDR": None}
    one, one_spec, one_calls = _export(run_cli, monkeypatch, tmp_path, "sequential", env, False, who == "root")
    many, many_spec, many_calls = _export(run_cli, monkeypatch, tmp_path, "concurrent", env, True, who == "root")

    assert one.exit_code == 0 and one.exception is None, one
    assert (many.exit_code, many.stdout, many.stderr, many.exception) == (0, one.stdout, one.stderr, None)
    assert many_spec.read_bytes() == one_spec.read_bytes()
    text = one_spec.read_text()
    # Both paths did go through the map, the concurrent one on several threads.
    assert one_calls["maps"] == many_calls["maps"] > 10
    assert len(many_calls["threads"]) > 1 and one_calls["threads"] == set()
    assert "bulk-39" in text and "person29" in text and "ns-19" in text
    for secret in list(secrets.values()) + [server.root_token, limited, "pw-3-long-enough"]:
        assert secret not in text and secret not in one.output + many.output
    if who == "root":
        files = _files(tmp_path / "sequential" / "values")
        assert files == _files(tmp_path / "concurrent" / "values")
        assert files["apps/team1/app5/config/password"][0] == secrets["bulk-5"].encode()
        assert "secret.apps/numbers: n is not a string" in text
        assert "apps/gone" not in text
    else:
        # The notes the reads made, each once, in the sorted order of the header.
        notes = [line for line in text.splitlines() if line.startswith("# Note: ")]
        assert notes == sorted(set(notes))
        assert "# Note: policy.bulk-17: not exported, this token may not read it" in notes
        assert any(n.endswith("approle/bulk-23: not exported, this token may not read it") for n in notes), notes
        assert any(n.startswith("# Note: auth/k8s/role/: not listed") for n in notes), notes
        assert any(n.startswith("# Note: namespace.team-a: not wholly exported") for n in notes), notes
        doc = yaml.safe_load(text)
        assert "bulk-17" not in doc["policies"] and "bulk-9" in doc["policies"]
        assert "bulk-23" not in doc["auth"]["approle"]["roles"] and "ci" in doc["auth"]["approle"]["roles"]
        assert "roles" not in doc["auth"]["k8s"]
        # team-a as far as its secret value this token may not read: what came before it is kept.
        assert set(doc["namespaces"]["team-a"]) == {"custom_metadata", "secrets_engines", "auth", "policies"}
        assert len(doc["namespaces"]["team-a"]["policies"]) == 21


def test_an_error_stops_the_concurrent_export_where_the_sequential_one_stops(run_cli, monkeypatch, tmp_path, rich):
    """At the root, a secret this token may not read is an error (no note):
    the same one-line error both ways, no traceback, no spec written."""
    server, _, _ = rich
    c = server.client()
    c.sys.create_or_update_policy("no-secret", 'path "*" { capabilities = ["read", "list"] }\n'
                                               'path "apps/data/team2/app6/config" { capabilities = ["deny"] }\n')
    token = c.auth.token.create(policies=["no-secret"], no_default_policy=True)["auth"]["client_token"]
    home = tmp_path / "home"
    home.mkdir()
    env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": token, "HOME": str(home), "VAULT_NAMESPACE": None,
           "BAO_TOKEN": None, "BAO_ADDR": None}
    one, one_spec, _ = _export(run_cli, monkeypatch, tmp_path, "sequential", env, False, True)
    many, many_spec, _ = _export(run_cli, monkeypatch, tmp_path, "concurrent", env, True, True)
    assert one.exit_code == 1 and "apps/data/team2/app6/config" in one.stderr, one
    assert "Traceback" not in one.output and one.exception is None
    assert (many.exit_code, many.stdout, many.stderr, many.exception) == (1, one.stdout, one.stderr, None)
    assert not one_spec.exists() and not many_spec.exists()
    # The values written before the error are the same files.
    assert _files(tmp_path / "sequential" / "values") == _files(tmp_path / "concurrent" / "values")
