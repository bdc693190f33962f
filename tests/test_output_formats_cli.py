"""`--format text|json|markdown` for plan and apply, from real plans against a real OpenBao.

tests/test_render_formats.py checks the renderers on hand-built plans; here
the plans come from the planner reading a real server, so the JSON is checked
against the published schema (schemas/plan-output.schema.json) with every
action a real spec produces, and stdout must hold the document alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import jsonschema
import pytest
import yaml

from tests.support.cli import assert_no_secrets

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "schemas" / "plan-output.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

SECRET_OLD = "fmt-OLD-4b7e1a9c3d-never-print"
SECRET_NEW = "fmt-NEW-9d3c7b1e5f-never-print"
POLICY_V1 = 'path "app/*" {\n  capabilities = ["read"]\n}\n'
POLICY_V2 = 'path "app/*" {\n  capabilities = ["read", "list"]\n}\n'


class Setup:
    """A spec with one of every action once `changed()` is planned over `base()`."""

    def __init__(self, run_cli, tmp_path: Path, env: dict, unique, root):
        self.run_cli, self.env, self.root = run_cli, env, root
        self.spec = tmp_path / "vault.yaml"
        self.record = unique("rec")
        self.kv, self.swap, self.new = unique("kv"), unique("swap"), unique("new")
        self.kept, self.gone = unique("pol"), unique("gone")
        self.outputs: List[str] = []

    def write(self, sections: dict) -> str:
        doc = {"version": 1, "vault": {"record": {"path": self.record}}, **sections}
        self.spec.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return str(self.spec)

    def base(self) -> dict:
        return {"secrets_engines": {self.kv: {"type": "kv-v2"}, self.swap: {"type": "kv-v2"}},
                "policies": {self.kept: POLICY_V1, self.gone: POLICY_V1},
                "secrets": {f"{self.kv}/app": {"password": {"env": "FMT_SECRET"}}}}

    def changed(self) -> dict:
        """create a mount, update a policy and a secret, delete a policy, replace a mount."""
        return {"secrets_engines": {self.kv: {"type": "kv-v2"}, self.swap: {"type": "transit"},
                                    self.new: {"type": "kv-v2", "description": "new | `store`"}},
                "policies": {self.kept: POLICY_V2},
                "secrets": {f"{self.kv}/app": {"password": {"env": "FMT_SECRET"}}}}

    def run(self, *args: str, secret: str = SECRET_OLD, stdin: Optional[str] = None):
        result = self.run_cli(list(args), env={**self.env, "FMT_SECRET": secret}, input=stdin)
        self.outputs.append(result.output)
        assert result.exception is None, f"main() let an exception escape: {result.exception!r}\n{result}"
        return result

    def applied_base(self) -> "Setup":
        result = self.run("apply", self.write(self.base()), "--auto-approve")
        assert result.exit_code == 0, str(result)
        self.write(self.changed())
        return self

    def expected_actions(self) -> dict:
        return {f"secrets_engine.{self.new}": "create", f"policy.{self.kept}": "update",
                f"secret.{self.kv}/app": "update", f"policy.{self.gone}": "delete",
                f"secrets_engine.{self.swap}": "replace"}

    def assert_no_secret_printed(self) -> None:
        for output in self.outputs:
            assert_no_secrets(output, [SECRET_OLD, SECRET_NEW], "CLI output")


@pytest.fixture
def setup(run_cli, tmp_path, vault_env, unique, root):
    return Setup(run_cli, tmp_path, vault_env, unique, root)


def parse_json_stdout(result) -> dict:
    """stdout must be exactly one JSON document (nothing before or after it)."""
    document = json.loads(result.stdout)
    VALIDATOR.validate(document)
    return document


# -- plan -------------------------------------------------------------------------------

def test_plan_json_from_a_real_plan_validates_and_masks(setup):
    setup.applied_base()
    result = setup.run("plan", str(setup.spec), "--format", "json", "--allow-destroy", "--detailed-exitcode",
                       secret=SECRET_NEW)
    assert result.exit_code == 2, str(result)
    document = parse_json_stdout(result)
    assert document["format_version"] == "1.4"
    assert document["options"] == {"targets": [], "allow_destroy": True, "force": False}
    changes = {c["address"]: c for c in document["changes"]}
    assert {a: c["action"] for a, c in changes.items()} == setup.expected_actions()
    assert document["summary"] == {"add": 2, "change": 2, "destroy": 2}
    assert document["vault_address"] == setup.env["VAULT_ADDR"]

    secret = changes[f"secret.{setup.kv}/app"]
    assert secret["before"] == {"password": "(sensitive)"} and secret["after"] == {"password": "(sensitive)"}
    policy = changes[f"policy.{setup.kept}"]
    assert policy["before"] == {"policy": POLICY_V1} and policy["after"] == {"policy": POLICY_V2}
    replace = changes[f"secrets_engine.{setup.swap}"]
    assert "type" in replace["forces_replacement"] and replace["after"]["type"] == "transit"
    assert changes[f"policy.{setup.gone}"]["after"] is None
    assert changes[f"secrets_engine.{setup.new}"]["before"] is None
    setup.assert_no_secret_printed()


def test_plan_json_keeps_stdout_for_the_document_and_warnings_on_stderr(setup, unique):
    sections = setup.base()
    mount = unique("approle")
    # A role naming a policy the spec does not define: a warning, not an error.
    sections["auth"] = {mount: {"type": "approle", "roles": {"ci": {"token_policies": ["not-in-this-spec"]}}}}
    result = setup.run("plan", setup.write(sections), "--format", "json")
    assert result.exit_code == 0, str(result)
    parse_json_stdout(result)
    assert "not-in-this-spec" in result.stderr and result.stderr.startswith("Warning: "), str(result)
    assert "Warning" not in result.stdout


def test_plan_markdown_from_a_real_plan(setup):
    setup.applied_base()
    result = setup.run("plan", str(setup.spec), "--format", "markdown", "--allow-destroy", secret=SECRET_NEW)
    assert result.exit_code == 0, str(result)
    md = result.stdout
    lines = md.splitlines()
    assert lines[0] == "**Plan:** 2 to add, 2 to change, 2 to destroy."
    assert "Planned with `--allow-destroy`." in lines
    caution, table = md.index("> [!CAUTION]"), md.index("| | Address | Action | Reason |")
    assert caution < table < md.index("<details>")
    for address, action in setup.expected_actions().items():
        symbol = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}[action]
        escaped = address.replace("_", "\\_")
        assert any(line.startswith(f"| {symbol} | {escaped} | {action} |") for line in lines), (address, md)
        assert f"<code>{address}</code> ({action})" in md
    assert "! password: (sensitive value changed)" in lines
    assert f"- **delete** policy.{setup.gone}: removed from the spec" in md.replace("\\", "")
    assert md.count("<details>") == md.count("</details>")
    setup.assert_no_secret_printed()


def test_text_is_the_default_format(setup):
    setup.write(setup.base())
    default = setup.run("plan", str(setup.spec))
    text = setup.run("plan", str(setup.spec), "--format", "text")
    assert default.exit_code == text.exit_code == 0
    assert default.stdout == text.stdout and default.stdout.startswith("vaultform will perform")
    bad = setup.run("plan", str(setup.spec), "--format", "yaml")
    assert bad.exit_code == 1 and "'yaml' is not one of 'text', 'json', 'markdown'" in bad.stderr, str(bad)


# -- apply --------------------------------------------------------------------------------

def test_apply_json_prints_the_applied_plan_and_its_result(setup):
    setup.applied_base()
    result = setup.run("apply", str(setup.spec), "--format", "json", "--auto-approve", "--allow-destroy",
                       secret=SECRET_NEW)
    assert result.exit_code == 0, str(result)
    document = parse_json_stdout(result)
    assert {c["address"]: c["action"] for c in document["changes"]} == setup.expected_actions()
    outcome = document["apply"]
    assert outcome["status"] == "complete" and outcome["failed"] is None and outcome["not_done"] == []
    assert outcome["done"] == [c["address"] for c in document["changes"]]
    assert outcome["summary"] == {"added": 2, "changed": 2, "destroyed": 2}
    assert document["options"] == {"targets": [], "allow_destroy": True, "force": False}
    assert result.stderr == ""

    after = parse_json_stdout(setup.run("plan", str(setup.spec), "--format", "json", secret=SECRET_NEW))
    assert after["changes"] == [] and after["summary"] == {"add": 0, "change": 0, "destroy": 0}
    setup.assert_no_secret_printed()


def test_apply_markdown_ends_with_the_result(setup):
    setup.write(setup.base())
    result = setup.run("apply", str(setup.spec), "--format", "markdown", "--auto-approve")
    assert result.exit_code == 0, str(result)
    assert result.stdout.startswith("**Plan:** 5 to add, 0 to change, 0 to destroy.")
    assert result.stdout.endswith("**Apply complete!** Resources: 5 added, 0 changed, 0 destroyed.\n")
    assert "[1/5]" not in result.output  # no progress lines inside a document


def test_a_failed_apply_still_prints_the_document(setup, unique):
    sections = setup.base()
    broken = unique("broken")
    sections["secrets_engines"][broken] = {"type": "no-such-plugin"}
    setup.write(sections)
    result = setup.run("apply", str(setup.spec), "--format", "json", "--auto-approve")
    assert result.exit_code == 1, str(result)
    document = parse_json_stdout(result)
    outcome = document["apply"]
    assert outcome["status"] == "failed" and outcome["failed"] == f"secrets_engine.{broken}"
    assert outcome["error"].startswith(f"secrets_engine.{broken}: ")
    assert f"secrets_engine.{broken}" not in outcome["done"]
    assert set(outcome["done"]) | {outcome["failed"]} | set(outcome["not_done"]) == {
        c["address"] for c in document["changes"]}
    assert [line for line in result.stderr.splitlines()] == [f"Error: {outcome['error']}"]

    md = setup.run("apply", str(setup.spec), "--format", "markdown", "--auto-approve")
    assert md.exit_code == 1, str(md)
    assert f"> **Apply failed** at `secrets_engine.{broken}`:" in md.stdout


def test_machine_formats_need_auto_approve_for_a_spec(setup, root):
    setup.write(setup.base())
    result = setup.run("apply", str(setup.spec), "--format", "json", stdin="yes\n")
    assert result.exit_code == 1, str(result)
    assert "pass --auto-approve, or apply a plan saved with" in result.stderr
    # stdout carries the refusal as a JSON object, never nothing
    refusal = json.loads(result.stdout)
    jsonschema.validate(refusal, SCHEMA)
    assert "pass --auto-approve" in refusal["error"]["message"]
    assert root.read(f"sys/policies/acl/{setup.kept}") is None


def test_apply_of_a_saved_plan_in_json(setup, tmp_path):
    setup.applied_base()
    plan_file = tmp_path / "plan.bin"
    saved = setup.run("plan", str(setup.spec), "--format", "markdown", "--allow-destroy", "--out", str(plan_file),
                      "--detailed-exitcode", secret=SECRET_NEW)
    assert saved.exit_code == 2, str(saved)
    assert saved.stdout.startswith("**Plan:**") and "Saved the plan" not in saved.stdout
    assert f"Saved the plan to {plan_file}" in saved.stderr
    result = setup.run("apply", str(plan_file), "--format", "json", secret=SECRET_NEW)
    assert result.exit_code == 0, str(result)
    document = parse_json_stdout(result)
    assert document["apply"]["status"] == "complete"
    assert {c["address"]: c["action"] for c in document["changes"]} == setup.expected_actions()
    # The plan inside the plan file is the same document plan --format json prints.
    VALIDATOR.validate(json.loads(plan_file.read_text(encoding="utf-8"))["plan"])
    setup.assert_no_secret_printed()
