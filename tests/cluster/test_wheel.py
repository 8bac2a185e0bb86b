"""The built-in functions ship inside the wheel: build it, install it (not editable) into a directory of its
own, and run `kf --version`, `help` and `status list` against the dev cluster from there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kfshell built as a wheel from a copy of the source tree and installed with `pip --target`."""
    work = tmp_path_factory.mktemp("wheel")
    tree = work / "src"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    for package in ("kfshell", "functions"):
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), "."],
                   cwd=tree, check=True, capture_output=True, timeout=300)
    wheels = list((work / "dist").glob("kfshell-*.whl"))
    assert len(wheels) == 1, wheels
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheels[0])],
                   check=True, capture_output=True, timeout=300)
    return site


def run_installed(site: Path, kubeconfig: str, home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site), KUBECONFIG=kubeconfig, HOME=str(home), NO_COLOR="1",
               XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"),
               XDG_CACHE_HOME=str(home / "cache"), PAGER="cat")
    return subprocess.run([str(site / "bin" / "kf"), *argv], env=env, cwd=home, capture_output=True, text=True,
                          timeout=120)


def test_the_installed_wheel_holds_and_runs_the_builtin_functions(installed: Path, kubeconfig: str,
                                                                    tmp_path: Path) -> None:
    assert {"status.py", "whoami.py"} <= {p.name for p in (installed / "functions").glob("*.py")}
    where = subprocess.run([sys.executable, "-c", "import kfshell, functions; print(kfshell.__file__); "
                            "print(functions.__file__)"], env=dict(os.environ, PYTHONPATH=str(installed)),
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    assert all(line.startswith(str(installed)) for line in where.stdout.splitlines()), where.stdout

    version = run_installed(installed, kubeconfig, tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("kf ")
    helped = run_installed(installed, kubeconfig, tmp_path, "--context", "kf-alice", "help")
    assert helped.returncode == 0, helped.stderr
    assert "  status " in helped.stdout and "  whoami " in helped.stdout
    listed = run_installed(installed, kubeconfig, tmp_path, "--context", "kf-alice", "-n", "alice",
                           "--dispatch", "local", "-o", "json", "status", "list")
    assert listed.returncode == 0, listed.stderr
    assert {"jupyter-web-app", "mnist-notebook"} <= {row["name"] for row in json.loads(listed.stdout)}
