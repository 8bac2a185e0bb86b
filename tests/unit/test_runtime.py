"""The Kubeless-compatible runtime, run as a real process on loopback and called over HTTP."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
import requests

from tests.cluster.runtime_process import RuntimeProcess

FUNCTION = '''
import os
import time


def handler(event, context):
    data = event["data"]
    request = event["extensions"]["request"]
    do = data.get("do", "echo") if isinstance(data, dict) else "echo"
    if do == "echo":
        return {
            "data": data.decode() if isinstance(data, bytes) else data,
            "data_type": type(data).__name__,
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "event": {k: event[k] for k in ("event-id", "event-type", "event-time", "event-namespace")},
            "context": context,
            "worker_pid": os.getpid(),
            "extensions": sorted(event["extensions"]),
        }
    if do == "sleep":
        with open(data["pidfile"], "w") as f:
            f.write(str(os.getpid()))
        time.sleep(data["seconds"])
        return {"slept": data["seconds"]}
    if do == "raise":
        raise ValueError(data.get("message", "boom"))
    if do == "leak-token":
        raise RuntimeError("the token is " + str(request.get_header("X-Kf-Caller-Token")))
    if do == "print":
        print("a line the function printed")
        return None
    if do == "text":
        return "plain words"
    if do == "bytes":
        return b"\\x00\\x01binary"
    if do == "error-result":
        return {"error": {"reason": "NotFound", "message": "no such thing", "status": 404}}
    if do == "not-json":
        return {"when": object()}
    if do == "exit":
        os._exit(3)
    if do == "caller":
        from kfshell.runtime.caller import client_for_request

        client_for_request(event)
        return {"ok": True}
    return {"error": {"reason": "Invalid", "message": "unknown behaviour", "status": 400}}
'''

TOKEN = "kf-test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def function_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kubeless")
    (path / "behaviours.py").write_text(FUNCTION)
    (path / "broken.py").write_text('raise ImportError("needs a package that is not installed")\n')
    (path / "nohandler.py").write_text("def other(event, context):\n    return 1\n")
    return path


@pytest.fixture(scope="module")
def runtime(function_dir: Path):
    proc = RuntimeProcess(
        function_dir,
        "behaviours",
        env={"FUNC_TIMEOUT": "1.5", "FUNC_RUNTIME": "python3.11", "FUNC_MEMORY_LIMIT": "128Mi", "FUNC_WORKERS": "2"},
    )
    proc.start()
    yield proc
    proc.stop()


def post(runtime: RuntimeProcess, data: object, path: str = "/", **headers: str) -> requests.Response:
    return requests.post(runtime.url + path, json=data, headers=headers, timeout=30)


def test_healthz_answers_ok(runtime: RuntimeProcess) -> None:
    resp = requests.get(runtime.url + "/healthz", timeout=5)
    assert resp.status_code == 200
    assert resp.text == "OK"


def test_post_json_calls_handler_with_kubeless_event_and_context(runtime: RuntimeProcess) -> None:
    resp = post(
        runtime,
        {"command": ["status", "list"], "args": {}},
        "/any/path",
        **{"event-id": "e-1", "event-type": "application/json", "event-time": "2024-01-01T00:00:00Z",
           "event-namespace": "cli.kf.kubeflow.org"},
    )
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert body["data"] == {"command": ["status", "list"], "args": {}}
    assert body["data_type"] == "dict"
    assert body["path"] == "/any/path"
    assert body["event"] == {"event-id": "e-1", "event-type": "application/json",
                             "event-time": "2024-01-01T00:00:00Z", "event-namespace": "cli.kf.kubeflow.org"}
    assert body["context"] == {"function-name": "handler", "timeout": 1.5, "runtime": "python3.11",
                               "memory-limit": "128Mi"}


def test_request_cannot_smuggle_trusted_kf_extensions(runtime: RuntimeProcess) -> None:
    # extensions.kf would make fnkit act locally with a kubeconfig: the runtime never takes it from a request.
    resp = post(runtime, {"extensions": {"kf": {"local": True}}}, **{"extensions": "kf"})
    assert resp.json()["extensions"] == ["request"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_every_method_on_any_path_reaches_the_handler(runtime: RuntimeProcess, method: str) -> None:
    resp = requests.request(method, runtime.url + "/some/where?x=1", timeout=30)
    assert resp.status_code == 200
    assert resp.json()["method"] == method
    assert resp.json()["query"] == {"x": ["1"]}


def test_non_json_body_arrives_as_bytes(runtime: RuntimeProcess) -> None:
    resp = requests.post(runtime.url + "/", data=b"name=value", timeout=30,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.json()["data_type"] == "bytes"
    assert resp.json()["data"] == "name=value"


def test_chunked_body_is_read(runtime: RuntimeProcess) -> None:
    resp = requests.post(runtime.url + "/", data=iter([b'{"a": ', b"1}"]), timeout=30,
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 200
    assert resp.json()["data"] == {"a": 1}


def test_invalid_json_is_a_400_saying_so(runtime: RuntimeProcess) -> None:
    resp = requests.post(runtime.url + "/", data=b"{not json", timeout=30,
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert "not valid JSON" in resp.json()["error"]["message"]


def test_handler_exception_is_a_500_json_error_and_the_server_lives_on(runtime: RuntimeProcess) -> None:
    resp = post(runtime, {"do": "raise", "message": "the cluster is on fire"})
    assert resp.status_code == 500
    assert resp.json() == {"error": {"reason": "FunctionError", "status": 500,
                                     "message": "the function raised ValueError: the cluster is on fire"}}
    assert post(runtime, {"do": "echo"}).status_code == 200


def test_hanging_handler_gets_408_and_its_worker_is_killed(runtime: RuntimeProcess, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    resp = post(runtime, {"do": "sleep", "seconds": 60, "pidfile": str(pidfile)})
    assert resp.status_code == 408
    assert time.monotonic() - started < 10
    assert resp.json()["error"]["reason"] == "Timeout"
    assert "did not finish within 1.5s" in resp.json()["error"]["message"]
    hung = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while _alive(hung):
        assert time.monotonic() < deadline, "the hung worker is still running"
        time.sleep(0.05)
    assert post(runtime, {"do": "echo"}).status_code == 200


def test_a_worker_that_dies_is_a_500_and_is_replaced(runtime: RuntimeProcess) -> None:
    resp = post(runtime, {"do": "exit"})
    assert resp.status_code == 500
    assert resp.json()["error"]["reason"] == "FunctionCrashed"
    assert "exit code 3" in resp.json()["error"]["message"]
    assert post(runtime, {"do": "echo"}).status_code == 200


def test_warm_worker_is_reused(function_dir: Path) -> None:
    proc = RuntimeProcess(function_dir, "behaviours", env={"FUNC_WORKERS": "1"})
    proc.start()
    try:
        pids = {post(proc, {"do": "echo"}).json()["worker_pid"] for _ in range(5)}
    finally:
        proc.stop()
    assert len(pids) == 1
    assert proc.pid not in pids  # the function runs in a worker, not in the server


@pytest.mark.parametrize(
    ("do", "status", "content_type", "body"),
    [
        ("text", 200, "text/plain; charset=utf-8", b"plain words"),
        ("bytes", 200, "application/octet-stream", b"\x00\x01binary"),
        ("print", 200, "text/plain; charset=utf-8", b""),
    ],
)
def test_result_types(runtime: RuntimeProcess, do: str, status: int, content_type: str, body: bytes) -> None:
    resp = post(runtime, {"do": do})
    assert (resp.status_code, resp.headers["Content-Type"], resp.content) == (status, content_type, body)


def test_error_result_carries_its_http_status(runtime: RuntimeProcess) -> None:
    resp = post(runtime, {"do": "error-result"})
    assert resp.status_code == 404
    assert resp.json()["error"]["message"] == "no such thing"


def test_result_that_is_not_json_is_a_clear_500(runtime: RuntimeProcess) -> None:
    resp = post(runtime, {"do": "not-json"})
    assert resp.status_code == 500
    assert "not JSON" in resp.json()["error"]["message"]


def test_function_prints_reach_the_log(runtime: RuntimeProcess) -> None:
    post(runtime, {"do": "print"})
    _wait_for(lambda: "a line the function printed" in runtime.log, "the print in the runtime's log")


def test_tokens_never_reach_logs_or_error_messages(runtime: RuntimeProcess) -> None:
    resp = post(runtime, {"do": "leak-token"}, **{"X-Kf-Caller-Token": TOKEN, "Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 500
    assert TOKEN not in resp.text
    assert "[redacted]" in resp.json()["error"]["message"]
    _wait_for(lambda: "the token is [redacted]" in runtime.log, "the redacted traceback in the log")
    assert TOKEN not in runtime.log


def test_caller_without_a_token_gets_401(runtime: RuntimeProcess) -> None:
    resp = post(runtime, {"do": "caller"})
    assert resp.status_code == 401
    assert resp.json()["error"]["reason"] == "Unauthorized"
    assert "no caller token" in resp.json()["error"]["message"]


def test_metrics_count_calls_failures_and_durations_by_method(function_dir: Path) -> None:
    proc = RuntimeProcess(function_dir, "behaviours", env={"FUNC_TIMEOUT": "5"})
    proc.start()
    try:
        post(proc, {"do": "echo"})
        post(proc, {"do": "raise"})
        requests.get(proc.url + "/x", timeout=30)
        requests.get(proc.url + "/healthz", timeout=30)
        resp = requests.get(proc.url + "/metrics", timeout=30)
    finally:
        proc.stop()
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = _parse_metrics(resp.text)
    assert samples['function_calls_total{method="POST"}'] == 2
    assert samples['function_calls_total{method="GET"}'] == 1
    assert samples['function_failures_total{method="POST"}'] == 1
    assert 'function_failures_total{method="GET"}' not in samples
    assert samples['function_duration_seconds_count{method="POST"}'] == 2
    assert samples['function_duration_seconds_bucket{le="+Inf",method="POST"}'] == 2
    assert samples['function_duration_seconds_sum{method="POST"}'] > 0
    assert "# TYPE function_duration_seconds histogram" in resp.text


def test_sigterm_stops_the_runtime_cleanly(function_dir: Path) -> None:
    proc = RuntimeProcess(function_dir, "behaviours")
    proc.start()
    assert proc.terminate() == 0


def test_env_port_is_used_when_no_flag(function_dir: Path) -> None:
    port = _free_port()
    proc = RuntimeProcess(function_dir, "behaviours", env={"FUNC_PORT": str(port)})
    proc.argv = [a for a in proc.argv if a not in ("--port", "0")]
    url = proc.start()
    try:
        assert url == f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


@pytest.mark.parametrize(
    ("module", "env", "status", "message"),
    [
        ("broken", {}, 1, "cannot load the function: importing"),
        ("nohandler", {}, 1, "has no function 'handler' (FUNC_HANDLER)"),
        ("missing", {}, 1, "no module 'missing'"),
        ("behaviours", {"FUNC_TIMEOUT": "soon"}, 2, "FUNC_TIMEOUT='soon' is not a number"),
        ("behaviours", {"MOD_NAME": ""}, 2, "MOD_NAME is not set"),
    ],
)
def test_bad_function_or_settings_fail_at_startup_in_one_line(
    function_dir: Path, module: str, env: dict[str, str], status: int, message: str
) -> None:
    proc = RuntimeProcess(function_dir, module, env=env)
    assert proc.wait_exit() == status
    last = proc.log.strip().splitlines()[-1]
    assert last.startswith("kf-runtime: ")
    assert message in last


def test_port_in_use_is_one_clear_line(function_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = RuntimeProcess(function_dir, "behaviours", port=taken.getsockname()[1])
        assert proc.wait_exit() == 1
    assert "cannot listen on 127.0.0.1:" in proc.log.strip().splitlines()[-1]


def _parse_metrics(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child not yet reaped is a zombie: it no longer runs anything.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[-1].startswith(("R", "S", "D"))


def _wait_for(check, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_json_content_type_with_charset_is_decoded(runtime: RuntimeProcess) -> None:
    resp = requests.post(runtime.url + "/", data=json.dumps({"a": 2}).encode(), timeout=30,
                         headers={"Content-Type": "application/json; charset=utf-8"})
    assert resp.json()["data"] == {"a": 2}
