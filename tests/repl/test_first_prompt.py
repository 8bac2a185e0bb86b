"""The kf> prompt drawn before prompt_toolkit loads (kfshell/first_prompt.py): what a person types at it at
once, Ctrl-C included, is neither lost nor acted on by the terminal, and the terminal is left as it was."""

from __future__ import annotations

import pytest

from tests.repl.shell_pty import Pty, shell_env

pytestmark = pytest.mark.cluster

LIVE = "\x1b[?2004h"  # prompt_toolkit has the terminal (bracketed paste on)


@pytest.fixture
def open_kf(kubeconfig, tmp_path):
    shells: list[Pty] = []

    def start(*args: str) -> Pty:
        shell = Pty(list(args), shell_env(kubeconfig, tmp_path))
        shells.append(shell)
        return shell

    yield start
    for shell in shells:
        shell.close()


def first_prompt_then(kf: Pty, keys: str) -> None:
    """Type `keys` as soon as the prompt shows, before prompt_toolkit has taken the terminal."""
    kf.expect("kf kf-alice:alice>")
    assert LIVE not in kf.raw, "prompt_toolkit was already up: nothing here tests the early prompt"
    kf.send(keys)


def test_a_line_typed_at_the_first_prompt_runs_once_prompt_toolkit_is_up(open_kf):
    kf = open_kf("--context", "kf-alice")
    first_prompt_then(kf, "status list -o name\r")
    kf.expect("mnist-notebook")
    kf.expect("kf kf-alice:alice>")
    before_prompt_toolkit = kf.raw[:kf.raw.index(LIVE)]
    assert "status" not in before_prompt_toolkit  # the terminal did not echo it over the early prompt
    kf.sendline("exit 4")
    assert kf.expect_exit() == 4


def test_ctrl_c_at_the_first_prompt_abandons_the_line_and_ctrl_d_leaves(open_kf):
    kf = open_kf("--context", "kf-alice")
    first_prompt_then(kf, "stat\x03")
    kf.expect("kf kf-alice:alice>")  # Ctrl-C abandoned the line; kf did not die of SIGINT
    kf.sendline("whoami")
    kf.expect("user: alice")
    kf.expect("kf kf-alice:alice>")
    kf.sendline("run-nothing-here")
    kf.expect("unknown command")
    kf.expect("kf kf-alice:alice>")
    kf.sendcontrol("d")
    assert kf.expect_exit() == 0


TTYFLAGS = """
import os, termios
KF_COMMAND = {"name": "ttyflags", "help": "the terminal's echo and signal flags"}

def handler(event, context):
    lflag = termios.tcgetattr(os.open("/dev/tty", os.O_RDONLY))[3]
    return {"kind": "message", "text": f"echo={bool(lflag & termios.ECHO)} isig={bool(lflag & termios.ISIG)}"}
"""


def test_commands_run_with_the_terminals_own_settings_after_an_early_prompt(open_kf, tmp_path):
    commands = tmp_path / "config" / "kf" / "commands"
    commands.mkdir(parents=True)
    (commands / "ttyflags.py").write_text(TTYFLAGS)
    kf = open_kf("--context", "kf-alice")
    first_prompt_then(kf, "ttyflags\r")
    kf.expect("echo=True isig=True")  # not the held-back settings of the early prompt
    kf.expect("kf kf-alice:alice>")
    kf.sendcontrol("d")
    assert kf.expect_exit() == 0
