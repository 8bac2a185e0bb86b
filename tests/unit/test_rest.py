"""kfshell.rest without a cluster: what goes on the wire, answers and errors, keep-alive, timeouts, watches.

A loopback HTTP/1.1 server plays the API server; what the real one does is tested in
tests/cluster/test_rest_client.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kfshell import clients, cluster, rest
from kfshell.errors import CommandFailed, Unreachable, UsageError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API server

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        server = self.server
        server.seen.append((self.command, self.path, list(self.headers.items()), self.client_address))
        if self.path.startswith("/block"):
            server.release.wait(10)
        if self.path.startswith("/missing"):
            self._send(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                             "message": 'namespaces "nope" not found'})
        elif self.path.startswith("/watch"):
            self._watch()
        elif self.path.startswith("/close"):
            self._send(200, {"kind": "Closing"})
            self.close_connection = True
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            self._send(200, {"kind": "Echo", "path": self.path, "body": body})

    do_POST = do_GET
    do_DELETE = do_GET

    def _send(self, status: int, obj: object) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _watch(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = b"".join(json.dumps({"type": "ADDED", "object": {"metadata": {"name": f"n{i}"}}}).encode() + b"\n"
                          for i in range(3))
        for piece in (events[:10], events[10:70], events[70:]):  # lines split across chunks
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        if self.path.startswith("/watch-open"):
            self.server.release.wait(10)  # the watch stays open until the test lets go
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.seen = []  # type: ignore[attr-defined]
    httpd.release = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()  # type: ignore[attr-defined]
    httpd.shutdown()
    httpd.server_close()


def url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def header(seen: tuple, name: str) -> list[str]:
    return [v for k, v in seen[2] if k.lower() == name.lower()]


def test_json_in_and_out_with_the_token_and_a_clean_query(server):
    api = rest.RestClient(url(server) + "/prefix/", token="s3cret")
    answer = cluster.request_json(api, "POST", "/api/v1/things", body={"a": 1},
                                  query={"dryRun": "All", "watch": False, "limit": 5, "continue": None})
    assert answer == {"kind": "Echo", "path": "/prefix/api/v1/things?dryRun=All&watch=false&limit=5",
                      "body": {"a": 1}}
    seen = server.seen[0]
    assert header(seen, "Authorization") == ["Bearer s3cret"]
    assert header(seen, "Content-Type") == ["application/json"]
    assert header(seen, "Accept") == ["application/json"]
    assert cluster.bearer_token(api) == "s3cret" and cluster.server_of(api) == url(server) + "/prefix/"
    assert "s3cret" not in repr(api)


def test_an_error_answer_is_an_api_error_with_the_servers_status(server):
    api = rest.RestClient(url(server))
    with pytest.raises(cluster.ApiError) as caught:
        cluster.request_json(api, "GET", "/missing")
    assert caught.value.status == 404
    assert cluster.api_status(caught.value)["reason"] == "NotFound"
    err = cluster.translate(caught.value)
    assert isinstance(err, CommandFailed) and (err.reason, err.message) == ("NotFound", 'namespaces "nope" not found')


@pytest.mark.parametrize(("status", "message", "reason"), [
    (401, "Unauthorized", "Unauthorized"),
    (403, 'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "x"',
     "Forbidden"),
    (404, 'namespaces "x" not found', "NotFound"),
    (409, "already exists", "AlreadyExists"),
    (422, "bad", "Invalid"),
    (500, "etcd is down", "InternalError"),
])
def test_api_errors_translate_exactly_as_the_kubernetes_clients_did(status, message, reason):
    from kubernetes.client.exceptions import ApiException

    body = json.dumps({"kind": "Status", "message": message, "reason": reason, "code": status})
    theirs = ApiException(status=status, reason=reason)
    theirs.body = body
    ours = rest.ApiError(status, reason, body.encode())
    mine, old = cluster.translate(ours), cluster.translate(theirs)
    assert (type(mine), mine.message, mine.reason, mine.hint, mine.exit_status) == (
        type(old), old.message, old.reason, old.hint, old.exit_status)


def test_errors_are_also_kubernetes_api_exceptions_once_kubernetes_is_loaded(server):
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as caught:  # code still catching ApiException keeps working
        cluster.request_json(rest.RestClient(url(server)), "GET", "/missing")
    assert isinstance(caught.value, cluster.ApiError) and caught.value.status == 404


def test_connections_are_reused_and_a_closed_one_is_replaced(server):
    api = rest.RestClient(url(server))
    for _ in range(3):
        cluster.request_json(api, "GET", "/api")
    assert len({seen[3] for seen in server.seen}) == 1  # one client port: one connection
    cluster.request_json(api, "GET", "/close")  # the server closes it after answering
    assert cluster.request_json(api, "GET", "/api")["kind"] == "Echo"
    assert [seen[1] for seen in server.seen] == ["/api", "/api", "/api", "/close", "/api"]


def test_parallel_calls_each_get_an_answer(server):
    api = rest.RestClient(url(server), pool_size=2)
    answers = cluster.parallel(lambda i: cluster.request_json(api, "GET", f"/api/{i}")["path"], range(12))
    assert answers == [f"/api/{i}" for i in range(12)]


def test_a_server_that_stops_answering_is_unreachable_after_the_read_timeout(server):
    api = rest.RestClient(url(server), read_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(rest.ReadTimeoutError) as caught:
        cluster.request_json(api, "GET", "/block")
    assert time.monotonic() - started < 3
    err = cluster.translate(caught.value)
    assert isinstance(err, Unreachable) and err.exit_status == 3
    assert err.message == f"the cluster at 127.0.0.1:{server.server_address[1]} stopped answering (read timed out)"


def test_a_watch_streams_lines_as_they_come(server):
    api = rest.RestClient(url(server))
    response = api.stream("GET", "/watch", query={"watch": True})
    pending, names = b"", []
    for chunk in response.stream(16):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        names += [json.loads(line)["object"]["metadata"]["name"] for line in lines if line]
    assert names == ["n0", "n1", "n2"]


def test_shutdown_stops_a_watch_blocked_in_another_thread(server):
    response = rest.RestClient(url(server)).stream("GET", "/watch-open")
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.extend(response.stream()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 5
    # The three events arrive in several chunks: shut down only once all are in and the watch just waits.
    while b"".join(received).count(b"\n") < 3 and time.monotonic() < deadline:
        reader.join(0.05)
    response.shutdown()
    reader.join(5)
    assert not reader.is_alive() and b"".join(received).count(b"\n") == 3


def test_the_kubernetes_call_shape_still_works_for_old_callers(server):
    api = rest.RestClient(url(server), token="t")
    method, target, headers, body, post = api.param_serialize("POST", "/x", query_params=[("a", "b")],
                                                              header_params={"X-One": "1"}, body={"k": "v"})
    response = api.call_api(method, target, headers, body, post, _request_timeout=(3, 5))
    assert response.status == 200 and json.loads(response.read())["path"] == "/x?a=b"
    api.rest_client.pool_manager.connection_pool_kw["maxsize"] = 32  # completion's roomy_client
    with pytest.raises(AttributeError):
        api.configuration  # noqa: B018 - a RestClient is no kubernetes ApiClient


def test_token_files_are_read_again_after_a_while(tmp_path):
    path = tmp_path / "token"
    path.write_text("first\n")
    current = clients.file_token(str(path), max_age=0)
    assert current() == "first"
    path.write_text("rotated")
    assert current() == "rotated"


def kubeconfig_file(tmp_path: Path, user: str, server: str = "https://127.0.0.1:1") -> cluster.KubeConfig:
    path = tmp_path / "config"
    path.write_text(f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
                    f"users: [{{name: u, user: {user}}}]\n"
                    "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n")
    return cluster.load_kubeconfig(str(path))


def test_basic_auth_users(server, tmp_path):
    api = cluster.api_client(kubeconfig_file(tmp_path, "{username: ann, password: pw}", url(server)))
    cluster.request_json(api, "GET", "/api")
    assert header(server.seen[0], "Authorization") == ["Basic YW5uOnB3"]
    assert cluster.bearer_token(api) is None


@pytest.mark.parametrize("user", [
    "{client-certificate-data: bm90IGEgY2VydGlmaWNhdGU=, client-key-data: bm90IGEga2V5}",
    "{client-certificate: /nonexistent/cert.pem, client-key: /nonexistent/key.pem}",
    "{client-certificate-data: '***not base64***'}",
])
def test_unusable_client_certificates_are_a_kubeconfig_problem(tmp_path, user):
    with pytest.raises(UsageError) as caught:
        cluster.api_client(kubeconfig_file(tmp_path, user))
    assert caught.value.reason == "BadKubeconfig" and caught.value.exit_status == 2
    assert caught.value.message.startswith("cannot use context 'x': ")


def test_in_cluster_credentials_come_from_the_pod(tmp_path):
    with pytest.raises(UsageError):
        cluster.in_cluster_client(environ={}, account_dir=str(tmp_path))
    (tmp_path / "ca.crt").write_text(_self_signed_pem())
    (tmp_path / "token").write_text("pod-token\n")
    api = cluster.in_cluster_client(environ={"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"},
                                    account_dir=str(tmp_path))
    assert cluster.server_of(api) == "https://[fd00::1]:443" and cluster.bearer_token(api) == "pod-token"


def _self_signed_pem() -> str:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_commands_never_import_kubernetes(server, tmp_path):
    """Client, calls, errors and the status function: none of them loads kubernetes, urllib3 or requests."""
    config = tmp_path / "config"
    config.write_text(f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: '{url(server)}'}}}}]\n"
                      "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                      "current-context: x\n")
    script = (
        "import sys\n"
        "from kfshell import cluster, fnkit\n"
        "import functions.status\n"
        f"api = cluster.api_client(cluster.load_kubeconfig({str(config)!r}))\n"
        "cluster.request_json(api, 'GET', '/api')\n"
        "try:\n"
        "    cluster.request_json(api, 'GET', '/missing')\n"
        "except cluster.ApiError as err:\n"
        "    cluster.translate(err)\n"
        "heavy = {'kubernetes', 'urllib3', 'requests', 'concurrent.futures'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_exec_plugins_run_without_kubernetes_and_kf_makes_the_calls(server, tmp_path):
    plugin = tmp_path / "plugin.py"
    plugin.write_text("import json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
                      "'kind': 'ExecCredential', 'status': {'token': 'from-plugin'}}))\n")
    user = (f"{{exec: {{apiVersion: client.authentication.k8s.io/v1, command: {sys.executable}, "
            f"args: ['{plugin}'], interactiveMode: Never}}}}")
    api = cluster.api_client(kubeconfig_file(tmp_path, user, url(server)))
    assert isinstance(api, rest.RestClient) and cluster.bearer_token(api) == "from-plugin"
    cluster.request_json(api, "GET", "/api")
    assert header(server.seen[0], "Authorization") == ["Bearer from-plugin"]
