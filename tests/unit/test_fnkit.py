"""fnkit and cluster.translate without a cluster: requests, results, and how failures become results."""

from __future__ import annotations

import json
import socket
import time

import pytest
from kubernetes.client.exceptions import ApiException

from kfshell import cluster, fnkit
from kfshell.errors import CommandFailed, CredentialsRefused, ExitStatus, Unreachable, UsageError


def api_error(status: int, message: str = "", reason: str = "", details: dict | None = None) -> ApiException:
    """An ApiException as the client raises it for an API server's Status answer."""
    err = ApiException(status=status, reason=reason or "Error")
    err.body = json.dumps({"kind": "Status", "status": "Failure", "message": message, "reason": reason,
                           "details": details or {}, "code": status})
    return err


def test_request_from_dict_or_json_text():
    data = {"command": ["status", "list"], "args": {"component": "x"}, "namespace": "alice", "context": "kf-alice"}
    for given in (data, json.dumps(data)):
        req = fnkit.request({"data": given})
        assert req.command == ("status", "list") and req.subcommand == "list"
        assert req.arg("component") == "x" and req.arg("missing", 3) == 3
        assert (req.namespace, req.context, req.output) == ("alice", "kf-alice", "table")


def test_request_defaults_and_bad_json():
    assert fnkit.request({}).namespace == "default"
    with pytest.raises(fnkit.FunctionError) as caught:
        fnkit.request({"data": "{not json"})
    assert caught.value.reason == "BadRequest"


def test_result_shapes():
    assert fnkit.table(["A"], [("x",)], ["B"]) == {"kind": "table", "columns": ["A"], "rows": [["x"]],
                                                    "wide_columns": ["B"]}
    assert fnkit.message("hi") == {"kind": "message", "text": "hi"}
    assert fnkit.object({"a": 1}) == {"kind": "object", "object": {"a": 1}}


@pytest.mark.parametrize(("reason", "status", "exit_status"), [
    ("Usage", 400, 2), ("Unauthorized", 401, 3), ("Unreachable", 503, 3), ("Forbidden", 403, 1),
    ("NotFound", 404, 1), ("Invalid", 422, 1), ("Whatever", 500, 1),
])
def test_fail_picks_status_and_exit_status(reason, status, exit_status):
    result = fnkit.fail(reason, "why", hint="do this")
    assert result["error"] == {"reason": reason, "message": "why", "status": status, "hint": "do this"}
    assert result["exit_status"] == exit_status


def test_forbidden_says_who_verb_resource_and_namespace():
    err = cluster.translate(api_error(
        403, 'deployments.apps is forbidden: User "bob" cannot list resource "deployments" in API group "apps" '
             'in the namespace "kubeflow"', "Forbidden"))
    assert isinstance(err, CommandFailed) and err.reason == "Forbidden"
    assert err.message == "bob may not list deployments.apps in namespace kubeflow"


def test_forbidden_cluster_scope_and_namespaces():
    err = cluster.translate(api_error(
        403, 'profiles.kubeflow.org is forbidden: User "bob" cannot create resource "profiles" in API group '
             '"kubeflow.org" at the cluster scope', "Forbidden"))
    assert err.message == "bob may not create profiles.kubeflow.org cluster-wide"
    err = cluster.translate(api_error(
        403, 'namespaces "alice" is forbidden: User "alice" cannot delete resource "namespaces" in API group "" '
             'in the namespace "alice"', "Forbidden"))
    assert err.message == "alice may not delete namespace alice"


def test_status_codes_map_to_kf_errors():
    assert isinstance(cluster.translate(api_error(401, "Unauthorized", "Unauthorized")), CredentialsRefused)
    notfound = cluster.translate(api_error(404, 'namespaces "x" not found', "NotFound"))
    assert notfound.reason == "NotFound" and notfound.message == 'namespaces "x" not found'
    assert cluster.translate(api_error(422, "bad", "Invalid")).reason == "Invalid"
    assert cluster.translate(api_error(409, "exists", "AlreadyExists")).reason == "AlreadyExists"
    plain = ApiException(status=404, reason="Not Found")
    plain.body = "404 page not found"
    assert "does not serve" in cluster.translate(plain).message
    assert isinstance(cluster.translate(ApiException(status=0, reason="no answer")), Unreachable)


def test_unknown_exceptions_become_internal_errors_not_crashes():
    err = cluster.translate(ValueError("boom"))
    assert isinstance(err, CommandFailed) and err.reason == "InternalError" and "boom" in err.message


def test_error_result_for_api_exceptions_and_kf_errors():
    result = fnkit.error_result(api_error(401, "Unauthorized", "Unauthorized"))
    assert result["error"]["reason"] == "Unauthorized" and result["exit_status"] == ExitStatus.UNREACHABLE
    result = fnkit.error_result(UsageError("bad name"))
    assert result["error"]["reason"] == "Usage" and result["exit_status"] == ExitStatus.USAGE


def test_entrypoint_turns_failures_into_results_and_lets_bugs_through():
    @fnkit.entrypoint
    def failing(event, context):
        raise fnkit.FunctionError("NotFound", "no such thing", hint="try another")

    assert failing({}, {}) == {"error": {"reason": "NotFound", "message": "no such thing", "status": 404,
                                         "hint": "try another"}, "exit_status": 1}

    @fnkit.entrypoint
    def api_failing(event, context):
        raise api_error(403, 'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the '
                             'namespace "x"', "Forbidden")

    assert api_failing({}, {})["error"]["message"] == "bob may not list pods in namespace x"

    @fnkit.entrypoint
    def buggy(event, context):
        raise KeyError("bug")

    with pytest.raises(KeyError):
        buggy({}, {})


def test_not_found_suggests_nearest_names():
    err = fnkit.not_found("component", "jupyter-web", ["jupyter-web-app", "centraldashboard"], "kubeflow")
    assert err.message == "component 'jupyter-web' not found in namespace kubeflow"
    assert err.hint == "did you mean jupyter-web-app?"
    assert fnkit.not_found("component", "zzz", ["a", "b"]).hint == "there are: a, b"


def test_check_name_is_a_usage_error():
    assert fnkit.check_name("my-project") == "my-project"
    with pytest.raises(fnkit.FunctionError) as caught:
        fnkit.check_name("My_Project", "project")
    assert caught.value.reason == "Usage" and caught.value.exit_status == 2
    assert "upper-case" in caught.value.message


def test_wait_for_polls_until_true_or_deadline():
    calls = []
    assert fnkit.wait_for(lambda: calls.append(1) or len(calls) >= 3, timeout=5, interval=0.01)
    assert len(calls) == 3
    started = time.monotonic()
    assert not fnkit.wait_for(lambda: False, timeout=0.1, interval=0.02)
    assert time.monotonic() - started < 1


def test_local_event_reads_kubeconfig_with_kubeconfig_semantics(tmp_path):
    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                    "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                    "current-context: x\n")
    event = {"extensions": {"kf": {"local": True, "kubeconfig": f"{tmp_path / 'missing'}:{path}", "context": None}}}
    assert fnkit.is_local(event)
    assert fnkit.kubeconfig(event).server() == "https://127.0.0.1:1"
    assert fnkit.kubeconfig({"extensions": {}}) is None


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_fails_fast_with_exit_3(tmp_path):
    port = closed_port()
    path = tmp_path / "config"
    path.write_text(f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}',"
                    " insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: secret-token}}]\n"
                    "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n")
    api = cluster.api_client(cluster.load_kubeconfig(str(path)))
    assert cluster.bearer_token(api) == "secret-token"
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        cluster.request_json(api, "GET", "/api/v1/namespaces")
    err = cluster.translate(caught.value)
    assert time.monotonic() - started < 5
    assert isinstance(err, Unreachable) and err.exit_status == 3
    assert f"127.0.0.1:{port}" in err.message and "refused" in err.message
    assert "secret-token" not in err.one_line()


def test_tls_failures_are_unreachable_on_one_line():
    # The generated client reports urllib3's SSLError as an ApiException with status 0 and a two-line reason.
    err = cluster.translate(ApiException(
        status=0, reason="SSLError\n[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get "
                         "local issuer certificate (_ssl.c:1006)"))
    assert isinstance(err, Unreachable) and err.exit_status == 3
    assert err.one_line() == ("kf: TLS with the cluster failed: certificate verify failed: unable to get local "
                              "issuer certificate (check the kubeconfig's certificate authority)")
