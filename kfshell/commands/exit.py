"""`exit [status]`: leave the shell (or stop a script) with an exit status."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kfshell.registry import Invocation
    from kfshell.result import Result
    from kfshell.session import Session

KF_COMMAND = {
    "name": "exit",
    "help": "leave the shell (Ctrl-D does the same); in a script, stop it",
    "arguments": [{"name": "status", "type": "int", "help": "the exit status (default 0)"}],
}


class LeaveShell(Exception):  # noqa: N818 - a request to leave, not an error
    """Raised by `exit`; the REPL and the script runner stop and exit with `status`."""

    def __init__(self, status: int = 0) -> None:
        super().__init__(status)
        self.status = status


def run(invocation: Invocation, session: Session) -> Result:
    status = int(invocation.args.get("status", 0))
    if not 0 <= status <= 255:
        from kfshell.errors import UsageError

        raise UsageError(f"exit status {status} is out of range", hint="use 0 to 255")
    raise LeaveShell(status)
