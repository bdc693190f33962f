"""The package as it would be published: `python -m build` makes a wheel and an
sdist, each installs into a fresh virtual environment (dependencies from the
package index, as a user's pip gets them) and runs; `pipx install .` works.

Slow (two installs with their dependencies from the index: minutes on a slow mirror).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vaultform import __version__

# Builds and installs from the index: minutes. In the slow tier (`pytest -m slow`), which CI runs too.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
VERSION_LINE = f"vaultform, version {__version__}"


def run(*args, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "PYTHON", "PIP_REQUIRE"))}
    env.update(kw.pop("env", {}))
    kw.setdefault("cwd", "/")  # not the source tree: `python -c` would import vaultform from there
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=900, **kw)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The wheel and the sdist `python -m build` makes from a clean copy of the tree."""
    pytest.importorskip("build", reason="pip install build (in the test extra)")
    work = tmp_path_factory.mktemp("build")
    source = work / "src"
    # What git would check out: no venv, caches, egg-info or build output of this working tree.
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", "venv", ".git", "*.egg-info", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis",
        ".vaultform"))
    out = work / "dist"
    result = run(sys.executable, "-m", "build", "--outdir", out, source)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert [w.name for w in wheels] == [f"vaultform-{__version__}-py3-none-any.whl"], wheels
    assert [s.name for s in sdists] == [f"vaultform-{__version__}.tar.gz"], sdists
    return wheels[0], sdists[0]


def fresh_venv(path: Path) -> Path:
    result = run(sys.executable, "-m", "venv", path)
    assert result.returncode == 0, result.stderr
    return path / "bin"


def assert_runs(bin_dir: Path) -> None:
    version = run(bin_dir / "vaultform", "--version")
    assert version.returncode == 0 and version.stdout.strip() == VERSION_LINE, version.stdout + version.stderr
    # The schemas travel inside the package: an installed vaultform validates a spec offline.
    validate = run(bin_dir / "vaultform", "validate", ROOT / "examples" / "vault.yaml")
    assert validate.returncode == 0 and "is valid" in validate.stdout, validate.stdout + validate.stderr


@pytest.fixture(scope="module")
def wheel_venv(dist, tmp_path_factory):
    """A fresh venv with the wheel installed, its dependencies from the package index."""
    bin_dir = fresh_venv(tmp_path_factory.mktemp("wheel") / "venv")
    result = run(bin_dir / "python", "-m", "pip", "install", "--quiet", dist[0])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return bin_dir


def test_the_wheel_installs_into_a_fresh_venv_and_runs(wheel_venv):
    assert_runs(wheel_venv)


def test_the_sdist_builds_installs_into_a_fresh_venv_and_runs(dist, wheel_venv, tmp_path):
    bin_dir = fresh_venv(tmp_path / "venv")
    # The dependencies are the wheel venv's (already fetched from the index for the wheel);
    # vaultform itself is built from the sdist and installed here, ahead of them on sys.path.
    site = run(bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    deps = run(wheel_venv / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    Path(site, "wheel-venv-dependencies.pth").write_text(deps + "\n")
    result = run(bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-deps", dist[1])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    where = run(bin_dir / "python", "-c", "import vaultform; print(vaultform.__file__)").stdout
    assert where.startswith(site), where  # the sdist's build, not the wheel venv's copy
    assert_runs(bin_dir)


def test_the_sdist_holds_what_a_build_and_a_reader_need(dist):
    import tarfile

    with tarfile.open(dist[1]) as sdist:
        names = {re.sub(r"^vaultform-[^/]+/", "", n) for n in sdist.getnames()}
    assert {"pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "schemas/vaultform.schema.json",
            "vaultform/cli.py"} <= names, sorted(names)


def test_pipx_install_from_the_source_tree(tmp_path):
    pipx = shutil.which("pipx") or str(Path(sys.executable).parent / "pipx")
    if not Path(pipx).exists():
        pytest.skip("no pipx: pip install pipx (in the test extra)")
    env = {"PIPX_HOME": str(tmp_path / "pipx-home"), "PIPX_BIN_DIR": str(tmp_path / "bin"),
           "PIPX_MAN_DIR": str(tmp_path / "man"), "PIPX_DEFAULT_PYTHON": sys.executable}
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", "venv", ".git", "*.egg-info", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis",
        ".vaultform"))
    result = run(pipx, "install", ".", cwd=source, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_runs(tmp_path / "bin")
