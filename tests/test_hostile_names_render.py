"""Names made by hand in Vault are data, in every rendering of a plan.

Identity entities and groups are named in the request body, not the URL,
so OpenBao takes any text as a name (measured on 2.7.2: a newline, '|',
'#', backticks, U+2028), and the plan lists them as unmanaged, or prunes
them. Such a name must not forge a line of the text plan, break the
Markdown of a PR comment, or stop the plan."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.bao import BaoDevServer

FORGED = "evil\n+ policy.forged  (a line the plan never wrote)\n| x | y |"
HOSTILE = [FORGED, "pipe|name`<b>&", "uni\u2028line", "hash#name?x%y"]


@pytest.fixture
def hand_made(tmp_path):
    with BaoDevServer() as server:
        for what, name in [("entity", n) for n in HOSTILE] + [("group", FORGED)]:
            response = requests.post(f"{server.address}/v1/identity/{what}", json={"name": name},
                                     headers={"X-Vault-Token": server.root_token}, timeout=10)
            assert response.status_code in (200, 204), response.text
        env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(tmp_path),
               "VAULT_NAMESPACE": None, "BAO_TOKEN": None, "BAO_ADDR": None}
        yield tmp_path, env


def _spec(tmp_path, prune: bool):
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\n" + ("prune: {identity_entities: true, identity_groups: true}\n" if prune else ""))
    return str(spec)


def test_unmanaged_names_are_one_line_each_in_the_text_plan(run_cli, hand_made):
    tmp_path, env = hand_made
    result = run_cli(["plan", _spec(tmp_path, prune=False), "--show-unmanaged"], env=env)
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert not any("forged" in line and not line.startswith("    identity_") for line in lines), result.stdout
    listed = [line for line in lines if line.startswith("    identity_")]
    assert len(listed) == len(HOSTILE) + 1, result.stdout
    # The JSON plan holds the names exactly.
    document = json.loads(run_cli(["plan", _spec(tmp_path, prune=False), "--format", "json"], env=env).stdout)
    assert sorted(document["unmanaged"]["identity_entity"]["addresses"]) == sorted(
        f"identity_entity.{name}" for name in HOSTILE)


def test_prune_plans_every_hand_made_name_it_can_and_says_which_it_cannot(run_cli, hand_made):
    tmp_path, env = hand_made
    spec = _spec(tmp_path, prune=True)
    result = run_cli(["plan", spec], env=env)
    assert result.exit_code == 0 and "Traceback" not in result.output, result
    lines = result.stdout.splitlines()
    assert not any("forged" in line and not line.lstrip().startswith(("-", "Warning:")) for line in lines), \
        result.stdout
    document = json.loads(run_cli(["plan", spec, "--format", "json"], env=env).stdout)
    deleted = sorted(c["address"] for c in document["changes"] if c["action"] == "delete")
    # A name with a control character, URL syntax or a character that is not
    # printable (OpenBao answers 400 for U+2028 in a path) cannot be put in a
    # URL: left alone, with a warning naming it.
    assert deleted == ["identity_entity.pipe|name`<b>&"], document["changes"]
    left = [w for w in document["warnings"] if "not pruned" in w]
    assert len(left) == 4 and all("cannot" in w for w in left), document["warnings"]
    markdown = run_cli(["plan", spec, "--format", "markdown"], env=env)
    assert markdown.exit_code == 0, markdown
    table = [line for line in markdown.stdout.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(deleted), markdown.stdout


def test_access_tests_with_hostile_names_render_in_every_format(run_cli, tmp_path):
    """Test names, roles, entities and paths are the spec's text: a newline or
    '|' in a name stays inside its cell, and a name Vault cannot be asked
    about (U+2028: OpenBao answers 400 for it in a path) fails its own test,
    not the run."""
    import cmarkgfm
    import yaml
    from cmarkgfm.cmark import Options

    name = "pipe | name\nnew line\n\n| forged | row |\nFAIL x: injected"
    spec = tmp_path / "tests.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "policies": {"hostile-reader": 'path "secret/data/a|b" {\n'
                                                                          '  capabilities = ["read"]\n}\n'},
                                    "tests": [
        {"name": name, "as": {"policies": ["hostile-reader"]},
         "can": {"read": ["secret/data/a|b", "secret/data/x\\|y"]}, "cannot": {"update": ["secret/data/`t`<b>&${x}"]}},
        {"name": "unaskable", "as": {"entity": "e|\u2028x"}, "can": {"read": ["secret/data/\u00e9\u2028"]}},
        {"name": "odd path", "as": {"policies": ["default"]}, "cannot": {"read": ["secret/data/\u00e9\u2028z"]}},
    ]}, allow_unicode=True), encoding="utf-8")
    with BaoDevServer() as server:
        env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(tmp_path),
               "VAULT_NAMESPACE": None, "BAO_TOKEN": None, "BAO_ADDR": None}
        for command in (["test"], ["plan", "--test"]):
            outputs = {fmt: run_cli([*command, str(spec), "--format", fmt], env=env) for fmt in
                       ("text", "json", "markdown")}
            for fmt, result in outputs.items():
                assert result.exit_code == 1 and "Traceback" not in result.output, (command, fmt, result)
                assert not result.stderr.strip(), (command, fmt, result)  # the run went on: no error
            text = outputs["text"].stdout
            assert not any(line.startswith("FAIL x: injected") for line in text.splitlines()), text
            # The table's lines are whole: a U+2028 in a path does not cut one in two.
            table_lines = text[text.index("┏"):text.index("┘") + 1].split("\n")
            assert all(line[0] in "┏┃┡│└" and line[-1] in "┓┃┩│┘" for line in table_lines), text
            assert "unaskable: refusing the Vault path" in text and "not printable" in text, text
            document = json.loads(outputs["json"].stdout if command == ["test"] else
                                  outputs["json"].stdout[outputs["json"].stdout.index("{"):])
            tests = document["tests"] if "tests" in document else document["access_tests"]["tests"]
            assert [t["name"] for t in tests] == [name, "unaskable", "odd path"]
            html = cmarkgfm.github_flavored_markdown_to_html(outputs["markdown"].stdout,
                                                             options=Options.CMARK_OPT_UNSAFE)
            access = html[html.index("Access tests"):]
            table = access[access.index("<table>"):access.index("</table>")]
            assert table.count("<tr>") == 1 + 5, table  # the header and one row per check
            assert all(row.count("<td") == (6 if command != ["test"] else 5)
                       for row in table.split("<tr>")[2:]), table
            assert "<code>secret/data/a|b</code>" in table and "<code>secret/data/x\\|y</code>" in table, table
            if command != ["test"]:  # the plan grants it: listed as an access change, outside the table
                changes = access[:access.index("<table>")]
                assert "<code>secret/data/a|b</code>" in changes, changes
