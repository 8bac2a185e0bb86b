"""A small pool of warm worker processes; a call that overruns its timeout kills its worker.

Workers start on demand up to `size`; an idle worker is reused. A worker that timed out or died is
discarded and a replacement is started in the background, so the next call finds one warm.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kfshell.runtime.worker import Call, LoadError, LoadFailed, Ready, Reply, worker_main

STARTUP_TIMEOUT = 120.0  # seconds a worker may take to import the function


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process
    conn: Any  # multiprocessing.connection.Connection

    def stop(self) -> None:
        """Kill outright: a worker is only stopped when its call is being abandoned or at shutdown."""
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


@dataclass
class WorkerPool:
    install_volume: str
    module_name: str
    handler_name: str
    size: int = 4
    _idle: list[_Worker] = field(default_factory=list, init=False)
    _live: int = field(default=0, init=False)  # idle + busy + starting
    _closed: bool = field(default=False, init=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False)

    def start(self) -> None:
        """Start the first worker and wait for it: a function that cannot load fails the server at once."""
        with self._cond:
            self._live += 1
        worker = self._spawn()  # raises LoadError
        self._release(worker)

    def call(self, event: dict[str, Any], context: dict[str, Any], timeout: float) -> Reply:
        worker = self._acquire(timeout)
        if isinstance(worker, Reply):
            return worker
        try:
            worker.conn.send(Call(event, context))
        except (OSError, ValueError) as exc:  # died while idle, or the event is not picklable
            self._discard(worker)
            return Reply.error(500, "RuntimeError", f"could not hand the call to a worker: {exc}")
        if not worker.conn.poll(timeout):
            self._discard(worker)
            return Reply.error(408, "Timeout", f"the function did not finish within {timeout:g}s")
        try:
            reply = worker.conn.recv()
        except (EOFError, OSError):
            code = _exit_code(worker)
            self._discard(worker)
            return Reply.error(500, "FunctionCrashed", f"the function's process died (exit code {code})")
        self._release(worker)
        return reply

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            worker.stop()

    # --- bookkeeping ---

    def _acquire(self, timeout: float) -> _Worker | Reply:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._idle and self._live >= self.size and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return Reply.error(
                        503, "Busy", f"all {self.size} workers stayed busy for {timeout:g}s (FUNC_WORKERS)"
                    )
                self._cond.wait(remaining)
            if self._closed:
                return Reply.error(503, "ShuttingDown", "the runtime is shutting down")
            if self._idle:
                return self._idle.pop()
            self._live += 1
        try:
            return self._spawn()
        except LoadError as exc:
            return Reply.error(500, "LoadError", str(exc))

    def _spawn(self) -> _Worker:
        """Start a worker and wait until it has loaded the function; the caller has counted it in _live."""
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        process = ctx.Process(
            target=worker_main,
            args=(child_conn, self.install_volume, self.module_name, self.handler_name, os.getpid()),
            name=f"kf-worker-{self.module_name}",
            daemon=True,
        )
        message: object = None
        started = timed_out = False
        try:
            process.start()
            started = True
            child_conn.close()
            if parent_conn.poll(STARTUP_TIMEOUT):
                message = parent_conn.recv()
            else:
                timed_out = True
        except (EOFError, OSError):
            message = None
        if isinstance(message, Ready):
            return _Worker(process, parent_conn)
        self._forget()
        parent_conn.close()
        if started:
            if process.is_alive():
                process.kill()
            process.join(5)
        if isinstance(message, LoadFailed):
            raise LoadError(message.message)
        if timed_out:
            raise LoadError(f"the function did not load within {STARTUP_TIMEOUT:g}s")
        raise LoadError(f"the worker process exited while loading the function (exit code {process.exitcode})")

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append(worker)
                self._cond.notify()
                return
        worker.stop()

    def _discard(self, worker: _Worker) -> None:
        worker.stop()
        self._forget()
        threading.Thread(target=self._replace, name="kf-worker-replace", daemon=True).start()

    def _forget(self) -> None:
        with self._cond:
            self._live -= 1
            self._cond.notify()

    def _replace(self) -> None:
        """Keep one warm worker ready after one was killed, unless others are idle already."""
        with self._cond:
            if self._closed or self._idle or self._live >= self.size:
                return
            self._live += 1
        try:
            worker = self._spawn()
        except LoadError:
            return  # the next call reports it
        self._release(worker)


def _exit_code(worker: _Worker) -> int | None:
    worker.process.join(2)
    return worker.process.exitcode
