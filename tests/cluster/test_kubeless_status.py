"""`status list` deployed as a Kubeless Function gives each user what the local run gives them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kfshell.dispatch import kubeless
from tests.cluster.nethost import FunctionHost, function_object

pytestmark = pytest.mark.cluster

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def local_call(kubeconfig: str, context: str, data: dict[str, Any]) -> dict[str, Any]:
    """What kf's embedded runtime does: the same handler, with the caller's own kubeconfig credentials."""
    from functions import status

    event = {"data": data, "event-id": "local", "event-type": "application/json", "event-time": "now",
             "event-namespace": kubeless.EVENT_NAMESPACE,
             "extensions": {"kf": {"local": True, "kubeconfig": kubeconfig, "context": context}}}
    return status.handler(event, {"function-name": "status", "timeout": 30, "runtime": None, "memory-limit": None})


def without_age(result: dict[str, Any]) -> dict[str, Any]:
    """The table minus its AGE column, which ticks between two calls."""
    if result.get("kind") != "table":
        return result
    age = result["columns"].index("AGE")
    return {**result, "rows": [row[:age] + row[age + 1:] for row in result["rows"]]}


def allow_calls(admin, namespace: str, service: str, user: str) -> None:
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role(namespace, {
        "metadata": {"name": f"call-{service}"},
        "rules": [{"apiGroups": [""], "resources": ["services/proxy"],
                   # the proxy names the Service with its port: NAME:PORT
                   "resourceNames": [f"{service}:http-function-port"],
                   "verbs": ["get", "create"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": f"call-{service}-{user}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"call-{service}"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})


@pytest.fixture
def status_function(admin, namespace: str):
    from functions import status

    source = (FUNCTIONS / "status.py").read_text()
    from kubernetes import client

    client.CustomObjectsApi(admin).create_namespaced_custom_object(
        "kubeless.io", "v1beta1", namespace, "functions",
        function_object("kf-status", "status", source, handler="status.handler", spec=status.KF_COMMAND))
    with FunctionHost(admin, namespace, "kf-status", FUNCTIONS, "status", timeout=30) as host:
        yield host


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_status_list_through_kubeless_equals_the_local_run(request, kubeconfig: str, namespace: str,
                                                           status_function: FunctionHost, user: str) -> None:
    api = request.getfixturevalue(user)
    if user == "bob":  # bob only views the namespace: an admin lets him call this one function
        allow_calls(request.getfixturevalue("admin"), namespace, "kf-status", user)
    ref = kubeless.find_function(api, [namespace, kubeless.KF_SYSTEM], "status")
    assert ref is not None and ref.spec["name"] == "status"
    data = {"command": ["status", "list"], "args": {}, "namespace": "alice", "context": f"kf-{user}",
            "output": "json"}
    remote = kubeless.call_function(api, namespace, ref.name, data, timeout=30)
    local = local_call(kubeconfig, f"kf-{user}", data)
    assert remote["kind"] == "table", json.dumps(remote)[:500]
    assert any(row[0] == "jupyter-web-app" for row in remote["rows"])
    assert without_age(remote) == without_age(local)
