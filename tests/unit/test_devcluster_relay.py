"""The relay's start is judged by the relay itself: its own "listening" line and the port answering,
and when it fails, by its own last log line (no netns needed: it relays on the loopback here)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from devcluster import relay
from devcluster.detached import ProcessDir

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def processes(tmp_path: Path):
    procs = ProcessDir(tmp_path / "run")
    yield procs
    for name in procs.names():
        procs.stop(name, grace=2)


def start(processes: ProcessDir, listen: str, target: str) -> int:
    argv = [sys.executable, "-m", "devcluster.relay", listen, target]
    return processes.start("relay", argv, {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, identity=argv[1:],
                           fingerprint="test", cwd=ROOT)


def test_a_relay_that_listens_is_started(processes: ProcessDir) -> None:
    listen = f"127.0.0.1:{free_port()}"
    pid = start(processes, listen, "127.0.0.1:9")
    relay.wait_started(pid, processes.log("relay"), 0, listen)
    assert relay.listening_line(listen) in processes.log("relay").read_text()


def test_a_port_another_relay_holds_is_not_taken_for_ours(processes: ProcessDir) -> None:
    # Another checkout's relay on the same address: the port answers, but ours cannot listen there.
    with socket.create_server(("127.0.0.1", 0)) as other:
        listen = f"127.0.0.1:{other.getsockname()[1]}"
        pid = start(processes, listen, "127.0.0.1:9")
        with pytest.raises(relay.RelayFailed) as failed:
            relay.wait_started(pid, processes.log("relay"), 0, listen)
    assert str(failed.value).startswith(f"relay: cannot listen on {listen}:")  # the relay's own words
    assert "in use" in str(failed.value)
