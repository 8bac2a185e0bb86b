"""Acting as the caller: finding the token in a request, and the headers an impersonating client sends.

The TokenReview and the API server's answer to impersonation are tested on the dev cluster
(tests/cluster/test_kubeless_caller.py); here, what goes on the wire, captured by a loopback server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kfshell.cluster import request_json
from kfshell.rest import RestClient
from kfshell.runtime.caller import (
    CallerError,
    ImpersonationUnsupported,
    caller_token,
    client_for_request,
    request_credentials,
)
from kfshell.runtime.request import FunctionRequest, Headers


def request_with(**headers: str) -> FunctionRequest:
    return FunctionRequest("POST", "/", Headers(headers.items()))


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ({"X-Kf-Caller-Token": "abc.def"}, "abc.def"),
        ({"x-kf-caller-token": "Bearer abc.def"}, "abc.def"),
        ({"Authorization": "Bearer from-auth"}, "from-auth"),
        ({"X-Kf-Caller-Token": "kf-header", "Authorization": "Bearer from-auth"}, "kf-header"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, None),
        ({"Authorization": "naked-token"}, None),
        ({}, None),
    ],
)
def test_caller_token_comes_from_kf_header_then_authorization(headers: dict[str, str], token: str | None) -> None:
    assert caller_token(request_with(**headers)) == token


def test_caller_token_reads_plain_header_mappings_too() -> None:
    assert caller_token({"x-kf-caller-token": "t0ken-value"}) == "t0ken-value"


def test_request_credentials_lists_every_form_for_redaction() -> None:
    request = request_with(**{"X-Kf-Caller-Token": "secret-one", "Authorization": "Bearer two-secret"})
    creds = request_credentials(request)
    assert {"secret-one", "two-secret", "Bearer two-secret"} <= set(creds)


def test_no_token_is_a_401_error_result() -> None:
    with pytest.raises(CallerError) as err:
        client_for_request({"data": {}, "extensions": {"request": request_with()}})
    result = err.value.to_result()["error"]
    assert result["status"] == 401
    assert result["reason"] == "Unauthorized"
    assert "X-Kf-Caller-Token" in result["message"]


def test_function_without_credentials_says_so_without_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KF_RUNTIME_KUBECONFIG", "/nonexistent/kubeconfig")
    token = "very-secret-token-value"
    with pytest.raises(CallerError) as err:
        client_for_request({"extensions": {"request": request_with(**{"X-Kf-Caller-Token": token})}})
    assert err.value.status == 500
    assert "KF_RUNTIME_KUBECONFIG" in err.value.message
    assert token not in err.value.message


class _Capture(BaseHTTPRequestHandler):
    seen: list[list[tuple[str, str]]]

    def do_GET(self) -> None:
        self.server.seen.append(list(self.headers.items()))  # type: ignore[attr-defined]
        body = json.dumps({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _impersonating(server: ThreadingHTTPServer, user: str, groups: tuple[str, ...]) -> RestClient:
    return RestClient(f"http://127.0.0.1:{server.server_address[1]}", token="function-token").impersonating(
        user, groups)


def test_every_call_impersonates_user_and_each_group_on_its_own_line(capture: ThreadingHTTPServer) -> None:
    api = _impersonating(capture, "alice", ("kubeflow-users", "system:authenticated"))
    request_json(api, "GET", "/api/v1/namespaces")
    request_json(api, "POST", "/api/v1/namespaces", body={"metadata": {"name": "x"}})
    assert len(capture.seen) == 2  # type: ignore[attr-defined]
    for headers in capture.seen:  # type: ignore[attr-defined]
        assert [v for k, v in headers if k.lower() == "impersonate-user"] == ["alice"]
        assert [v for k, v in headers if k.lower() == "impersonate-group"] == ["kubeflow-users", "system:authenticated"]
        assert [v for k, v in headers if k.lower() == "authorization"] == ["Bearer function-token"]


def test_impersonation_cannot_be_widened_by_extra_headers(capture: ThreadingHTTPServer) -> None:
    api = _impersonating(capture, "bob", ())
    request_json(api, "GET", "/api/v1/namespaces",
                 headers={"Impersonate-User": "admin", "Impersonate-Group": "system:masters"})
    headers = capture.seen[0]  # type: ignore[attr-defined]
    assert [v for k, v in headers if k.lower() == "impersonate-user"] == ["bob"]
    assert [v for k, v in headers if k.lower() == "impersonate-group"] == []


def test_the_function_own_client_does_not_impersonate(capture: ThreadingHTTPServer) -> None:
    service = RestClient(f"http://127.0.0.1:{capture.server_address[1]}", token="function-token")
    service.impersonating("alice", ("g",))
    request_json(service, "GET", "/api/v1/namespaces")
    headers = capture.seen[0]  # type: ignore[attr-defined]
    assert not [k for k, _ in headers if k.lower().startswith("impersonate-")]


def test_websocket_calls_are_refused_rather_than_run_as_the_function(capture: ThreadingHTTPServer) -> None:
    from kubernetes import client
    from kubernetes.stream import stream

    api = _impersonating(capture, "alice", ())
    with pytest.raises(ImpersonationUnsupported) as err:
        stream(client.CoreV1Api(api).connect_get_namespaced_pod_exec, "pod", "ns", command=["id"])
    assert err.value.to_result()["error"]["status"] == 501
    assert capture.seen == []  # type: ignore[attr-defined]
