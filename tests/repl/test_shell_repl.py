"""The kf> prompt on a real pseudo-terminal against the dev cluster: prompt, `use`, commands, history,
Ctrl-C and Ctrl-D, and the toolbar."""

from __future__ import annotations

import textwrap

import pytest

from tests.repl.shell_pty import Pty, shell_env

pytestmark = pytest.mark.cluster

UP = "\x1b[A"
ROW = r"jupyter-web-app +component +kubeflow +1/1"  # the output row, not the echoed command line

HANG = """
import time
KF_COMMAND = {"name": "hang", "help": "never answers", "timeout": 120}

def handler(event, context):
    print("hanging now", flush=True)
    while True:
        time.sleep(0.05)
"""


@pytest.fixture
def home(tmp_path):
    commands = tmp_path / "config" / "kf" / "commands"
    commands.mkdir(parents=True)
    (commands / "hang.py").write_text(textwrap.dedent(HANG))
    return tmp_path


@pytest.fixture
def open_kf(kubeconfig, home):
    shells: list[Pty] = []

    def start(*args: str, answer_cpr: bool = False) -> Pty:
        shell = Pty(list(args), shell_env(kubeconfig, home), answer_cpr=answer_cpr)
        shells.append(shell)
        return shell

    yield start
    for shell in shells:
        shell.close()


def test_prompt_shows_context_and_namespace_and_use_switches(open_kf, namespace):
    kf = open_kf("--context", "kf-alice")
    kf.expect("kf kf-alice:alice>")
    kf.sendline(f"use {namespace}")
    kf.expect(f"kf kf-alice:{namespace}>")
    kf.sendline("use alice")
    kf.expect("kf kf-alice:alice>")


def test_use_refuses_a_missing_namespace_and_one_bob_cannot_use(open_kf):
    kf = open_kf("--context", "kf-admin")
    kf.expect("kf kf-admin:default>")
    kf.sendline("use no-such-project")
    kf.expect("kf: use: namespace no-such-project does not exist")
    kf.expect("kf kf-admin:default>")
    bob = open_kf("--context", "kf-bob")
    bob.expect("kf kf-bob:")
    bob.sendline("use kube-system")
    bob.expect("kf: use: bob may not use namespace kube-system")
    bob.sendline("use alice")
    bob.expect("kf kf-bob:alice>")


def test_status_list_and_whoami(open_kf):
    kf = open_kf("--context", "kf-alice")
    kf.expect("kf kf-alice:alice>")
    kf.sendline("status list")
    kf.expect("NAME")
    kf.expect("jupyter-web-app")
    kf.expect("mnist-notebook")
    kf.expect("kf kf-alice:alice>")
    kf.sendline("whoami")
    kf.expect("user: alice")
    kf.expect("kf kf-alice:alice>")


def test_up_arrow_recalls_history_within_and_across_sessions(open_kf):
    kf = open_kf("--context", "kf-alice")
    kf.expect("kf kf-alice:alice>")
    kf.sendline("status list jupyter-web-app")
    kf.expect(ROW, regex=True)
    kf.expect("kf kf-alice:alice>")
    kf.send(UP)
    kf.expect("status list jupyter-web-app")
    kf.send("\r")
    kf.expect(ROW, regex=True)
    kf.expect("kf kf-alice:alice>")
    kf.sendcontrol("d")
    assert kf.expect_exit() == 0

    again = open_kf("--context", "kf-alice")
    again.expect("kf kf-alice:alice>")
    again.send(UP)
    again.expect("status list jupyter-web-app")
    again.send("\r")
    again.expect(ROW, regex=True)


def test_ctrl_c_abandons_the_line_or_interrupts_a_command_and_the_shell_stays(open_kf):
    kf = open_kf("--context", "kf-alice")
    kf.expect("kf kf-alice:alice>")
    kf.send("status li")
    kf.sendcontrol("c")
    kf.expect("kf kf-alice:alice>")
    kf.sendline("hang")
    kf.expect("hanging now")
    kf.sendcontrol("c")
    kf.expect("kf: hang: interrupted")
    kf.expect("kf kf-alice:alice>")
    kf.sendline("whoami")
    kf.expect("user: alice")


def test_ctrl_d_and_exit_leave_with_their_status(open_kf):
    kf = open_kf("--context", "kf-bob")
    kf.expect("kf kf-bob:")
    kf.sendcontrol("d")
    assert kf.expect_exit() == 0
    other = open_kf("--context", "kf-bob")
    other.expect("kf kf-bob:")
    other.sendline("exit 3")
    assert other.expect_exit() == 3


def test_errors_are_one_line_and_the_shell_keeps_running(open_kf):
    kf = open_kf("--context", "kf-alice")
    kf.expect("kf kf-alice:alice>")
    kf.sendline("stauts")
    kf.expect("kf: unknown command 'stauts' (did you mean status?)")
    kf.sendline("status info")
    kf.expect("kf: status info: missing <component>")
    kf.expect("usage: status info <component>")
    kf.sendline("help status")
    kf.expect("usage: status {list|health|info} ...")
    kf.expect("kf kf-alice:alice>")
    assert "Traceback" not in kf.text


def test_toolbar_shows_user_cluster_namespace_and_that_the_cluster_answers(open_kf):
    # The toolbar needs the cursor position, so this shell's requests for it are answered.
    kf = open_kf("--context", "kf-alice", answer_cpr=True)
    kf.expect("kf kf-alice:alice>")
    kf.expect(r"alice @ kf-dev\s+namespace alice\s+● cluster answers", regex=True)
