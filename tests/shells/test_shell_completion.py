"""The generated completion scripts in the real bash, zsh and fish: TAB completes a subcommand (from the
script itself) and a namespace (from `kf __complete`, listing the dev cluster), on a real terminal."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
COMPLETIONS = ROOT / "completions"
PROMPT = "READY> "


def shell_command(shell: str) -> tuple[str, list[str], str]:
    """The shell, its arguments for a clean interactive start, and the line that loads kf's script."""
    if shell == "bash":
        setup = f"PS1='{PROMPT}'; source {COMPLETIONS / 'kf.bash'}"
        bash_completion = Path("/usr/share/bash-completion/bash_completion")
        if bash_completion.exists():
            setup = f"source {bash_completion}; {setup}"
        return "bash", ["--norc", "--noprofile", "-i"], setup
    if shell == "zsh":
        return "zsh", ["-f", "-i"], f"PS1='{PROMPT}'; autoload -U compinit; compinit -u; source {COMPLETIONS / '_kf'}"
    setup = f"function fish_prompt; echo -n '{PROMPT}'; end; source {COMPLETIONS / 'kf.fish'}"
    return "fish", ["--no-config", "-i"], setup


@pytest.fixture
def shell_env(tmp_path):
    kf = shutil.which("kf")
    if kf is None:
        pytest.fail("kf is not on PATH (pip install -e .)", pytrace=False)
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": f"{Path(kf).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "TERM": "xterm",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "LANG": "C.UTF-8",
        "KF_AGENT": os.environ.get("KF_AGENT", "0"),  # in-process, as every test's kf (conftest.py)
        # The first TAB with no cache lists from the cluster; allow a loaded test machine more than 2 s.
        "KF_COMPLETE_TIMEOUT": "20",
    }


def start(shell: str, env: dict[str, str]) -> pexpect.spawn:
    program, args, setup = shell_command(shell)
    if shutil.which(program) is None:
        pytest.fail(f"{program} is not installed (make deps installs bash-completion, zsh and fish)", pytrace=False)
    child = pexpect.spawn(program, args, env=env, encoding="utf-8", dimensions=(24, 200), timeout=30)
    child.logfile_read = _Transcript()
    child.sendline(setup)
    child.expect_exact(PROMPT)
    child.expect_exact(PROMPT)
    return child


class _Transcript:
    """What the terminal showed, printed when a test fails (pytest shows captured stdout)."""

    def write(self, data: str) -> None:
        sys.stdout.write(data)

    def flush(self) -> None:
        sys.stdout.flush()


def stop(child: pexpect.spawn) -> None:
    child.sendcontrol("c")
    child.sendline("exit")
    child.close(force=True)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_tab_completes_a_subcommand(shell, shell_env):
    child = start(shell, shell_env)
    try:
        child.send("kf status hea\t")
        child.expect_exact("health")
    finally:
        stop(child)


@pytest.mark.cluster
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_tab_completes_a_namespace_from_the_cluster(shell, shell_env, kubeconfig, namespace):
    env = dict(shell_env, KUBECONFIG=kubeconfig)
    child = start(shell, env)
    try:
        typed = namespace[:-3]
        child.send(f"kf --context kf-admin delete {typed}\t")
        child.expect_exact(namespace)
    finally:
        stop(child)
    # Written when the listing finished: at once, or by a detached refresh when TAB's time ran out first.
    cache = Path(env["XDG_CACHE_HOME"], "kf", "completion", "kf-admin")
    wait_for(lambda: list(cache.glob("*.json")), timeout=30, what="the listing cached for the next TAB")
