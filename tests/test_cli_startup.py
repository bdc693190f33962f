"""`vaultform --help` starts fast: no HTTP, schema or Kubernetes library is
imported until a command needs it (bench/scale.py times the start-up)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("hvac", "requests", "jsonschema", "kubernetes", "hcl2", "rich", "yaml")


def test_help_imports_no_heavy_module():
    code = ("import sys\nfrom vaultform.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Commands:" in result.stdout and "planner-policy" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


def test_each_command_still_loads_and_runs_its_help(run_cli):
    for name in ("apply", "destroy", "plan", "planner-policy", "show", "status", "unlock", "unseal", "validate"):
        result = run_cli([name, "--help"])
        assert result.exit_code == 0 and f"Usage: vaultform {name}" in result.stdout, (name, str(result))
