"""Running a parsed command where it runs: in the shell, in the embedded runtime, or as a Kubeless Function.

`run(invocation, session)` is the one entry point. It asks for consent before destructive commands, builds
the request every function receives (docs/architecture.md, "Requests and results") and turns what comes back
into a typed `Result`, or the `KfError` it stands for.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import TYPE_CHECKING, Any

from kfshell.errors import CommandFailed, Interrupted, KfError, UsageError
from kfshell.result import Result, from_dict

if TYPE_CHECKING:
    from kfshell.registry import Invocation
    from kfshell.session import Session


def run(invocation: Invocation, session: Session) -> Result:
    spec = invocation.spec
    if invocation.command.hands_to:
        return _hand_over(invocation, session)
    if spec.runs == "client":
        module = importlib.import_module(spec.origin)
        return module.run(invocation, session)
    context = invocation.context or session.context
    namespace = invocation.namespace or session.namespace
    catalog = getattr(session, "catalog", None)
    if catalog is not None:
        unreachable = catalog.unreachable(context, namespace)
        if unreachable is not None and spec.source == "builtin":
            # Looking the command up already failed, and every built-in needs the cluster: do not make the
            # user wait for a connect timeout twice. Other commands may work without it, so they run.
            raise unreachable
        check_allowed(invocation, catalog, context, namespace)
    data = request_data(invocation, session)
    if spec.name == "whoami" and catalog is not None:
        count = _command_count(catalog, context, namespace)
        if count is not None:
            data["commands"] = count
    from kfshell.dispatch.where import choose

    mode = getattr(session, "dispatch", "auto")
    target = choose(spec, mode, session, context, namespace)
    from kfshell.spinner import spinning

    def call(request: dict[str, Any]) -> Result:
        with spinning(session.env.stderr, f"{invocation.title} ...", enabled=_shows_spinner(invocation, request)):
            if target.kind == "kubeless":
                raw = _call_cluster(spec, target, request, session, context, mode)
            else:
                from kfshell.dispatch import local

                raw = local.call(spec, request, session, function=target.ref)
        return from_dict(raw, function=f"function {spec.name}")

    question = invocation.command.confirm_for(spec)
    # A dry run changes nothing, so it is never asked about.
    if question and not invocation.args.get("dry_run") and not consented(invocation, session):
        if _has_dry_run(invocation.command):
            # Find out first whether there is anything to destroy: nobody is asked about what is not there
            # (the dry run fails as the real run would, e.g. NotFound).
            call({**data, "args": {**data["args"], "dry_run": True}})
        consent(question, invocation, session)
    return call(data)


def consented(invocation: Invocation, session: Session) -> bool:
    return bool(invocation.args.get("yes") or session.assume_yes)


def _has_dry_run(command: Any) -> bool:
    return any(arg.name == "dry_run" and arg.kind == "flag" for arg in command.arguments)


def _shows_spinner(invocation: Invocation, data: dict[str, Any]) -> bool:
    """A command that waits for the cluster (it declares `--wait`) spins on a terminal unless told not to wait."""
    names = {arg.name for arg in invocation.command.arguments}
    return bool(data.get("interactive")) and bool(names & {"wait", "no_wait"}) and not invocation.args.get("no_wait")


def _hand_over(invocation: Invocation, session: Session) -> Result:
    """A subcommand that streams (`train logs`): the client command it names runs it with the same arguments.

    A function answers once, so following logs cannot be one; the client command it hands to must take every
    argument the subcommand declares.
    """
    from dataclasses import replace

    from kfshell.commands import CLIENT_COMMANDS
    from kfshell.specfiles import load_client_commands

    name = invocation.command.hands_to
    target = next((s for s in load_client_commands(CLIENT_COMMANDS) if s.name == name), None)
    if target is None:
        raise CommandFailed(f"{invocation.title} needs the client command {name}, which this kf lacks",
                            reason="Unsupported")
    module = importlib.import_module(target.origin)
    return module.run(replace(invocation, spec=target, command=target, words=(name,)), session)


def check_allowed(invocation: Invocation, catalog: Any, context: str | None, namespace: str | None) -> None:
    """Refuse a command whose `requires` the user lacks here, naming the missing permission (exit 1)."""
    from kfshell.privileges import describe

    spec = invocation.spec
    sub = invocation.command if invocation.command is not spec else None
    missing = catalog.missing(spec, sub, context, namespace)
    if missing:
        needed = "; ".join(describe(m) for m in missing)
        raise CommandFailed(f"you may not run {invocation.title}: it needs {needed}",
                            hint="ask an admin for that permission; `command list --all` shows what you may not run",
                            reason="Forbidden")


def _call_cluster(spec: Any, target: Any, data: dict[str, Any], session: Session, context: str | None,
                  mode: str) -> Any:
    """Call the Function; in auto mode a call the proxy refuses or cannot deliver runs locally instead."""
    from kfshell.dispatch import kubeless

    ref = target.ref
    try:
        return kubeless.call_function(session.api(context), ref.namespace, ref.name, data,
                                      float(spec.timeout or kubeless.DEFAULT_TIMEOUT), port=target.port)
    except kubeless.NoBearerToken:
        if mode == "kubeless":
            raise
    except CommandFailed as err:
        if mode == "kubeless" or err.reason not in ("Forbidden", "Unavailable", "NotFound"):
            raise
        if session.verbose:
            session.env.stderr.write(f"kf: note: {spec.name} runs locally: {err.message}\n")
    from kfshell.dispatch import local

    return local.call(spec, data, session, function=ref)


def _command_count(catalog: Any, context: str | None, namespace: str | None) -> dict[str, int] | None:
    """`{"runnable", "total"}` for whoami, from the privileges help and completion use."""
    answers = catalog.answers(context, namespace)
    if answers is None:
        return None
    runnable, total = answers.leaves(catalog.registry(context, namespace).commands())
    return {"runnable": runnable, "total": total}


def request_data(invocation: Invocation, session: Session) -> dict[str, Any]:
    """`event["data"]`: the command words, parsed arguments, and where and how to answer."""
    context = invocation.context or session.context
    data = {
        "command": list(invocation.words),
        "args": dict(invocation.args),
        "namespace": invocation.namespace or session.namespace,
        "context": context,
        "output": invocation.output or session.output,
    }
    env = getattr(session, "env", None)
    # Whether a person watches (commands that wait do so by default then); stderr too, for the spinner.
    data["interactive"] = bool(env is not None and env.interactive and _isatty(env.stderr))
    files = _local_files(invocation)
    if files:
        data["files"] = files
    # Where the caller is, as their kubeconfig names it: a function on the cluster cannot know it.
    with contextlib.suppress(KfError):
        config = session.kubeconfig()
        data["where"] = {"cluster": config.context(context).cluster, "server": config.server(context)}
    return data


MAX_INLINE_FILE = 1 << 20  # bytes: a larger input file is left for a local run to read


def _local_files(invocation: Invocation) -> dict[str, str]:
    """The text of the local files the command's `files` arguments name, so a function on the cluster has them."""
    import os

    found = {}
    for arg in invocation.command.arguments:
        value = invocation.args.get(arg.name)
        if arg.complete != "files" or not isinstance(value, str):
            continue
        path = os.path.expanduser(value)
        try:
            if os.path.isfile(path) and os.path.getsize(path) <= MAX_INLINE_FILE:
                with open(path, encoding="utf-8") as handle:
                    found[value] = handle.read()
        except (OSError, UnicodeDecodeError):
            continue  # the function says what is wrong with it
    return found


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def consent(question: str, invocation: Invocation, session: Session) -> None:
    """Ask before a destructive command; --yes (global or the command's own) answers for scripts."""
    if consented(invocation, session):
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
