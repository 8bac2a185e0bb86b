"""How a Kubeless call's HTTP answer becomes a result or a KfError (no cluster: the answers are given)."""

from __future__ import annotations

import json

import pytest

from kfshell.dispatch import kubeless
from kfshell.errors import CommandFailed, CredentialsRefused, ExitStatus


def answer(status: int, body: object, ns: str = "team", name: str = "kf-status") -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return kubeless._result(status, raw, ns, name, "http-function-port", 30)


def status_object(code: int, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}


def test_a_result_dict_is_returned_as_it_is() -> None:
    table = {"kind": "table", "columns": ["NAME"], "rows": [["a"]]}
    assert answer(200, table) == table


def test_the_functions_own_error_result_is_returned_with_any_status() -> None:
    error = {"error": {"reason": "Forbidden", "message": "alice may not list pods", "status": 403}}
    assert answer(403, error) == error


def test_plain_text_becomes_a_message() -> None:
    assert answer(200, b"hello") == {"kind": "message", "text": "hello"}


def test_other_json_becomes_an_object() -> None:
    assert answer(200, [1, 2]) == {"kind": "object", "object": [1, 2]}


@pytest.mark.parametrize("body", [b"Timeout while processing the function",
                                  {"error": {"reason": "Timeout", "message": "x", "status": 408}}])
def test_408_is_a_timeout_with_exit_status_1(body: object) -> None:
    with pytest.raises(CommandFailed) as err:
        answer(408, body)
    assert err.value.reason == "Timeout"
    assert err.value.exit_status == ExitStatus.FAILED
    assert err.value.one_line() == ("kf: function team/kf-status did not finish within 30s "
                                    "(it was stopped; try again, or raise its timeout)")


def test_proxy_403_says_which_permission_is_missing() -> None:
    with pytest.raises(CommandFailed) as err:
        answer(403, status_object(403, 'services "kf-status:http-function-port" is forbidden: User "bob" cannot'))
    assert err.value.message == "you may not call this function: needs services/proxy on service kf-status " \
                                "in namespace team"
    assert "kf-status:http-function-port" in err.value.hint


def test_proxy_401_is_refused_credentials_exit_3() -> None:
    with pytest.raises(CredentialsRefused) as err:
        answer(401, status_object(401, "Unauthorized"))
    assert err.value.exit_status == ExitStatus.UNREACHABLE


def test_no_endpoints_is_not_ready() -> None:
    with pytest.raises(CommandFailed) as err:
        answer(503, status_object(503, 'no endpoints available for service "kf-status"'))
    assert err.value.message == "function team/kf-status is not ready: its Service has no endpoints"


def test_unreachable_runtime_names_the_proxys_reason() -> None:
    with pytest.raises(CommandFailed) as err:
        answer(503, status_object(503, "error trying to reach service: dial tcp 10.250.3.2:8080: connect: "
                                       "connection refused"))
    assert err.value.reason == "Unavailable"
    assert "connection refused" in err.value.message


def test_an_unexpected_answer_is_reported_briefly() -> None:
    with pytest.raises(CommandFailed) as err:
        answer(502, b"<html>" + b"x" * 5000 + b"</html>")
    assert err.value.message.startswith("function team/kf-status answered HTTP 502: <html>")
    assert len(err.value.message) < 400


def test_function_ref_reads_labels_spec_annotation_and_spec() -> None:
    ref = kubeless._function_ref({
        "metadata": {"name": "kf-status", "namespace": "kf-system",
                     "labels": {kubeless.SUBCOMMAND_LABEL: "status"},
                     "annotations": {kubeless.SPEC_ANNOTATION: json.dumps({"name": "status", "timeout": 30})}},
        "spec": {"handler": "status.handler", "runtime": "python3.11", "checksum": "sha256:ab", "timeout": "30"},
    })
    assert (ref.origin, ref.subcommand, ref.handler, ref.timeout) == ("kf-system/kf-status", "status",
                                                                     "status.handler", 30.0)
    assert ref.spec == {"name": "status", "timeout": 30}


def test_a_broken_spec_annotation_does_not_hide_the_function() -> None:
    ref = kubeless._function_ref({"metadata": {"name": "f", "namespace": "n",
                                               "annotations": {kubeless.SPEC_ANNOTATION: "{not json"}},
                                  "spec": {}})
    assert ref.name == "f" and ref.spec is None
