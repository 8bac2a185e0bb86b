"""`kf open` through the API server's websocket port-forward. KWOK's PortForward object for the pod sends
its port to a small HTTP server here, standing in for Jupyter."""

from __future__ import annotations

import http.server
import re
import signal
import socket
import threading
import time
import urllib.request

import pytest

from tests.cluster.pod_helpers import kf, make_pod, spawn, wait_ready


class StandIn(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        body = f"jupyter stand-in at {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def jupyter():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def notebook(admin, namespace, jupyter):
    from kubernetes import client

    make_pod(admin, namespace, "nb-0", labels={"notebook-name": "nb"}, containers=("nb",),
             env=[{"name": "NB_PREFIX", "value": f"/notebook/{namespace}/nb"}],
             ports=[{"containerPort": 8888, "name": "notebook-port"}])
    client.CustomObjectsApi(admin).create_namespaced_custom_object(
        "kwok.x-k8s.io", "v1alpha1", namespace, "portforwards",
        {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "PortForward", "metadata": {"name": "nb-0"},
         "spec": {"forwards": [{"ports": [8888], "target": {"address": "127.0.0.1", "port": jupyter}}]}})
    wait_ready(admin, namespace, "nb-0")
    return "nb"


def _url(process, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        found = re.search(rb"http://\S+", line)
        if found:
            return found.group(0).decode()
        if not line and process.poll() is not None:
            break
    pytest.fail(f"kf open printed no URL (last {line!r}; stderr {process.stderr.read()!r})")


def _get(url: str, attempts: int = 20) -> str:
    for _ in range(attempts):  # KWOK learns of a new PortForward object through a watch
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return answer.read().decode()
        except OSError as err:
            last = err
        time.sleep(0.25)
    raise AssertionError(f"no HTTP answer from {url}: {last}")


def test_open_answers_http_through_the_api_server_and_ctrl_c_frees_the_port(kubeconfig, tmp_path, namespace,
                                                                             notebook):
    opener = spawn(kubeconfig, tmp_path, "kf-alice", namespace, "open", notebook, "--no-browser")
    try:
        url = _url(opener)
        assert url.endswith(f"/notebook/{namespace}/nb/")
        assert _get(url) == f"jupyter stand-in at /notebook/{namespace}/nb/"
        assert _get(url) == f"jupyter stand-in at /notebook/{namespace}/nb/"  # a second connection
    finally:
        opener.send_signal(signal.SIGINT)
        opener.wait(30)
    assert opener.returncode == 130
    port = int(url.split(":")[2].split("/")[0])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # free again


def test_bob_is_refused_port_forward(kubeconfig, tmp_path, namespace, notebook):
    done = kf(kubeconfig, tmp_path, "kf-bob", namespace, "open", notebook, "--no-browser")
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "create pods/portforward" in lines[0], lines
