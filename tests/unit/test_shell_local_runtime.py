"""The embedded local runtime: Kubeless's event and context shapes, timeouts, Ctrl-C and broken handlers."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from kfshell.dispatch.local import build_event, run_with_timeout
from kfshell.errors import CommandFailed, Interrupted


def test_event_has_the_kubeless_shape_and_the_local_extension():
    data = {"command": ["status", "list"], "args": {"component": "x"}, "namespace": "alice",
            "context": "kf-alice", "output": "json"}
    client = object()
    event = build_event(data, kubeconfig="/a:/b", context="kf-alice", client=client)
    assert event["data"] == data and event["data"] is not data
    assert event["event-type"] == "application/json"
    assert event["event-namespace"] == "cli.kf.kubeflow.org"
    assert event["event-id"] and event["event-time"].endswith("+00:00")
    assert event["extensions"]["kf"] == {"local": True, "kubeconfig": "/a:/b", "context": "kf-alice",
                                         "client": client}
    request = event["extensions"]["request"]
    assert request.get_header("event-id") == event["event-id"]
    assert request.json() == data


def test_a_timeout_abandons_the_worker_and_stops_its_python_code():
    stopped = threading.Event()

    def spin():
        try:
            while True:
                time.sleep(0.01)
        finally:
            stopped.set()  # reached because an exception was injected into the thread

    started = time.monotonic()
    with pytest.raises(CommandFailed) as caught:
        run_with_timeout(spin, 0.3, name="spin")
    assert caught.value.reason == "Timeout"
    assert time.monotonic() - started < 2
    assert stopped.wait(5)


def test_ctrl_c_interrupts_the_wait_at_once():
    timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(Interrupted) as caught:
        run_with_timeout(lambda: threading.Event().wait(30), 30, name="wait")
    assert caught.value.exit_status == 130
    assert time.monotonic() - started < 5


def test_the_handlers_value_and_exception_come_back():
    assert run_with_timeout(lambda: {"kind": "message", "text": "x"}, 5, name="ok") == {"kind": "message",
                                                                                           "text": "x"}
    with pytest.raises(CommandFailed) as caught:
        run_with_timeout(lambda: {}["missing"], 5, name="buggy")
    assert caught.value.message == "function buggy raised KeyError: 'missing'"
    assert isinstance(caught.value.__cause__, KeyError)


def test_a_function_error_becomes_its_error_result():
    from kfshell.fnkit import FunctionError

    def refuse():
        raise FunctionError("NotFound", "component 'x' not found", hint="did you mean y?")

    with pytest.raises(CommandFailed) as caught:
        run_with_timeout(refuse, 5, name="status")
    assert (caught.value.reason, caught.value.hint) == ("NotFound", "did you mean y?")
