"""`run NAME [container] -- COMMAND...`: run a command in a pod without a terminal.

stdout and stderr stay apart, stdin is passed through when it is not a terminal (`kf run nb -- python -
< script.py`), and kf exits with the command's own exit status, so scripts can trust it.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from kfshell.errors import UsageError
from kfshell.result import Empty

if TYPE_CHECKING:
    from kfshell.registry import Invocation
    from kfshell.result import Result
    from kfshell.session import Session

KF_COMMAND = {
    "name": "run",
    "help": "run a command in a notebook's, job's or component's pod and exit with its status",
    "arguments": [
        {"name": "name", "required": True, "complete": "pod-targets",
         "help": "a notebook, job, inference service, tensorboard, component or pod"},
        {"name": "words", "repeat": True, "help": "[container] -- the command and its arguments"},
    ],
}


def run(invocation: Invocation, session: Session) -> Result:
    from kfshell import podexec

    container_name, command = split_command(invocation)
    if not command:
        raise UsageError("run needs a command after --", hint="e.g. kf run mnist-notebook -- python train.py")
    api, namespace, pod, container = target_container(invocation, session, interactive=False,
                                                      container=container_name)
    env = session.env
    stdin = None if env.stdin_isatty else _binary(env.stdin)
    env.stdout.flush()
    code = podexec.run_piped(api, namespace, pod, container, command, stdin=stdin,
                             stdout=_binary(env.stdout), stderr=_binary(env.stderr))
    return Empty(exit_status=code)


def split_command(invocation: Invocation) -> tuple[str | None, list[str]]:
    """(the container named before `--`, the command after it).

    The parser drops `--`; the line shows how many of the words came before it (options before `--`
    are the parser's, so only bare words count)."""
    words = list(invocation.args.get("words") or [])
    try:
        typed = shlex.split(invocation.line)
    except ValueError:
        typed = invocation.line.split()
    if "--" not in typed:
        raise UsageError("run needs `--` before the command", hint="e.g. kf run mnist-notebook -- ls -l")
    before = _bare_words(typed[1:typed.index("--")], invocation)
    extra = len(before) - 1  # the name is the first bare word
    if extra > 1:
        raise UsageError(f"unexpected arguments before --: {' '.join(before[2:])}")
    container = words[0] if extra == 1 and words else None
    return container, words[extra:]


def _bare_words(words: list[str], invocation: Invocation) -> list[str]:
    takes_value = {flag for arg in (*invocation.command.options,) for flag in arg.flags if arg.kind == "option"}
    takes_value |= {"-n", "--namespace", "--context", "-o", "--output", "--dispatch"}
    bare, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("-") and word != "-":
            skip = word in takes_value
        else:
            bare.append(word)
    return bare


def target_container(invocation: Invocation, session: Session, *, interactive: bool,
                     container: str | None = None) -> tuple[Any, str, str, str]:
    """(client, namespace, pod, container) for exec: permission first, then the newest Ready pod of the
    name, then the container (asked for on a terminal when it is not clear)."""
    from kfshell import pods

    api = session.api(invocation.context)
    namespace = invocation.namespace or session.namespace
    name = invocation.args["name"]
    pods.require(api, session, namespace, "create", "exec", f"run commands in pods of namespace {namespace}")
    try:
        target = pods.resolve(api, namespace, name)
    except Exception as exc:  # noqa: BLE001 - API failures become one line
        from kfshell import cluster
        from kfshell.errors import KfError

        if isinstance(exc, KfError):
            raise
        raise cluster.translate(exc) from exc
    pod, note = pods.pick_ready(target)
    if note and session.verbose:
        session.env.stderr.write(f"kf: {note}\n")
    wanted = container if container is not None else invocation.args.get("container")
    ask = _asker(session) if interactive and session.env.interactive else None
    chosen = pods.choose_container(pod, wanted, ask)
    return api, target.namespace, pods.pod_name(pod), chosen


def _asker(session: Session) -> Any:
    def ask(names: list[str]) -> str:
        env = session.env
        for number, name in enumerate(names, 1):
            env.stderr.write(f"  {number}) {name}\n")
        env.stderr.write("container [1]: ")
        env.stderr.flush()
        answer = env.stdin.readline().strip()
        if not answer:
            return names[0]
        if answer.isdigit() and 1 <= int(answer) <= len(names):
            return names[int(answer) - 1]
        if answer in names:
            return answer
        raise UsageError(f"no container {answer}", hint=f"choose one of {', '.join(names)}")
    return ask


def _binary(stream: Any) -> Any:
    """The byte stream under a text stream (remote output is bytes, written as it comes)."""
    return getattr(stream, "buffer", stream)
