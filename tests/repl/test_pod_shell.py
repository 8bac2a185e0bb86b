"""`kf shell` on a real terminal: from the kf> prompt and one-shot, against the dev cluster.

The remote shell is bash on this host (KWOK runs a pod's commands locally) on a pty of its own, which is
exactly what a container's shell looks like to kf: bytes, a size, and an exit status.
"""

from __future__ import annotations

import pytest

from tests.cluster.pod_helpers import make_pod, wait_ready
from tests.repl.shell_pty import Pty, shell_env

NOTEBOOK = "mnist-notebook"


@pytest.fixture
def notebook(admin, namespace):
    """The pod a Notebook's StatefulSet makes, labelled as the notebook controller labels it."""
    make_pod(admin, namespace, f"{NOTEBOOK}-0", labels={"notebook-name": NOTEBOOK, "statefulset": NOTEBOOK},
             containers=(NOTEBOOK,))
    wait_ready(admin, namespace, f"{NOTEBOOK}-0")
    return NOTEBOOK


@pytest.fixture
def start(kubeconfig, tmp_path):
    opened: list[Pty] = []

    def spawn(*args: str) -> Pty:
        env = dict(shell_env(kubeconfig, tmp_path), PS1="remote$ ", ENV="", BASH_ENV="")
        shell = Pty(list(args), env)
        opened.append(shell)
        return shell

    yield spawn
    for shell in opened:
        shell.close()


def _in_remote_shell(shell: Pty) -> None:
    # Wait for the remote prompt (bash's, in the pod's directory): keys typed before it may go to the
    # kf> prompt's type-ahead buffer rather than to the pod.
    shell.expect(r"mnist-notebook-0[#$] ", regex=True)
    shell.sendline("echo in-$((6*7))-pod")
    shell.expect("in-42-pod")


def test_shell_from_the_prompt(start, namespace, notebook):
    shell = start("--context", "kf-alice", "-n", namespace)
    prompt = f"kf kf-alice:{namespace}>"
    shell.expect(prompt)
    shell.sendline(f"shell {notebook}")
    _in_remote_shell(shell)
    shell.sendline("stty size")
    shell.expect("30 100")  # the pexpect window's size (Pty pins 30 rows, 100 columns)
    shell.child.setwinsize(40, 120)
    shell.sendline("stty size")
    shell.expect("40 120")
    shell.sendline("echo sleeping-$((2+2)); sleep 30; echo slept-$((1+1))-through")
    # Only once the line runs: a Ctrl-C that reaches bash while readline still reads the line throws the line
    # away half-typed (CI once saw that), which is not what this test is about.
    shell.expect("sleeping-4")
    shell.sendcontrol("c")  # reaches the remote sleep, not kf
    shell.sendline("echo still-here")
    shell.expect("still-here", timeout=15)
    assert "slept-2-through" not in shell.text
    shell.sendline("exit 3")
    shell.expect(prompt)  # back at kf>, and it works
    shell.sendline("use")
    shell.expect(namespace)
    shell.expect(prompt)
    shell.sendline("exit")
    assert shell.expect_exit() == 0


class LocalShell(Pty):
    """bash on the pexpect terminal, so a test can look at the terminal's settings around a kf run."""

    def __init__(self, env: dict[str, str]) -> None:
        import pexpect

        self.answer_cpr = False
        self.child = pexpect.spawn("bash", ["--norc", "--noprofile"], env=dict(env, PS1="local$ "),
                                   encoding="utf-8", dimensions=(30, 100))
        self.child.delaybeforesend = None
        self.raw = self.text = ""
        self.mark = 0


def test_shell_one_shot_exits_with_the_remote_status_and_restores_the_terminal(kubeconfig, tmp_path, namespace,
                                                                                 notebook):
    import shutil

    local = LocalShell(shell_env(kubeconfig, tmp_path))
    try:
        local.expect("local$ ")
        before, after = tmp_path / "before", tmp_path / "after"
        local.sendline(f"stty -a > {before}")
        local.expect("local$ ")
        local.sendline(f"PS1='remote$ ' {shutil.which('kf')} --context kf-alice -n {namespace} shell {notebook}"
                       "; echo kf-exited-$?")
        _in_remote_shell(local)
        local.sendline("exit 3")
        local.expect("kf-exited-3")
        local.expect("local$ ")
        local.sendline(f"stty -a > {after}")
        local.expect("local$ ")
        assert after.read_text() == before.read_text()
    finally:
        local.child.close(force=True)


def test_keys_typed_ahead_at_the_prompt_reach_the_remote_shell(start, namespace, notebook):
    shell = start("--context", "kf-alice", "-n", namespace)
    shell.expect(f"kf kf-alice:{namespace}>")
    shell.send(f"shell {notebook}\recho typed-$((40+2))-ahead\r")  # before the remote shell starts
    shell.expect("typed-42-ahead")
    # Only now: a shell that exits at once may lose its last output in the dev cluster (KWOK closes the
    # pty without draining it).
    shell.sendline("exit 0")
    shell.expect(f"kf kf-alice:{namespace}>")
