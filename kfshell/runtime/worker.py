"""The worker process that runs a function, one call at a time.

A worker is a fresh interpreter (multiprocessing "spawn") that imports the function's module once
and then answers calls over a pipe. Why a process and not a thread: a call that hangs past its
timeout must really stop (a Python thread cannot be killed, and an abandoned one would keep running
and holding memory and connections), and a function that crashes or calls os._exit must not take
the server with it. Why "spawn" and not fork-per-call as Kubeless does: forking a multi-threaded
HTTP server can deadlock the child on a lock another thread held, and a warm worker does not pay
for importing the function (and the kubernetes client) on every call.

The worker turns the handler's return value into the HTTP reply itself, so a result that cannot
be serialised is reported with the function's own error, not as a broken pipe.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import site
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"


# --- messages on the pipe (picklable, importable by both ends) ---


@dataclass(frozen=True)
class Ready:
    pass


@dataclass(frozen=True)
class LoadFailed:
    message: str


@dataclass(frozen=True)
class Call:
    event: dict[str, Any]
    context: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    failed: bool = False  # counted in function_failures_total

    @classmethod
    def error(cls, status: int, reason: str, message: str, failed: bool = True) -> Reply:
        payload = {"error": {"reason": reason, "message": message, "status": status}}
        return cls(status, JSON, json.dumps(payload).encode(), failed)


class LoadError(Exception):
    """The function's module could not be imported or has no such handler."""


# --- the worker's side ---


def worker_main(conn: Any, install_volume: str, module_name: str, handler_name: str, parent_pid: int) -> None:
    """Entry point of a worker process: load the handler, then answer calls until the pipe closes."""
    _die_with_parent(parent_pid)
    # Ctrl-C in a terminal reaches the whole process group; the server decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdout.reconfigure(line_buffering=True)  # a function's prints show up in the log as they happen
    try:
        handler = load_handler(Path(install_volume), module_name, handler_name)
    except LoadError as exc:
        conn.send(LoadFailed(str(exc)))
        return
    conn.send(Ready())
    while True:
        try:
            call = conn.recv()
        except (EOFError, OSError):
            return  # the server closed the pipe: shut down
        conn.send(run_call(handler, call))


def load_handler(install_volume: Path, module_name: str, handler_name: str) -> Callable[..., Any]:
    """Import `<install_volume>/<module_name>.py` (or a package of that name) and return its handler.

    The install volume goes on sys.path, as Kubeless does, so the function can import its sibling
    files and the dependencies installed with `pip install --prefix=<install_volume>`.
    """
    volume = str(install_volume)
    if volume not in sys.path:
        sys.path.append(volume)
    for packages in install_volume.glob("lib/python3*/site-packages"):
        site.addsitedir(str(packages))
    path = install_volume / f"{module_name}.py"
    if not path.is_file():
        path = install_volume / module_name / "__init__.py"
    if not path.is_file():
        raise LoadError(f"no module {module_name!r} in {install_volume} (looked for {module_name}.py)")
    module = _import_file(module_name, path)
    handler = getattr(module, handler_name, None)
    if handler is None:
        raise LoadError(f"{path} has no function {handler_name!r} (FUNC_HANDLER)")
    if not callable(handler):
        raise LoadError(f"{module_name}.{handler_name} is not a function")
    return handler


def _import_file(module_name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the function's import-time code is foreign: report any failure
        traceback.print_exc(file=sys.stderr)
        raise LoadError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module


def run_call(handler: Callable[..., Any], call: Call) -> Reply:
    """Call the handler once; whatever happens, return the reply the server should send."""
    secrets = _secrets_of(call.event)
    try:
        result = handler(call.event, call.context)
    except (Exception, SystemExit) as exc:  # a failing function is a 500, never a dead worker
        to_result = getattr(exc, "to_result", None)
        if callable(to_result):  # an error that knows its own result (e.g. the caller's token was refused)
            return encode_result(to_result())
        sys.stderr.write(_redact(traceback.format_exc(), secrets))
        message = _redact(f"{type(exc).__name__}: {exc}", secrets)
        return Reply.error(500, "FunctionError", f"the function raised {message}")
    return encode_result(result)


def encode_result(result: object) -> Reply:
    """A handler's return value as an HTTP reply.

    A dict or list is JSON (a kf error result `{"error": {..., "status": N}}` gets status N); a str
    is text; bytes are sent as they are; None is an empty 200.
    """
    if result is None:
        return Reply(200, TEXT, b"")
    if isinstance(result, str):
        return Reply(200, TEXT, result.encode())
    if isinstance(result, (bytes, bytearray)):
        return Reply(200, BINARY, bytes(result))
    try:
        body = json.dumps(result).encode()
    except (TypeError, ValueError) as exc:
        return Reply.error(500, "FunctionError", f"the function returned a result that is not JSON: {exc}")
    return Reply(_status_of(result), JSON, body)


def _status_of(result: object) -> int:
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        status = result["error"].get("status")
        if isinstance(status, int) and 400 <= status <= 599:
            return status
        return 500
    return 200


def _secrets_of(event: dict[str, Any]) -> list[str]:
    """The credentials a request carries, so they can be kept out of logs and error messages."""
    from kfshell.runtime.caller import request_credentials

    request = event.get("extensions", {}).get("request")
    return request_credentials(request) if request is not None else []


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text


def _die_with_parent(parent_pid: int) -> None:
    """Exit when the server goes away, so no hung call outlives it.

    A watchdog thread rather than prctl(PR_SET_PDEATHSIG): that signal fires when the *thread*
    that started the worker ends, and workers are started from short-lived request threads.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
