"""vaultform export with hostile names: secrets, keys and namespaces whose
names differ only in characters a placeholder variable or a value file's
name cannot hold, and keys YAML would read as something else.

Each must come back as its own placeholder or file (never one for two
values, which an apply would write to both), and the exported spec must
validate and plan empty with exactly those values given."""

from __future__ import annotations

import os
import secrets as random_secrets
from pathlib import Path
from typing import Dict, Tuple
from urllib.parse import quote

import pytest
import requests
import yaml

from tests.support.bao import BaoDevServer

# path -> keys; every key's value is random (see build).
ROOT_SECRETS = {
    "a-b": ["x"], "a_b": ["x"], "a:b": ["x"], "A-B": ["x"],          # one variable name, one file name
    "c": ["pass-word", "pass_word", "Pass_Word", "pass word"],        # the same, inside one secret
    "d": ["e"], "d/e": ["f"],                                         # kv/d/e: a file and a directory
    "long/" + "s" * 300: ["k" * 300],                                 # over NAME_MAX (255)
    "hostile:path-ü/...": ["key: colon", "# hash", "new\nline", "*star", "&amp", "!bang", "ünï 日本",
                            "${x}", "'q\"", "yes", "010", "0x10", "1e3", "on", "~", "null", " lead", "tab\tkey",
                            "-dash", "? q", "[a]", "{b}", "a|b", "trail ", "x_2a6b0f3c", ".", "..", "_.", ""],
}
# Made by hand, and no spec can name them: each is left out with a note.
# (OpenBao refuses a path holding a newline, U+0085 or U+2028, measured:
# no name from Vault can break a note's comment line; render() holds anyway.)
UNNAMABLE = {"sp ace/x": ["k"], "f#older/x": ["k"], "q?uery": ["k"]}
NAMESPACES = ("team-a", "team_a")
NAMESPACE_SECRETS = {"s": ["k"]}


def _write(server, path: str, data: dict, namespace: str = "") -> None:
    headers = {"X-Vault-Token": server.root_token}
    if namespace:
        headers["X-Vault-Namespace"] = namespace
    response = requests.post(f"{server.address}/v1/{quote(path)}", json=data, headers=headers, timeout=10)
    assert response.status_code in (200, 204), (path, response.text)


def build(server) -> Dict[Tuple[str, str, str], str]:
    """(namespace, mount/path, key) -> value, all distinct."""
    values: Dict[Tuple[str, str, str], str] = {}

    def kv(namespace: str, secrets: Dict[str, list]) -> None:
        _write(server, "sys/mounts/kv", {"type": "kv", "options": {"version": "2"}}, namespace)
        for path, keys in secrets.items():
            data = {key: "v-" + random_secrets.token_hex(8) for key in keys}
            _write(server, f"kv/data/{path}", {"data": data}, namespace)
            values.update({(namespace, f"kv/{path}", key): value for key, value in data.items()})

    kv("", ROOT_SECRETS)
    for path, keys in UNNAMABLE.items():
        _write(server, f"kv/data/{path}", {"data": {key: "unnamable-" + random_secrets.token_hex(8) for key in keys}})
    for name in NAMESPACES:
        _write(server, f"sys/namespaces/{name}", {})
        kv(name, NAMESPACE_SECRETS)
    return values


def _sources(doc: dict, namespace: str = "") -> Dict[Tuple[str, str, str], dict]:
    out = {(namespace, path, key): source for path, body in (doc.get("secrets") or {}).items()
           for key, source in body.items()}
    for name, inner in (doc.get("namespaces") or {}).items():
        out.update(_sources(inner, f"{namespace}/{name}".strip("/")))
    return out


@pytest.fixture
def hostile(tmp_path):
    with BaoDevServer() as server:
        home = tmp_path / "home"
        home.mkdir()
        env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(home),
               "VAULT_NAMESPACE": None, "BAO_TOKEN": None, "BAO_ADDR": None}
        yield server, env, build(server)


def _round_trip(run_cli, spec: Path, env: dict) -> None:
    validated = run_cli(["validate", str(spec)], env=env)
    assert validated.exit_code == 0, validated
    planned = run_cli(["plan", str(spec), "--detailed-exitcode"], env=env)
    assert planned.exit_code == 0 and "No changes" in planned.stdout, planned


def test_placeholder_variables_are_one_per_value(run_cli, tmp_path, hostile):
    server, env, values = hostile
    spec = tmp_path / "exported.yaml"
    result = run_cli(["export", "--include", "secrets", "--include", "namespaces", "--output", str(spec)], env=env)
    assert result.exit_code == 0, result
    text = spec.read_text(encoding="utf-8")
    for value in values.values():
        assert value not in text and value not in result.output
    doc = yaml.safe_load(text)
    sources = _sources(doc)
    assert set(sources) == set(values), set(values) ^ set(sources)
    assert "unnamable-" not in text
    notes = [line for line in text.splitlines() if line.startswith("# Note: secret.kv/")]
    assert len(notes) == 3 and all("not exported" in note for note in notes), notes
    assert notes[0].startswith("# Note: secret.kv/f#older/: not exported, nor anything under it: its path contains "
                               "'#'"), notes
    variables = {key: sources[key]["env"] for key in values}
    assert len(set(variables.values())) == len(variables), "two values share a placeholder variable"
    for name in variables.values():
        assert name.isidentifier() and name.upper() == name, name
    # Exactly these values, each from its own variable: the plan is empty.
    _round_trip(run_cli, spec, {**env, **{variables[key]: value for key, value in values.items()}})
    # Deterministic: the same Vault exports the same bytes.
    again = tmp_path / "again.yaml"
    assert run_cli(["export", "--include", "secrets", "--include", "namespaces", "--output", str(again)],
                   env=env).exit_code == 0
    assert again.read_text(encoding="utf-8") == text


def test_value_files_are_one_per_value(run_cli, tmp_path, hostile):
    server, env, values = hostile
    spec, directory = tmp_path / "exported.yaml", tmp_path / "values"
    result = run_cli(["export", "--include", "secrets", "--include", "namespaces", "--output", str(spec),
                      "--secret-values-to", str(directory)], env=env)
    assert result.exit_code == 0 and "Traceback" not in result.output, result
    sources = _sources(yaml.safe_load(spec.read_text(encoding="utf-8")))
    files = {key: (spec.parent / sources[key]["file"]).resolve() for key in values}
    assert len(set(files.values())) == len(files), "two values share a file"
    for key, path in files.items():
        assert path.read_text(encoding="utf-8") == values[key], key
        assert directory.resolve() in path.parents
        assert all(len(part.encode()) <= 255 for part in path.parts)
    _round_trip(run_cli, spec, env)


def test_a_note_is_one_comment_line_whatever_it_names():
    from vaultform.export import Exported, render

    out = Exported(notes=["a\nb: injected\u2028c\x85d\re"])
    text = render(out, "http://127.0.0.1:1")
    assert yaml.safe_load(text) == {"version": 1}
    (note,) = [line for line in text.splitlines() if "injected" in line]
    assert note.startswith("# Note: a\\u000ab: injected\\u2028c"), note
