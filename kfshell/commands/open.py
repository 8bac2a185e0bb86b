"""`open NAME [port]`: forward a local port to a notebook's, tensorboard's or component's pod, print the URL
and open a browser. One-shot it runs until Ctrl-C; at the kf> prompt it runs in the background
(`open --list` shows them, `open --stop [ID|NAME]` ends one, or all).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kfshell.errors import UsageError
from kfshell.result import Empty, Message, Table

if TYPE_CHECKING:
    from kfshell.portforward import Forward
    from kfshell.registry import Invocation
    from kfshell.result import Result
    from kfshell.session import Session

KF_COMMAND = {
    "name": "open",
    "help": "open a notebook, tensorboard or dashboard in the browser through a port-forward",
    "arguments": [
        {"name": "name", "complete": "pod-targets",
         "help": "a notebook, tensorboard, inference service, component or pod"},
        {"name": "port", "type": "int", "help": "the pod's port (default: its first declared one)"},
        {"name": "local_port", "kind": "option", "flags": ["--local-port"], "type": "int",
         "help": "the local port (default: the pod's port when free, else any free one)"},
        {"name": "no_browser", "kind": "flag", "flags": ["--no-browser"], "help": "only print the URL"},
        {"name": "list", "kind": "flag", "flags": ["--list"], "help": "the forwards running in this shell"},
        {"name": "stop", "kind": "flag", "flags": ["--stop"],
         "help": "stop the forward NAME (or number), or all of them"},
    ],
}


@dataclass
class Opened:
    number: int
    name: str
    namespace: str
    pod: str
    url: str
    forward: Forward


def run(invocation: Invocation, session: Session) -> Result:
    args = invocation.args
    opened: dict[int, Opened] = _forwards(session)
    for number in [n for n, o in opened.items() if not o.forward.running]:
        del opened[number]
    if args.get("list"):
        return Table(columns=("ID", "NAME", "NAMESPACE", "POD", "URL", "CONNECTIONS"),
                     rows=tuple((o.number, o.name, o.namespace, o.pod, o.url, o.forward.connections)
                                for o in opened.values()))
    if args.get("stop"):
        return _stop(opened, args.get("name"))
    if not args.get("name"):
        raise UsageError("open needs a name", hint="e.g. open mnist-notebook; `open --list` shows running ones")
    return _open(invocation, session, opened)


def _forwards(session: Session) -> dict[int, Opened]:
    if session.forwards is None:
        session.forwards = {}
    return session.forwards


def _stop(opened: dict[int, Opened], which: str | None) -> Result:
    chosen = [o for o in opened.values() if which in (None, "all", str(o.number), o.name, o.pod)]
    if which is not None and not chosen:
        raise UsageError(f"no forward {which} is running", hint="`open --list` shows them")
    for item in chosen:
        item.forward.stop()
        del opened[item.number]
    return Message(f"stopped {len(chosen)} forward{'s' if len(chosen) != 1 else ''}")


def _open(invocation: Invocation, session: Session, opened: dict[int, Opened]) -> Result:
    from kfshell import cluster, pods
    from kfshell.portforward import Forward

    api = session.api(invocation.context)
    namespace = invocation.namespace or session.namespace
    name = invocation.args["name"]
    pods.require(api, session, namespace, "create", "portforward", f"forward ports of pods in namespace {namespace}")
    target = pods.resolve(api, namespace, name)
    pod, _note = pods.pick_ready(target)
    port = invocation.args.get("port") or first_port(pod)
    if port is None:
        raise UsageError(f"pod {pods.pod_name(pod)} declares no port", hint="name the port: open NAME PORT")
    env = session.env

    def error(line: str) -> None:
        env.stderr.write(f"kf: warning: {line}\n")
        env.stderr.flush()

    forward = None
    for local in _local_ports(invocation.args.get("local_port"), port):
        try:
            forward = Forward(api, target.namespace, pods.pod_name(pod), port, local_port=local, on_error=error)
            break
        except OSError as err:
            if invocation.args.get("local_port"):
                raise UsageError(f"cannot listen on port {local}: {err.strerror}") from None
    assert forward is not None
    try:
        forward.check()
    except Exception as exc:  # noqa: BLE001 - one translated line
        forward.stop()
        raise cluster.translate(exc) from exc
    forward.start()
    url = f"http://{forward.address}:{forward.local_port}{url_path(pod)}"
    if not invocation.args.get("no_browser"):
        _browse(url, env)
    if session.at_prompt:
        number = max(opened, default=0) + 1
        opened[number] = Opened(number, target.name, target.namespace, pods.pod_name(pod), url, forward)
        return Message(f"{target.what}: {url}  (forward {number}; `open --stop {number}` ends it)")
    env.stdout.write(f"{target.what}: {url}\n")
    env.stderr.write("kf: forwarding until Ctrl-C\n")
    env.stdout.flush()
    env.stderr.flush()
    try:
        forward.wait()
    finally:
        forward.stop()
    return Empty()


def _local_ports(wanted: int | None, port: int) -> list[int]:
    if wanted:
        return [wanted]
    return [port, 0] if port >= 1024 else [0]


def first_port(pod: dict[str, Any]) -> int | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("containerPort"):
                return int(declared["containerPort"])
    return None


def url_path(pod: dict[str, Any]) -> str:
    """Where the app serves: a notebook's NB_PREFIX (Jupyter runs under it), else the root."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for variable in container.get("env") or []:
            if variable.get("name") == "NB_PREFIX" and variable.get("value"):
                return variable["value"].rstrip("/") + "/"
    return "/"


def _browse(url: str, env: Any) -> None:
    """Open a graphical browser when there is one (never a text browser that would take the terminal)."""
    environ = getattr(env, "environ", os.environ)
    if not (environ.get("BROWSER") or environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")
            or os.uname().sysname == "Darwin"):
        return
    import webbrowser

    try:
        webbrowser.open(url, new=2)
    except webbrowser.Error:
        pass
