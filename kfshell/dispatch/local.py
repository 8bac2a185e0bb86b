"""The embedded local runtime: call a function module's handler in-process, as Kubeless would call it.

The handler gets the same `event` and `context` shapes as on the cluster, plus `extensions.kf` telling fnkit
to act with the caller's own kubeconfig credentials (and handing it the session's cached client).

Why a worker thread and not a subprocess: a subprocess would have to import `kubernetes` and open a new TLS
connection for every command (~0.5 s), while a thread reuses the shell's loaded modules and warm client, which
is what keeps `kf -c "status list"` near kubectl's time. The price is that a hung handler cannot be killed,
only abandoned: on timeout or Ctrl-C kf stops waiting at once, injects an exception into the thread so Python
code stops at its next bytecode, and leaves the (daemon) thread to die with its blocked call; the HTTP
runtime, which serves strangers' calls, uses killable worker processes instead.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfshell.errors import CommandFailed, Interrupted, KfError

if TYPE_CHECKING:
    from kfshell.dispatch.kubeless import FunctionRef
    from kfshell.registry import CommandSpec
    from kfshell.session import Session

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
EVENT_NAMESPACE = "cli.kf.kubeflow.org"


class Abandoned(BaseException):
    """Injected into a handler's thread that kf stopped waiting for (BaseException: `except Exception`
    in function code must not swallow it)."""


def call(spec: CommandSpec, data: Mapping[str, Any], session: Session, *,
         function: FunctionRef | None = None) -> dict[str, Any] | Any:
    """Run the function behind `spec` with request `data`; its raw return value (checked by the caller).

    `function`: the cluster Function whose source (spec.function) to run, for a namespace's or kf-system's
    command run here.
    """
    context_name = data.get("context") or session.context
    # Built here, on the calling thread: a bad kubeconfig or context is reported as such, before the handler.
    client = session.api(context_name)
    # An exec plugin runs now, on this (the prompt's) thread, where it may ask the person; never in the worker.
    token = getattr(client, "bearer_token", None)
    if callable(token):
        token()
    event = build_event(data, kubeconfig=session.kubeconfig_env(), context=context_name, client=client)
    handler = load_function_source(spec, function) if function is not None else load_handler(spec)
    context = {"function-name": spec.name, "timeout": spec.timeout, "runtime": RUNTIME, "memory-limit": None}
    value = run_with_timeout(lambda: handler(event, context), spec.timeout, name=spec.name)
    if isinstance(value, str):  # Kubeless sends a returned string as the body: a message
        return {"kind": "message", "text": value}
    return value


def build_event(data: Mapping[str, Any], *, kubeconfig: str | None, context: str | None,
                client: Any = None) -> dict[str, Any]:
    """`event` as Kubeless's Python runtime builds it, with kf's local extension."""
    # A JSON round trip: the handler sees exactly what it would receive over HTTP, and cannot mutate ours.
    payload = json.loads(json.dumps(data))
    event_id = os.urandom(16).hex()  # uuid4's randomness without importing uuid (platform, ~20 ms)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    headers = {"event-id": event_id, "event-time": now, "event-type": "application/json",
               "event-namespace": EVENT_NAMESPACE, "Content-Type": "application/json"}
    kf: dict[str, Any] = {"local": True, "kubeconfig": kubeconfig, "context": context}
    if client is not None:
        kf["client"] = client
    return {
        "data": payload,
        "event-id": event_id,
        "event-type": "application/json",
        "event-time": now,
        "event-namespace": EVENT_NAMESPACE,
        "extensions": {"request": _request(headers, payload), "kf": kf},
    }


def _request(headers: Mapping[str, str], payload: Any) -> Any:
    """The HTTP request a Kubeless function would see, for functions that read headers or the body."""
    from kfshell.runtime.request import FunctionRequest, Headers

    body = json.dumps(payload).encode()
    return FunctionRequest(method="POST", url="/", headers=Headers(headers.items()), body=body)


def load_handler(spec: CommandSpec) -> Callable[[Any, Any], Any]:
    """The `handler` of the module behind `spec`: a built-in or a package's by module name, a user's file by
    path."""
    path = Path(spec.origin)
    try:
        if spec.source == "builtin":
            module = importlib.import_module(f"functions.{path.stem}")
        elif spec.source == "package":
            module = importlib.import_module(spec.origin)
        else:
            module = _load_file(path, f"kf_commands_{spec.source}_{path.stem}".replace("-", "_"))
    except KfError:
        raise
    except Exception as exc:
        raise CommandFailed(f"cannot load function {spec.name} from {spec.origin}: {type(exc).__name__}: {exc}",
                            hint="fix the function module", reason="FunctionError") from exc
    handler = getattr(module, "handler", None)
    if not callable(handler):
        raise CommandFailed(f"function {spec.name} ({spec.origin}) has no handler(event, context)",
                            reason="FunctionError")
    return handler


def load_function_source(spec: CommandSpec, function: FunctionRef) -> Callable[[Any, Any], Any]:
    """The handler of a cluster Function's source, compiled here (its deps must be installed locally)."""
    module_name, _, attribute = (function.handler or "handler.handler").rpartition(".")
    module_name = module_name or "handler"
    try:
        code = compile(function.source or "", f"<Function {function.origin}>", "exec")
        module_spec = importlib.util.spec_from_loader(f"kf_function_{module_name}", loader=None)
        module = importlib.util.module_from_spec(module_spec)  # type: ignore[arg-type]
        exec(code, module.__dict__)  # noqa: S102 - the Function's checksum was verified by dispatch.where
    except Exception as exc:
        raise CommandFailed(f"cannot load function {spec.name} from Function {function.origin}: "
                            f"{type(exc).__name__}: {exc}", hint="fix its source with `command upgrade`",
                            reason="FunctionError") from exc
    handler = getattr(module, attribute or "handler", None)
    if not callable(handler):
        raise CommandFailed(f"function {spec.name} (Function {function.origin}) has no {attribute}(event, context)",
                            reason="FunctionError")
    return handler


def _load_file(path: Path, module_name: str) -> Any:
    # Loaded afresh on every call: a user editing their command sees the change at the next run.
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise CommandFailed(f"cannot load {path}", reason="FunctionError")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@dataclass
class _Outcome:
    value: Any = None
    error: BaseException | None = None


def run_with_timeout(work: Callable[[], Any], timeout: float, *, name: str) -> Any:
    """`work()` in a daemon thread: its value; its exception as a KfError; abandoned on timeout or Ctrl-C."""
    outcome = _Outcome()
    done = threading.Event()

    def worker() -> None:
        try:
            outcome.value = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, which reports it
            outcome.error = exc
        finally:
            done.set()

    thread = threading.Thread(target=worker, name=f"kf-function-{name}", daemon=True)
    try:
        # start() inside: under load the function may already run (and Ctrl-C arrive) before start() returns.
        thread.start()
        finished = _wait(done, timeout)
    except KeyboardInterrupt:
        _abandon(thread)
        raise Interrupted("interrupted", hint="the function was abandoned", reason="Interrupted") from None
    if not finished:
        _abandon(thread)
        raise CommandFailed(f"no answer within {timeout:g} s", hint="the function was abandoned; try again, "
                            "or raise its timeout", reason="Timeout")
    if outcome.error is not None:
        raise _failure(outcome.error, name) from outcome.error
    return outcome.value


def _wait(done: threading.Event, timeout: float) -> bool:
    """done.wait(timeout) in short slices. The kernel may hand Ctrl-C's SIGINT to any thread; Python runs its
    handler only on the main thread, and a main thread blocked in one long wait would not see it until the wait
    ends (the first Ctrl-C then seemed to do nothing)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return done.is_set()
        if done.wait(min(left, 0.1)):
            return True


def _abandon(thread: threading.Thread) -> None:
    """Ask the thread to stop at its next bytecode (a blocked C call finishes first)."""
    import ctypes

    if thread.ident is not None and thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(Abandoned))


def _failure(exc: BaseException, name: str) -> KfError:
    """What a handler's exception means to the person who ran the command."""
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted()
    if isinstance(exc, KfError):
        return exc
    from kfshell.fnkit import FunctionError, error_result

    if isinstance(exc, FunctionError):
        from kfshell.result import error_from_dict

        answer = error_result(exc)
        return error_from_dict(answer["error"], exit_status=answer.get("exit_status"))
    from kfshell.cluster import translate

    known = translate(exc)  # API errors, unreachable servers, refused credentials
    if known.reason != "InternalError":
        return known
    return CommandFailed(f"function {name} raised {type(exc).__name__}: {exc}",
                         hint="a bug in the function; -v shows the traceback", reason="FunctionError")
