"""The dev cluster is a real Kubernetes control plane: scheduling, exec, RBAC, authentication, namespaces."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from tests.conftest import wait_for

pytestmark = pytest.mark.cluster


def _deployment(name: str, replicas: int = 2) -> dict:
    labels = {"app": name}
    return {"metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}}}}


def _ready_pods(admin, namespace: str, app: str) -> list[client.V1Pod]:
    pods = client.CoreV1Api(admin).list_namespaced_pod(namespace, label_selector=f"app={app}").items
    return [p for p in pods if p.status.phase == "Running"
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]


def test_deployment_gets_ready_pods(admin, namespace):
    client.AppsV1Api(admin).create_namespaced_deployment(namespace, _deployment("web", replicas=2))

    def ready():
        dep = client.AppsV1Api(admin).read_namespaced_deployment("web", namespace)
        return dep.status.ready_replicas == 2

    wait_for(ready, what="deployment web to have 2 ready replicas")
    pods = _ready_pods(admin, namespace, "web")
    assert len(pods) == 2
    assert all(p.spec.node_name and p.status.pod_ip for p in pods)


def _exec(api, namespace: str, pod: str, command: list[str]):
    resp = stream(client.CoreV1Api(api).connect_get_namespaced_pod_exec, pod, namespace, command=command,
                  stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    resp.run_forever(timeout=20)
    out, err = resp.read_stdout(), resp.read_stderr()
    status = resp.read_channel(3)
    return out, err, status


def test_exec_returns_output_and_exit_code(admin, namespace):
    client.AppsV1Api(admin).create_namespaced_deployment(namespace, _deployment("shell", replicas=1))
    pod = wait_for(lambda: _ready_pods(admin, namespace, "shell"), what="a ready pod")[0].metadata.name

    out, err, status = _exec(admin, namespace, pod, ["sh", "-c", "echo hello; echo oops >&2"])
    assert out == "hello\n"
    assert err == "oops\n"
    assert '"status":"Success"' in status.replace(" ", "")

    # Each pod has its own working directory on the host.
    def pwd_is_the_pods_own():
        out, _, _ = _exec(admin, namespace, pod, ["pwd"])
        return out.strip().endswith(f"/{namespace}/{pod}")

    wait_for(pwd_is_the_pods_own, what="exec to run in the pod's own directory")

    out, _, status = _exec(admin, namespace, pod, ["sh", "-c", "echo partial; exit 7"])
    assert out == "partial\n"
    # As a kubelet reports it: a Failure with reason NonZeroExitCode and the code as the ExitCode cause.
    answer = json.loads(status)
    assert answer["reason"] == "NonZeroExitCode", answer
    assert {"reason": "ExitCode", "message": "7"} in answer["details"]["causes"], answer


def test_alice_cannot_list_nodes(alice):
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(alice).list_node()
    assert err.value.status == 403


def test_bob_cannot_create_in_alice(bob):
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(bob).create_namespaced_config_map("alice", {"metadata": {"name": "bob-was-here"}})
    assert err.value.status == 403


def test_self_subject_review_names_alice(alice):
    review = client.AuthenticationV1Api(alice).create_self_subject_review({})
    assert review.status.user_info.username == "alice"
    assert "system:authenticated" in review.status.user_info.groups


def test_deleting_a_namespace_completes(admin):
    core = client.CoreV1Api(admin)
    name = "kf-test-delete-me"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_config_map(name, {"metadata": {"name": "content"}})
    core.delete_namespace(name)

    def gone():
        try:
            core.read_namespace(name)
            return False
        except ApiException as err:
            return err.status == 404

    wait_for(gone, timeout=60, what=f"namespace {name} to be deleted")


def test_kubectl_reports_the_stamped_version(devcluster):
    import subprocess

    from devcluster import paths

    out = subprocess.run([str(paths.KUBECTL), "--kubeconfig", str(devcluster), "version", "-o", "json"],
                         capture_output=True, text=True, check=True).stdout
    assert '"gitVersion": "v1.36.3"' in out
