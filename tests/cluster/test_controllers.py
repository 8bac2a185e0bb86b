"""The real Kubeflow controllers in the dev cluster reconcile what alice creates, with their own RBAC.

Notebook controller (the stand-in for kubeflow/notebooks v1.11.0), Trainer v2.3.0 + JobSet v0.12.0 and
KServe v0.20.0 (Standard mode) run as processes beside the control plane; KWOK plays the pods.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import uuid

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.cluster

EXIT_CODE_ANNOTATION = "devcluster.kf.kubeflow.org/exit-code"  # devcluster/kwok/stages.yaml: kf-pod-fail
TRAINER = ("trainer.kubeflow.org", "v1alpha1")


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _condition(obj: dict, kind: str) -> str | None:
    return next((c.get("status") for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind),
                None)


def test_status_lists_the_controllers(devcluster):
    from devcluster import controllers

    out = subprocess.run([sys.executable, "-m", "devcluster", "status"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    listed = dict(line.split(None, 1) for line in out.stdout.splitlines())
    for controller in controllers.CONTROLLERS:
        assert listed[controller.name].strip().isdigit(), out.stdout


def _notebook(name: str) -> dict:
    return {"apiVersion": "kubeflow.org/v1", "kind": "Notebook", "metadata": {"name": name},
            "spec": {"template": {"spec": {"containers": [{"name": name, "image": "jupyter/base-notebook:2024"}]}}}}


def _pod_phase(api, namespace: str, name: str) -> str | None:
    try:
        return client.CoreV1Api(api).read_namespaced_pod(name, namespace).status.phase
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def test_notebook_gets_a_statefulset_a_service_a_pod_and_stops(alice, namespace):
    objects, apps = client.CustomObjectsApi(alice), client.AppsV1Api(alice)
    name = _name("nb")
    objects.create_namespaced_custom_object("kubeflow.org", "v1", namespace, "notebooks", _notebook(name))

    wait_for(lambda: _pod_phase(alice, namespace, f"{name}-0") == "Running", timeout=60,
             what=f"pod {name}-0 to run")
    sts = apps.read_namespaced_stateful_set(name, namespace)
    assert sts.spec.replicas == 1
    assert sts.metadata.owner_references[0].kind == "Notebook"
    assert sts.spec.template.metadata.labels["notebook-name"] == name
    env = {e.name: e.value for e in sts.spec.template.spec.containers[0].env}
    assert env["NB_PREFIX"] == f"/notebook/{namespace}/{name}"
    port = client.CoreV1Api(alice).read_namespaced_service(name, namespace).spec.ports[0]
    assert (port.name, port.port, port.target_port) == (f"http-{name}", 80, 8888)
    wait_for(lambda: (objects.get_namespaced_custom_object("kubeflow.org", "v1", namespace, "notebooks", name)
                      .get("status") or {}).get("readyReplicas") == 1,
             timeout=30, what="the Notebook's status to count its ready replica")

    stop = {"metadata": {"annotations": {"kubeflow-resource-stopped": "2026-12-01T00:00:00Z"}}}
    objects.patch_namespaced_custom_object("kubeflow.org", "v1", namespace, "notebooks", name, stop)
    wait_for(lambda: apps.read_namespaced_stateful_set(name, namespace).spec.replicas == 0, timeout=30,
             what="the stopped notebook's StatefulSet to scale to 0")
    wait_for(lambda: _pod_phase(alice, namespace, f"{name}-0") is None, timeout=60,
             what=f"pod {name}-0 to go away")

    start = {"metadata": {"annotations": {"kubeflow-resource-stopped": None}}}
    objects.patch_namespaced_custom_object("kubeflow.org", "v1", namespace, "notebooks", name, start)
    wait_for(lambda: _pod_phase(alice, namespace, f"{name}-0") == "Running", timeout=60,
             what=f"pod {name}-0 to run again")
    assert apps.read_namespaced_stateful_set(name, namespace).spec.replicas == 1


def _trainjob(name: str, runtime: str = "torch-distributed", kind: str = "ClusterTrainingRuntime",
              exit_code: int | None = None) -> dict:
    spec: dict = {"runtimeRef": {"name": runtime, "kind": kind},
                  "trainer": {"numNodes": 2, "image": "docker.io/kubeflowkatib/pytorch-mnist-cpu:v0.17.0",
                              "command": ["torchrun", "/opt/pytorch-mnist/mnist.py", "--epochs=1"]}}
    if exit_code is not None:  # the node pods ask KWOK to fail them with this exit code
        node_pod = {"metadata": {"annotations": {EXIT_CODE_ANNOTATION: str(exit_code)}}}
        spec["runtimePatches"] = [{"manager": "kf.kubeflow.org/tests", "trainingRuntimeSpec": {"template": {"spec": {
            "replicatedJobs": [{"name": "node", "template": {"spec": {"template": node_pod}}}]}}}}]
    return {"apiVersion": "/".join(TRAINER), "kind": "TrainJob", "metadata": {"name": name}, "spec": spec}


def _get_trainjob(api, namespace: str, name: str) -> dict:
    return client.CustomObjectsApi(api).get_namespaced_custom_object(*TRAINER, namespace, "trainjobs", name)


def _jobset_pods(api, namespace: str, name: str) -> list[client.V1Pod]:
    return client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector=f"jobset.sigs.k8s.io/jobset-name={name}").items


def test_trainjob_with_two_nodes_runs_a_jobset_and_completes(admin, alice, namespace):
    name = _name("train")
    client.CustomObjectsApi(alice).create_namespaced_custom_object(*TRAINER, namespace, "trainjobs", _trainjob(name))

    seen: set[str] = set()

    def completed() -> bool:
        seen.update(p.metadata.name for p in _jobset_pods(alice, namespace, name))
        return _condition(_get_trainjob(alice, namespace, name), "Complete") == "True"

    wait_for(completed, timeout=90, what=f"TrainJob {name} to be Complete")
    # Kubeflow's roles give alice TrainJobs, not the JobSets under them: read it as admin.
    jobset = client.CustomObjectsApi(admin).get_namespaced_custom_object(
        "jobset.x-k8s.io", "v1alpha2", namespace, "jobsets", name)
    assert jobset["metadata"]["ownerReferences"][0]["kind"] == "TrainJob"
    seen.update(p.metadata.name for p in _jobset_pods(alice, namespace, name))
    assert len(seen) == 2, seen  # one pod per node
    assert _condition(_get_trainjob(alice, namespace, name), "Failed") != "True"


def _fail_fast_runtime(admin, namespace: str) -> str:
    """torch-distributed as a namespaced runtime whose Jobs do not retry (a Job retries a pod 6 times by default)."""
    cluster_runtime = client.CustomObjectsApi(admin).get_cluster_custom_object(
        *TRAINER, "clustertrainingruntimes", "torch-distributed")
    spec = copy.deepcopy(cluster_runtime["spec"])
    for job in spec["template"]["spec"]["replicatedJobs"]:
        job["template"].setdefault("spec", {})["backoffLimit"] = 0
    client.CustomObjectsApi(admin).create_namespaced_custom_object(*TRAINER, namespace, "trainingruntimes", {
        "apiVersion": "/".join(TRAINER), "kind": "TrainingRuntime", "metadata": {"name": "torch-no-retry"},
        "spec": spec})
    return "torch-no-retry"


def test_trainjob_whose_node_fails_ends_failed(admin, alice, namespace):
    runtime = _fail_fast_runtime(admin, namespace)
    name = _name("train-fail")
    client.CustomObjectsApi(alice).create_namespaced_custom_object(
        *TRAINER, namespace, "trainjobs", _trainjob(name, runtime, "TrainingRuntime", exit_code=3))

    wait_for(lambda: _condition(_get_trainjob(alice, namespace, name), "Failed") == "True", timeout=90,
             what=f"TrainJob {name} to be Failed")
    codes = {s.state.terminated.exit_code for p in _jobset_pods(alice, namespace, name)
             for s in p.status.container_statuses or [] if s.state.terminated}
    assert codes == {3}
    assert _condition(_get_trainjob(alice, namespace, name), "Complete") != "True"


def test_inferenceservice_gets_a_deployment_and_is_ready_with_a_url(alice, namespace):
    name = _name("iris")
    isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": name},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                             "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}}}
    objects = client.CustomObjectsApi(alice)
    objects.create_namespaced_custom_object("serving.kserve.io", "v1beta1", namespace, "inferenceservices", isvc)

    def ready() -> dict | None:
        got = objects.get_namespaced_custom_object("serving.kserve.io", "v1beta1", namespace, "inferenceservices",
                                                   name)
        return got if _condition(got, "Ready") == "True" else None

    got = wait_for(ready, timeout=90, what=f"InferenceService {name} to be Ready")
    assert got["status"]["url"].startswith("http")
    deployment = client.AppsV1Api(alice).read_namespaced_deployment(f"{name}-predictor", namespace)
    assert deployment.status.ready_replicas == 1
    containers = [c.name for c in deployment.spec.template.spec.containers]
    assert "kserve-container" in containers
    client.CoreV1Api(alice).read_namespaced_service(f"{name}-predictor", namespace)


@pytest.mark.parametrize("name", ["notebook-controller", "jobset-controller", "trainer-controller",
                                  "kserve-controller"])
def test_each_controller_acts_as_its_own_service_account(devcluster, name):
    from devcluster import controllers, paths

    controller = next(c for c in controllers.CONTROLLERS if c.name == name)
    path = paths.RUN / "controllers" / name / "kubeconfig"
    user = yaml.safe_load(path.read_text())["users"][0]["user"]
    assert set(user) == {"token"}  # no client certificate, so no system:masters
    api = config.new_client_from_config(config_file=str(path))
    review = client.AuthenticationV1Api(api).create_self_subject_review({})
    assert review.status.user_info.username == f"system:serviceaccount:kubeflow:{controller.service_account}"
    assert "system:masters" not in review.status.user_info.groups
    with pytest.raises(ApiException) as err:  # its RBAC, not an administrator's
        client.CoreV1Api(api).delete_namespace("kube-system", dry_run="All")
    assert err.value.status == 403
