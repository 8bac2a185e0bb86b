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
        {"name": "name", "required": True, "complete": "pod-targets",
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
    in_fd = env.stdin.fileno()
    code = podexec.run_tty(api, namespace, pod, container, podexec.LOGIN_SHELL, in_fd=in_fd,
                           out_fd=env.stdout.fileno(), typed=typed_ahead(session, in_fd))
    return Empty(exit_status=code)


def typed_ahead(session: Session, fd: int) -> bytes:
    """Keys typed after Enter at the kf> prompt, which prompt_toolkit read and keeps for its next prompt:
    they were meant for the remote shell."""
    if not session.at_prompt:
        return b""
    try:
        from prompt_toolkit.input.typeahead import get_typeahead
    except ImportError:
        return b""

    class _Terminal:  # what get_typeahead keys its buffer by (prompt_toolkit's Vt100Input on this fd)
        def typeahead_hash(self) -> str:
            return f"fd-{fd}"

    return "".join(key.data for key in get_typeahead(_Terminal())).encode()  # type: ignore[arg-type]
