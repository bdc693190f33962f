"""Side by side, in one run: configuring N policies and N kubernetes roles

  a) the manual way: one `bao policy write` / `bao write auth/.../role/...`
     process per object, as the tutorial's shell scripts do;
  b) `vaultform apply` of the same objects from one spec;
  c) `vaultform plan` afterwards (no changes: the read path only).

Each runs against its own fresh dev server, so neither warms the other.
Prints seconds, objects per second and the ratios. Not a test: figures vary
with the machine, the ratios are what to compare.

    python bench/apply_vs_cli.py [N]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.bao import BaoDevServer, bao_binary  # noqa: E402

POLICY = 'path "secret/data/app{i}/*" {{\n  capabilities = ["read", "list"]\n}}\n'


def spec_text(n: int) -> str:
    lines = ["version: 1", "auth:", "  kubernetes:", "    type: kubernetes", "    roles:"]
    for i in range(n):
        lines.append(f"      app{i}: {{bound_service_account_names: [app{i}], "
                     f"bound_service_account_namespaces: [default], policies: [app{i}], ttl: 1h}}")
    lines.append("policies:")
    for i in range(n):
        lines.append(f"  app{i}: |")
        lines.extend("    " + line for line in POLICY.format(i=i).splitlines())
    return "\n".join(lines) + "\n"


def run_manual(server: BaoDevServer, n: int, workdir: Path) -> float:
    env = {**os.environ, "BAO_ADDR": server.address, "BAO_TOKEN": server.root_token}
    bao = bao_binary()
    started = time.perf_counter()
    subprocess.run([bao, "auth", "enable", "kubernetes"], env=env, check=True, capture_output=True)
    for i in range(n):
        policy_file = workdir / f"app{i}.hcl"
        policy_file.write_text(POLICY.format(i=i))
        subprocess.run([bao, "policy", "write", f"app{i}", str(policy_file)], env=env, check=True, capture_output=True)
        subprocess.run([bao, "write", f"auth/kubernetes/role/app{i}", f"bound_service_account_names=app{i}",
                        "bound_service_account_namespaces=default", f"policies=app{i}", "ttl=1h"],
                       env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def run_vaultform(server: BaoDevServer, spec: Path, command: list) -> float:
    env = {**os.environ, "VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "vaultform", *command, str(spec)], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 2):
        raise SystemExit(f"vaultform {command} failed: {result.stderr}")
    return elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    objects = 2 * n + 1
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        spec = workdir / "bench.yaml"
        spec.write_text(spec_text(n))
        with BaoDevServer() as manual_server:
            manual = run_manual(manual_server, n, workdir)
        with BaoDevServer() as vf_server:
            applied = run_vaultform(vf_server, spec, ["apply", "--auto-approve"])
            planned = run_vaultform(vf_server, spec, ["plan", "--detailed-exitcode"])
    print(f"objects: {objects} ({n} policies, {n} kubernetes roles, 1 auth method)")
    print(f"manual bao CLI, one process per object : {manual:7.2f} s  {objects / manual:8.1f} objects/s")
    print(f"vaultform apply (includes its plan)    : {applied:7.2f} s  {objects / applied:8.1f} objects/s")
    print(f"vaultform plan, no changes             : {planned:7.2f} s  {objects / planned:8.1f} objects/s")
    print(f"ratio manual / vaultform apply         : {manual / applied:7.2f}x")


if __name__ == "__main__":
    main()
