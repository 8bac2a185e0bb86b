"""Pure logic of shell/run/logs/open: websocket framing, exit statuses, names to pods, containers, options."""

from __future__ import annotations

import json
import socket
import struct
import threading

import pytest

from kfshell import pods, wschannel
from kfshell.commands import logs
from kfshell.commands import open as open_cmd
from kfshell.commands.run import split_command
from kfshell.errors import CommandFailed, UsageError


def pod(name, *, ready=True, created="2026-01-01T00:00:00Z", containers=("main",), labels=None, annotations=None,
        phase="Running", env=None, ports=None):
    return {
        "metadata": {"name": name, "creationTimestamp": created, "labels": labels or {},
                     "annotations": annotations or {}},
        "spec": {"containers": [{"name": c, "env": env or [], "ports": ports or []} for c in containers],
                 "initContainers": [{"name": "init"}]},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


# ---- exit statuses from the error channel ------------------------------------------------------------

def test_exit_code_reads_the_kubelets_structured_status():
    assert wschannel.exit_code({"status": "Success"}) == 0
    status = {"status": "Failure", "reason": "NonZeroExitCode",
              "details": {"causes": [{"reason": "ExitCode", "message": "42"}]},
              "message": "command terminated with non-zero exit code: exit status 42"}
    assert wschannel.exit_code(status) == 42


def test_an_internal_error_is_not_an_exit_code_even_when_its_message_names_one():
    # What KWOK used to send: kf must not guess an exit code from the words.
    status = {"status": "Failure", "reason": "InternalError", "message": "cmd wait: sh -c exit 7: exit status 7"}
    assert wschannel.exit_code(status) is None


# ---- websocket framing against a socket pair ------------------------------------------------------------

def _server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    head = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        return struct.pack("!BB", head, len(payload)) + payload
    return struct.pack("!BBH", head, 126, len(payload)) + payload


def _read_client_frame(sock: socket.socket) -> tuple[int, bytes]:
    reader = sock.makefile("rb")
    b0, b1 = reader.read(2)
    assert b1 & 0x80, "client frames must be masked"
    length = b1 & 0x7F
    if length == 126:
        length = struct.unpack("!H", reader.read(2))[0]
    mask = reader.read(4)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(reader.read(length)))
    return b0 & 0x0F, data


def test_channel_socket_sends_masked_channel_frames_and_joins_fragments():
    ours, theirs = socket.socketpair()
    channel = wschannel.ChannelSocket(ours, ours.makefile("rb"), wschannel.V5)
    channel.send(wschannel.STDIN, b"ls\n")
    assert _read_client_frame(theirs) == (0x2, b"\x00ls\n")
    channel.resize(120, 40)
    opcode, data = _read_client_frame(theirs)
    assert data[0] == wschannel.RESIZE and json.loads(data[1:]) == {"Width": 120, "Height": 40}
    channel.close_channel(wschannel.STDIN)
    assert _read_client_frame(theirs) == (0x2, bytes([255, 0]))
    big = b"\x01" + b"x" * 300
    theirs.sendall(_server_frame(0x2, big[:100], fin=False) + _server_frame(0x9, b"hi")
                   + _server_frame(0x0, big[100:]))
    assert channel.recv() == (1, b"x" * 300)
    assert _read_client_frame(theirs) == (0xA, b"hi")  # the ping was answered
    theirs.sendall(_server_frame(0x8, b""))
    assert channel.recv() is None
    channel.close()
    theirs.close()


def test_v4_cannot_close_stdin_so_nothing_is_sent():
    ours, theirs = socket.socketpair()
    channel = wschannel.ChannelSocket(ours, ours.makefile("rb"), wschannel.V4)
    channel.close_channel(wschannel.STDIN)
    theirs.setblocking(False)
    with pytest.raises(BlockingIOError):
        theirs.recv(10)
    ours.close()
    theirs.close()


def test_a_blocked_recv_ends_when_shut_down():
    ours, theirs = socket.socketpair()
    channel = wschannel.ChannelSocket(ours, ours.makefile("rb"), wschannel.V5)
    got = []
    reader = threading.Thread(target=lambda: got.append(channel.recv()))
    reader.start()
    channel.shutdown()
    reader.join(5)
    assert got == [None]
    theirs.close()


# ---- pods and containers ---------------------------------------------------------------------------------

def test_pick_ready_takes_the_newest_ready_pod_and_says_which():
    target = pods.Target("job", "ns", "job job", (
        pod("a", created="2026-01-01T00:00:00Z"), pod("b", created="2026-01-02T00:00:00Z"),
        pod("c", created="2026-01-03T00:00:00Z", ready=False)))
    chosen, note = pods.pick_ready(target)
    assert pods.pod_name(chosen) == "b"
    assert "using pod b" in note


def test_no_ready_pod_names_the_candidates():
    target = pods.Target("nb", "ns", "notebook nb", (pod("nb-0", ready=False, phase="Pending"),))
    with pytest.raises(CommandFailed, match=r"nb-0 \(Pending\)"):
        pods.pick_ready(target)


def test_container_choice_named_default_only_then_ask_or_refuse():
    two = pod("p", containers=("app", "sidecar"))
    assert pods.choose_container(two, "sidecar", None) == "sidecar"
    with pytest.raises(UsageError, match="no container"):
        pods.choose_container(two, "nope", None)
    annotated = pod("p", containers=("app", "sidecar"), annotations={pods.DEFAULT_CONTAINER: "sidecar"})
    assert pods.choose_container(annotated, None, None) == "sidecar"
    assert pods.choose_container(pod("p"), None, None) == "main"
    assert pods.choose_container(two, None, lambda names: names[1]) == "sidecar"
    with pytest.raises(UsageError, match="app, sidecar"):
        pods.choose_container(two, None, None)
    assert "init" not in pods.containers(two)


# ---- run's command line ---------------------------------------------------------------------------------

class _Invocation:
    def __init__(self, line, words):
        from kfshell.commands import run
        from kfshell.registry import spec_from_dict

        self.line = line
        self.args = {"name": line.split()[1], "words": words}
        self.command = spec_from_dict(run.KF_COMMAND)


def test_run_splits_container_and_command_at_the_double_dash():
    assert split_command(_Invocation("run nb -- python -", ["python", "-"])) == (None, ["python", "-"])
    assert split_command(_Invocation("run nb main -- ls -l", ["main", "ls", "-l"])) == ("main", ["ls", "-l"])
    assert split_command(_Invocation("run -n alice nb -- id", ["id"])) == (None, ["id"])
    with pytest.raises(UsageError, match="--"):
        split_command(_Invocation("run nb ls", ["ls"]))


# ---- logs -----------------------------------------------------------------------------------------------

def test_since_durations():
    assert logs.parse_since("90s") == 90
    assert logs.parse_since("10m") == 600
    assert logs.parse_since("1h30m") == 5400
    assert logs.parse_since("2d") == 172800
    for bad in ("", "ten minutes", "10x"):
        with pytest.raises(UsageError):
            logs.parse_since(bad)


def test_job_end_from_conditions():
    assert logs.job_end({"status": {"conditions": [{"type": "Created", "status": "True"}]}}) == (False, None)
    assert logs.job_end({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == (True, None)
    assert logs.job_end({"status": {"conditions": [{"type": "Succeeded", "status": "True"}]}}) == (True, None)
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True", "message": "node 1 exited 3"}]}}
    assert logs.job_end(failed) == (True, "node 1 exited 3")


def test_prefixes_are_stable_per_stream_and_absent_for_one_stream():
    import io

    out = io.StringIO()
    printer = logs.Printer(out, io.StringIO(), colors=True, prefixed=True)
    assert printer.prefix("job-node-0") == printer.prefix("job-node-0")
    printer.lines("job-node-0", "one\ntwo")
    assert out.getvalue().count("[job-node-0]") == 2
    plain = logs.Printer(io.StringIO(), io.StringIO(), colors=False, prefixed=False)
    assert plain.prefix("x") == ""


def test_streams_default_container_or_all():
    two = pod("p", containers=("app", "sidecar"), annotations={pods.DEFAULT_CONTAINER: "sidecar"})
    assert logs.streams_of(two, logs.LogOptions()) == ["sidecar"]
    assert logs.streams_of(two, logs.LogOptions(all_containers=True)) == ["app", "sidecar"]
    assert logs.streams_of(two, logs.LogOptions(container="app")) == ["app"]


# ---- open -----------------------------------------------------------------------------------------------

def test_open_url_uses_the_notebooks_prefix_and_its_first_port():
    notebook = pod("nb-0", env=[{"name": "NB_PREFIX", "value": "/notebook/alice/nb"}],
                   ports=[{"containerPort": 8888, "name": "notebook-port"}])
    assert open_cmd.url_path(notebook) == "/notebook/alice/nb/"
    assert open_cmd.first_port(notebook) == 8888
    assert open_cmd.url_path(pod("x")) == "/"
    assert open_cmd.first_port(pod("x")) is None
