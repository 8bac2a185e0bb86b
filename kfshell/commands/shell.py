"""`shell NAME [container]`: an interactive shell in a pod, with a real terminal (see kfshell/podexec.py).

From the kf> prompt the prompt is not running while a line executes, so the shell has the terminal to
itself and the prompt comes back as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kfshell.errors import UsageError
from kfshell.result import Empty

if TYPE_CHECKING:
    from kfshell.registry import Invocation
    from kfshell.result import Result
    from kfshell.session import Session

KF_COMMAND = {
    "name": "shell",
    "help": "open a shell (bash, else sh) in a notebook's, job's or component's pod",
    "arguments": [
        {"name": "name", "required": True, "complete": "workloads",
         "help": "a notebook, job, inference service, tensorboard, component or pod"},
        {"name": "container", "complete": "containers", "help": "the container (default: the pod's default one)"},
    ],
}


def run(invocation: Invocation, session: Session) -> Result:
    from kfshell import podexec
    from kfshell.commands.run import target_container

    env = session.env
    if not (env.stdin_isatty and env.stdout_isatty):
        raise UsageError("shell needs a terminal", hint="use `kf run NAME -- COMMAND` in scripts")
    api, namespace, pod, container = target_container(invocation, session, interactive=True)
    code = podexec.run_tty(api, namespace, pod, container, podexec.LOGIN_SHELL,
                           in_fd=env.stdin.fileno(), out_fd=env.stdout.fileno())
    return Empty(exit_status=code)
