"""Kubeless dispatch end to end: a Function run by the function controller in a pod of the dev cluster's pod
stand-in, called through the real API server's service proxy by alice and bob, acting as them (TokenReview +
impersonation with the pod's service-account token)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kfshell.dispatch import kubeless
from kfshell.errors import CommandFailed, ExitStatus
from tests.cluster.nethost import FunctionHost, function_object

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]

PROBE = '''
import os
import time


def handler(event, context):
    data = event["data"]
    do = data.get("do", "echo")
    if do == "echo":
        return {"kind": "object", "object": {
            "data": data, "event-namespace": event["event-namespace"], "event-type": event["event-type"],
            "has-event-id": bool(event["event-id"]), "has-event-time": bool(event["event-time"]),
            "function-name": context["function-name"], "timeout": context["timeout"],
        }}
    if do == "sleep":
        time.sleep(data["seconds"])
        return {"kind": "message", "text": "woke up"}
    from kfshell import cluster
    from kfshell.runtime import caller

    if do == "whoami":
        who = cluster.whoami(caller.client_for_request(event))
        return {"kind": "object", "object": {"user": who.user, "groups": list(who.groups)}}
    if do in ("read-secret", "read-secret-as-function"):
        if do == "read-secret":
            api = caller.client_for_request(event)
        else:
            api = caller.service_client(os.environ.get("KF_RUNTIME_KUBECONFIG"))  # in a pod: in-cluster
        path = f"/api/v1/namespaces/{data['namespace']}/secrets/{data['name']}"
        try:
            secret = cluster.request_json(api, "GET", path)
        except cluster.ApiError as exc:
            return {"error": {"reason": "Forbidden" if exc.status == 403 else "Failed",
                              "message": cluster.api_status(exc).get("message", ""), "status": exc.status}}
        return {"kind": "object", "object": {"keys": sorted(secret.get("data", {}))}}
    return {"error": {"reason": "Invalid", "message": "unknown", "status": 400}}
'''


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kubeless")
    (path / "probe.py").write_text(PROBE)
    return path


def deploy(admin, namespace: str, name: str, subcommand: str, source: str, timeout: int = 30) -> None:
    from kubernetes import client

    client.CustomObjectsApi(admin).create_namespaced_custom_object(
        "kubeless.io", "v1beta1", namespace, "functions",
        function_object(name, subcommand, source, handler="probe.handler", timeout=timeout))


@pytest.fixture
def probe(admin, namespace: str, probe_dir: Path) -> Iterator[FunctionHost]:
    """The probe function deployed as subcommand `probe` in the test namespace, with wide rights of its own."""
    deploy(admin, namespace, "kf-probe", "probe", PROBE)
    with FunctionHost(admin, namespace, "kf-probe", probe_dir, "probe", timeout=2,
                      extra_cluster_roles=("cluster-admin",)) as host:
        yield host


def test_alice_calls_the_function_through_the_service_proxy(alice, namespace: str, probe: FunctionHost) -> None:
    ref = kubeless.find_function(alice, [namespace, kubeless.KF_SYSTEM], "probe")
    assert ref is not None
    assert (ref.namespace, ref.name, ref.handler) == (namespace, "kf-probe", "probe.handler")
    assert ref.checksum.startswith("sha256:")
    # Ready, and the EndpointSlice names the port, so the dispatcher calls without reading the Service.
    found = kubeless.readiness(alice, namespace, ref.name)
    assert found == kubeless.Readiness(True, kubeless.KUBELESS_PORT_NAME)
    request = {"command": ["probe"], "args": {"x": 1}, "namespace": namespace, "context": "kf-alice"}
    result = kubeless.call_function(alice, namespace, ref.name, request, timeout=10, port=found.port)
    assert result == {"kind": "object", "object": {
        "data": request, "event-namespace": kubeless.EVENT_NAMESPACE, "event-type": "application/json",
        "has-event-id": True, "has-event-time": True, "function-name": "kf-probe", "timeout": 2.0}}


def test_the_function_acts_as_its_caller(alice, bob, namespace: str, probe: FunctionHost) -> None:
    as_alice = kubeless.call_function(alice, namespace, "kf-probe", {"do": "whoami"})
    assert as_alice["object"]["user"] == "alice"
    assert "system:authenticated" in as_alice["object"]["groups"]


def test_alice_cannot_make_the_function_read_what_only_admin_may(admin, alice, namespace: str,
                                                                   probe: FunctionHost) -> None:
    from kubernetes import client

    core = client.CoreV1Api(admin)
    private = f"kf-test-private-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": private, "labels": {"kf.kubeflow.org/test": "true"}}})
    try:
        core.create_namespaced_secret(private, {"metadata": {"name": "admin-only"},
                                                "data": {"password": base64.b64encode(b"hunter2").decode()}})
        where = {"namespace": private, "name": "admin-only"}
        # The function itself may read it (it is bound to cluster-admin) ...
        own = kubeless.call_function(alice, namespace, "kf-probe", {"do": "read-secret-as-function", **where})
        assert own == {"kind": "object", "object": {"keys": ["password"]}}
        # ... but acting for alice it is refused, as alice would be.
        refused = kubeless.call_function(alice, namespace, "kf-probe", {"do": "read-secret", **where})
        assert refused["error"]["status"] == 403
        assert 'User "alice" cannot get resource "secrets"' in refused["error"]["message"]
    finally:
        core.delete_namespace(private)
    # What alice may read, the function reads for her.
    core.create_namespaced_secret(namespace, {"metadata": {"name": "alices"}, "data": {"k": "dg=="}})
    mine = kubeless.call_function(alice, namespace, "kf-probe", {"do": "read-secret", "namespace": namespace,
                                                                 "name": "alices"})
    assert mine == {"kind": "object", "object": {"keys": ["k"]}}


def test_a_forged_caller_token_is_refused_with_401(alice, namespace: str, probe: FunctionHost) -> None:
    from kfshell import cluster

    path = f"/api/v1/namespaces/{namespace}/services/kf-probe:http-function-port/proxy/"
    method, url, headers, body, post = alice.param_serialize(
        "POST", path, header_params={"Content-Type": "application/json", "X-Kf-Caller-Token": "not-a-real-token"},
        body={"do": "whoami"}, auth_settings=["BearerToken"])
    response = alice.call_api(method, url, headers, body, post, _request_timeout=(cluster.CONNECT_TIMEOUT, 15))
    assert response.status == 401
    answer = json.loads(response.read())
    assert "not accepted by the API server" in answer["error"]["message"]
    assert "not-a-real-token" not in probe.runtime.log


def test_a_hanging_function_times_out_with_exit_status_1(alice, namespace: str, probe: FunctionHost) -> None:
    with pytest.raises(CommandFailed) as err:
        kubeless.call_function(alice, namespace, "kf-probe", {"do": "sleep", "seconds": 30}, timeout=2)
    assert err.value.reason == "Timeout"
    assert err.value.exit_status == ExitStatus.FAILED
    assert "did not finish within 2s" in err.value.message
    # The runtime lives on.
    assert kubeless.call_function(alice, namespace, "kf-probe", {"do": "echo"})["kind"] == "object"


def test_bob_without_services_proxy_is_told_what_he_needs(bob, namespace: str, probe: FunctionHost) -> None:
    with pytest.raises(CommandFailed) as err:
        kubeless.call_function(bob, namespace, "kf-probe", {"do": "whoami"})
    assert err.value.reason == "Forbidden"
    assert err.value.message == (f"you may not call this function: needs services/proxy on service kf-probe "
                                 f"in namespace {namespace}")


def test_a_client_certificate_user_is_told_to_run_locally(admin, namespace: str, probe: FunctionHost) -> None:
    with pytest.raises(kubeless.NoBearerToken) as err:
        kubeless.call_function(admin, namespace, "kf-probe", {"do": "whoami"})
    assert "client certificate" in err.value.message


def test_a_function_without_a_running_pod_is_not_ready(admin, alice, namespace: str) -> None:
    from kubernetes import client

    # A Service of its name made first: the controller reports the conflict and runs no pod for it.
    client.CoreV1Api(admin).create_namespaced_service(namespace, {
        "metadata": {"name": "kf-idle"},
        "spec": {"selector": {"function": "kf-idle"},
                 "ports": [{"name": "http-function-port", "port": 8080, "targetPort": 8080}]}})
    deploy(admin, namespace, "kf-idle", "idle", PROBE)
    assert kubeless.find_function(alice, [namespace], "idle").name == "kf-idle"
    assert not kubeless.readiness(alice, namespace, "kf-idle").ready
    with pytest.raises(CommandFailed) as err:
        kubeless.call_function(alice, namespace, "kf-idle", {})
    assert err.value.message == f"function {namespace}/kf-idle is not ready: its Service has no endpoints"


def test_find_function_prefers_the_current_namespace_over_kf_system(admin, alice, namespace: str) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(admin)
    try:
        core.create_namespace({"metadata": {"name": kubeless.KF_SYSTEM}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    subcommand = f"probe{uuid.uuid4().hex[:6]}"
    name = f"kf-{subcommand}"
    deploy(admin, kubeless.KF_SYSTEM, name, subcommand, PROBE)
    try:
        # kf-system only (alice may not list there unless the cluster lets her: then None is right too)
        found = kubeless.find_function(admin, ["nowhere-" + subcommand, kubeless.KF_SYSTEM], subcommand)
        assert found is not None and found.namespace == kubeless.KF_SYSTEM
        deploy(admin, namespace, name, subcommand, PROBE)
        found = kubeless.find_function(admin, [namespace, kubeless.KF_SYSTEM], subcommand)
        assert found is not None and found.namespace == namespace
        assert kubeless.find_function(alice, [namespace], "no-such-subcommand") is None
    finally:
        client.CustomObjectsApi(admin).delete_namespaced_custom_object(
            "kubeless.io", "v1beta1", kubeless.KF_SYSTEM, "functions", name)
