"""When another run held the apply lock between this run's plan and its
apply, the plan is made again under the lock from what that run left, and
that plan reads Vault anew: namespaces, mount tables and all.

Against the session's OpenBao dev server; the other run is a real
`vaultform apply` in its own process, on the same ownership record (so the
same lock), started between this run's first plan and its lock.
"""

from __future__ import annotations

import subprocess
import textwrap

import hvac

from tests.support.cli import VAULTFORM


def _spec(record: str, namespace: str, capability: str) -> str:
    return textwrap.dedent(f"""\
        version: 1
        vault:
          record: {{path: {record}}}
        namespaces:
          {namespace}:
            secrets_engines:
              kv: {{type: kv-v2}}
            policies:
              reader: |
                path "kv/data/*" {{
                  capabilities = ["{capability}"]
                }}
        """)


def test_the_plan_made_again_under_the_lock_sees_what_the_other_run_made(
        run_cli, vault_env, bao, tmp_path, unique, monkeypatch):
    from vaultform.commands import apply as apply_command

    record, namespace = unique("again-record"), unique("again-ns")
    ours, theirs = tmp_path / "ours.yaml", tmp_path / "theirs.yaml"
    ours.write_text(_spec(record, namespace, "read"))
    theirs.write_text(_spec(record, namespace, "list"))

    first_plan = apply_command.make_plan
    plans = []

    def plan_then_let_the_other_run_apply(ctx, options, *args, **kwargs):
        plan = first_plan(ctx, options, *args, **kwargs)
        plans.append([(c.action, c.address) for c in plan.changes])
        if len(plans) == 1:  # between our plan and our lock
            other = subprocess.run([*VAULTFORM, "apply", str(theirs), "--auto-approve"], env={
                **{k: v for k, v in vault_env.items() if v is not None}, "PATH": "/usr/bin:/bin"},
                capture_output=True, text=True, timeout=120)
            assert other.returncode == 0, other.stdout + other.stderr
        return plan

    monkeypatch.setattr(apply_command, "make_plan", plan_then_let_the_other_run_apply)
    result = run_cli(["apply", str(ours), "--auto-approve"], env=vault_env)
    assert result.exit_code == 0, str(result)

    policy = f"namespace.{namespace}:policy.reader"
    assert plans[0] == [("create", f"namespace.{namespace}"), ("create", f"namespace.{namespace}:secrets_engine.kv"),
                        ("create", policy)], plans
    # The other run made the namespace, its mount and a policy with other text:
    # the plan made again is one update of that policy, nothing created.
    assert plans[1] == [("update", policy)], plans
    assert "Another apply ran since this plan was made" in result.stdout, str(result)
    inside = hvac.Client(url=bao.address, token=bao.root_token, namespace=namespace)
    assert '"read"' in inside.sys.read_policy("reader")["data"]["rules"]
