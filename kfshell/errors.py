"""The errors kf shows to people, each with the exit status a script can trust.

Every failure a user can cause or meet becomes one `KfError`; `show` prints it as a single line
"kf: what failed: why (what to do)" and, only with -v, the traceback behind it.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from kfshell.env import Environment


class ExitStatus(enum.IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNREACHABLE = 3
    INTERRUPTED = 130


class KfError(Exception):
    """A failure explained for a person.

    message: why it failed ("namespace 'x' does not exist").
    hint:    what to do about it ("see `status list`"), optional.
    what:    what failed (usually the command line); the dispatcher fills it in when left empty.
    reason:  a machine-readable cause (Forbidden, NotFound, Invalid, Unhealthy, ...), optional.
    """

    exit_status: ClassVar[ExitStatus] = ExitStatus.FAILED

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        what: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.what = what
        self.reason = reason

    def one_line(self) -> str:
        parts = ["kf"]
        if self.what:
            parts.append(self.what)
        parts.append(self.message)
        line = ": ".join(parts)
        if self.hint:
            line += f" ({self.hint})"
        return line


class UsageError(KfError):
    """Unknown command, bad argument, bad input file: the user can fix the command line."""

    exit_status = ExitStatus.USAGE

    def __init__(
        self,
        message: str,
        *,
        usage: str | None = None,
        hint: str | None = None,
        what: str | None = None,
        reason: str | None = "Usage",
    ) -> None:
        super().__init__(message, hint=hint, what=what, reason=reason)
        self.usage = usage


class CommandFailed(KfError):
    """The command ran and failed: an API error, something unhealthy, a function that broke."""

    exit_status = ExitStatus.FAILED


class Unreachable(KfError):
    """The cluster could not be reached (connection refused, DNS, TLS, timeout)."""

    exit_status = ExitStatus.UNREACHABLE


class CredentialsRefused(KfError):
    """The cluster answered but refused who we are (401, expired or invalid credentials)."""

    exit_status = ExitStatus.UNREACHABLE


class Interrupted(KfError):
    """Ctrl-C, or SIGINT from a script's parent."""

    exit_status = ExitStatus.INTERRUPTED

    def __init__(self, message: str = "interrupted", **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)


def show(error: BaseException, env: Environment, verbose: bool = False) -> ExitStatus:
    """Print `error` on stderr the way kf shows failures; return the exit status it maps to.

    A `KfError` prints its one line (plus the usage line for usage errors). Anything else is a bug
    in kf or in a function, so it is named as such, still on one line; -v adds the traceback.
    """
    if verbose and error.__traceback__ is not None:
        import traceback  # only with -v: it costs ~7 ms to import

        env.stderr.write("".join(traceback.format_exception(error)))
    if isinstance(error, KfError):
        env.stderr.write(error.one_line() + "\n")
        if isinstance(error, UsageError) and error.usage:
            env.stderr.write(error.usage.rstrip("\n") + "\n")
        env.stderr.flush()
        return error.exit_status
    if isinstance(error, KeyboardInterrupt):
        env.stderr.write("kf: interrupted\n")
        env.stderr.flush()
        return ExitStatus.INTERRUPTED
    name = type(error).__name__
    hint = "" if verbose else " (run again with -v for the traceback)"
    env.stderr.write(f"kf: internal error: {name}: {error}{hint}\n")
    env.stderr.flush()
    return ExitStatus.FAILED


def exit_status_of(error: BaseException) -> ExitStatus:
    if isinstance(error, KfError):
        return error.exit_status
    if isinstance(error, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    return ExitStatus.FAILED
