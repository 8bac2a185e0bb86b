"""Running a parsed command where it runs: in the shell, in the embedded runtime, or as a Kubeless Function.

`run(invocation, session)` is the one entry point. It asks for consent before destructive commands, builds
the request every function receives (docs/architecture.md, "Requests and results") and turns what comes back
into a typed `Result`, or the `KfError` it stands for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kfshell.errors import CommandFailed, Interrupted, UsageError
from kfshell.result import Result, from_dict

if TYPE_CHECKING:
    from kfshell.registry import Invocation
    from kfshell.session import Session


def run(invocation: Invocation, session: Session) -> Result:
    spec = invocation.spec
    if spec.runs == "client":
        module = importlib.import_module(spec.origin)
        return module.run(invocation, session)
    question = invocation.command.confirm_for(spec)
    if question:
        _consent(question, invocation, session)
    data = request_data(invocation, session)
    if spec.runs == "kubeless":
        from kfshell.dispatch import kubeless

        raw = kubeless.call(spec, data, session)
    else:
        from kfshell.dispatch import local

        raw = local.call(spec, data, session)
    return from_dict(raw, function=f"function {spec.name}")


def request_data(invocation: Invocation, session: Session) -> dict[str, Any]:
    """`event["data"]`: the command words, parsed arguments, and where and how to answer."""
    return {
        "command": list(invocation.words),
        "args": dict(invocation.args),
        "namespace": invocation.namespace or session.namespace,
        "context": invocation.context or session.context,
        "output": invocation.output or session.output,
    }


def _consent(question: str, invocation: Invocation, session: Session) -> None:
    """Ask before a destructive command; --yes (global or the command's own) answers for scripts."""
    if invocation.args.get("yes") or session.assume_yes:
        return
    try:
        text = question.format_map(_Placeholders(invocation.args))
    except (ValueError, IndexError):
        text = question
    env = session.env
    if not env.interactive:
        raise UsageError(f"{text}? needs confirmation", hint="pass --yes to confirm without a terminal",
                         reason="Usage")
    env.stderr.write(f"{text}? [y/N] ")
    env.stderr.flush()
    try:
        answer = env.stdin.readline()
    except KeyboardInterrupt:
        env.stderr.write("\n")
        raise Interrupted("not confirmed: nothing was changed") from None
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandFailed("not confirmed: nothing was changed", reason="Cancelled")


class _Placeholders(dict):
    """Fills `{argument}` in a confirm question; an absent argument reads as its own placeholder."""

    def __init__(self, args: Any) -> None:
        super().__init__({k: v for k, v in args.items()})

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
