"""The seed data on the real dev cluster: Kubeflow CRDs served and validating, components labelled, RBAC."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.conftest import wait_for

pytestmark = pytest.mark.cluster

TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}


@dataclass(frozen=True)
class Crd:
    kind: str
    group: str
    version: str
    plural: str
    valid_spec: dict
    invalid_spec: dict
    invalid_field: str  # the field the API server's 422 names
    namespaced: bool = True
    invalid_status: int = 422  # a controller's validating webhook refuses with 403
    short_names: tuple[str, ...] = ()
    columns: tuple[str, ...] = ("Name", "Age")

    def body(self, name: str, spec: dict) -> dict:
        return {"apiVersion": f"{self.group}/{self.version}", "kind": self.kind,
                "metadata": {"name": name}, "spec": spec}


def _pod_spec(**container) -> dict:
    return {"containers": [{"name": "main", "image": "python:3.11", **container}]}


def _replica(restart_policy: str = "OnFailure") -> dict:
    return {"replicas": 1, "restartPolicy": restart_policy, "template": {"spec": _pod_spec()}}


JOB_COLUMNS = ("Name", "State", "Age")
CRDS = [
    Crd("Profile", "kubeflow.org", "v1", "profiles", namespaced=False,
        valid_spec={"owner": {"kind": "User", "name": "carol"}},
        invalid_spec={"owner": {"kind": "User"}}, invalid_field="spec.owner.name"),
    Crd("Notebook", "kubeflow.org", "v1", "notebooks",
        valid_spec={"template": {"spec": _pod_spec(ports=[{"containerPort": 8888}])}},
        invalid_spec={"template": {"spec": {"containers": [{"image": "jupyter"}]}}},
        invalid_field="spec.template.spec.containers[0].name"),
    Crd("TFJob", "kubeflow.org", "v1", "tfjobs", columns=JOB_COLUMNS,
        valid_spec={"tfReplicaSpecs": {"Worker": _replica()}},
        invalid_spec={"tfReplicaSpecs": {"Worker": _replica("Sometimes")}},
        invalid_field="spec.tfReplicaSpecs.Worker.restartPolicy"),
    Crd("PyTorchJob", "kubeflow.org", "v1", "pytorchjobs", columns=JOB_COLUMNS,
        valid_spec={"pytorchReplicaSpecs": {"Master": _replica(), "Worker": _replica()}},
        invalid_spec={"pytorchReplicaSpecs": {"Chief": _replica()}},
        invalid_field="spec.pytorchReplicaSpecs"),
    Crd("TrainJob", "trainer.kubeflow.org", "v1alpha1", "trainjobs", columns=JOB_COLUMNS,
        valid_spec={"runtimeRef": {"name": "torch-distributed"}, "trainer": {"numNodes": 2}},
        invalid_spec={"runtimeRef": {"kind": "ClusterTrainingRuntime"}},
        invalid_field="spec.runtimeRef.name"),
    Crd("InferenceService", "serving.kserve.io", "v1beta1", "inferenceservices", short_names=("isvc",),
        columns=("Name", "URL", "Ready", "Prev", "Latest", "PrevRolledoutRevision", "LatestReadyRevision", "Age"),
        valid_spec={"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                            "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}},
        # KServe's webhooks see an object before the schema does (its defaulter panics on a missing
        # predictor): its validator refuses this one.
        invalid_spec={"predictor": {"minReplicas": -1, "model": {"modelFormat": {"name": "sklearn"}}}},
        invalid_field="'MinReplicas' cannot be less than 0", invalid_status=403),
    Crd("Tensorboard", "tensorboard.kubeflow.org", "v1alpha1", "tensorboards",
        valid_spec={"logspath": "pvc://mnist-logs/runs"},
        invalid_spec={}, invalid_field="spec.logspath"),
    Crd("Function", "kubeless.io", "v1beta1", "functions",
        valid_spec={"function": "def handler(event, context):\n    return 'ok'\n", "handler": "hello.handler",
                    "runtime": "python3.11", "checksum": "sha256:" + "0" * 64, "timeout": "180",
                    "function-content-type": "text", "deps": ""},
        invalid_spec={"function": "x", "handler": "hello.handler", "runtime": "python3.11", "timeout": 180},
        invalid_field="spec.timeout", columns=("Name", "Ready", "Reason", "Age")),
]


def _ids(crd: Crd) -> str:
    return crd.kind


def _crd(kind: str) -> Crd:
    return next(crd for crd in CRDS if crd.kind == kind)


def _create(api, crd: Crd, namespace: str, body: dict, dry_run: str | None = None) -> dict:
    objects = client.CustomObjectsApi(api)
    if crd.namespaced:
        return objects.create_namespaced_custom_object(crd.group, crd.version, namespace, crd.plural, body,
                                                       dry_run=dry_run)
    return objects.create_cluster_custom_object(crd.group, crd.version, crd.plural, body, dry_run=dry_run)


def _delete(api, crd: Crd, namespace: str, name: str) -> None:
    objects = client.CustomObjectsApi(api)
    try:
        if crd.namespaced:
            objects.delete_namespaced_custom_object(crd.group, crd.version, namespace, crd.plural, name)
        else:
            objects.delete_cluster_custom_object(crd.group, crd.version, crd.plural, name)
    except ApiException as err:
        if err.status != 404:
            raise


@pytest.mark.parametrize("crd", CRDS, ids=_ids)
def test_crd_is_served_by_discovery(admin, crd: Crd):
    resources = client.CustomObjectsApi(admin).get_api_resources(crd.group, crd.version).resources
    served = {r.name: r for r in resources}
    assert crd.plural in served, f"{crd.group}/{crd.version} serves {sorted(served)}"
    resource = served[crd.plural]
    assert resource.kind == crd.kind
    assert resource.namespaced is crd.namespaced
    assert tuple(resource.short_names or ()) == crd.short_names


@pytest.mark.parametrize("crd", CRDS, ids=_ids)
def test_crd_rejects_invalid_and_accepts_valid_object(admin, namespace, crd: Crd):
    name = f"kf-test-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ApiException) as err:
        _create(admin, crd, namespace, crd.body(name, crd.invalid_spec))
    assert err.value.status == crd.invalid_status, err.value.body
    assert crd.invalid_field in json.loads(err.value.body)["message"]

    try:
        created = _create(admin, crd, namespace, crd.body(name, crd.valid_spec))
        assert created["metadata"]["name"] == name
        assert set(crd.valid_spec) <= set(created["spec"]), "fields of a valid spec were pruned"
    finally:
        if not crd.namespaced:  # namespaced objects leave with the test namespace
            _delete(admin, crd, namespace, name)


def test_trainjob_defaults_the_runtime_kind(admin, namespace):
    trainjob = _crd("TrainJob")
    # Trainer's webhook refuses a TrainJob whose runtime does not exist: name the seeded one.
    created = _create(admin, trainjob, namespace,
                      trainjob.body("defaults", {"runtimeRef": {"name": "torch-distributed"}}))
    assert created["spec"]["runtimeRef"] == {"name": "torch-distributed", "apiGroup": "trainer.kubeflow.org",
                                             "kind": "ClusterTrainingRuntime"}


@pytest.mark.parametrize("crd", CRDS, ids=_ids)
def test_crd_prints_the_real_columns(admin, crd: Crd):
    objects = client.CustomObjectsApi(admin)
    if crd.namespaced:
        table = objects.list_namespaced_custom_object(crd.group, crd.version, "alice", crd.plural, _headers=TABLE)
    else:
        table = objects.list_cluster_custom_object(crd.group, crd.version, crd.plural, _headers=TABLE)
    assert tuple(c["name"] for c in table["columnDefinitions"]) == crd.columns


@dataclass(frozen=True)
class Component:
    deployment: str
    labels: dict
    services: tuple[str, ...]
    images: tuple[str, ...] = field(default=())


def _standard(name: str, **extra: str) -> dict:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": name,
            "app.kubernetes.io/part-of": "kubeflow", **extra}


COMPONENTS = [
    Component("centraldashboard", _standard("centraldashboard", app="centraldashboard",
                                            **{"kustomize.component": "centraldashboard"}),
              ("centraldashboard",), ("ghcr.io/kubeflow/kubeflow/central-dashboard:v1.10.0",)),
    Component("jupyter-web-app-deployment", _standard("jupyter-web-app", app="jupyter-web-app",
                                                      **{"kustomize.component": "jupyter-web-app"}),
              ("jupyter-web-app-service",)),
    Component("notebook-controller-deployment", _standard("notebook-controller", app="notebook-controller",
                                                          **{"kustomize.component": "notebook-controller"}),
              ("notebook-controller-service",)),
    Component("profiles-deployment", _standard("profiles", **{"kustomize.component": "profiles"}),
              ("profiles-kfam",)),
    Component("tensorboard-controller-deployment",
              _standard("tensorboard-controller", app="tensorboard-controller",
                        **{"kustomize.component": "tensorboard-controller"}),
              ("tensorboard-controller-controller-manager-metrics-service",)),
    Component("kserve-controller-manager",
              _standard("kserve-controller-manager", **{"control-plane": "kserve-controller-manager"}),
              ("kserve-controller-manager-service", "kserve-webhook-server-service"),
              ("kserve/kserve-controller:v0.20.0",)),
    Component("training-operator",
              _standard("training-operator", **{"control-plane": "kubeflow-training-operator"}),
              ("training-operator",)),
    Component("kubeflow-trainer-controller-manager",
              {"app.kubernetes.io/name": "trainer", "app.kubernetes.io/component": "manager",
               "app.kubernetes.io/part-of": "kubeflow"},
              ("kubeflow-trainer-controller-manager",)),
]


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.deployment)
def test_kubeflow_component_is_labelled_and_ready(admin, component: Component):
    apps, core = client.AppsV1Api(admin), client.CoreV1Api(admin)
    deployment = apps.read_namespaced_deployment(component.deployment, "kubeflow")
    assert deployment.metadata.labels.items() >= component.labels.items()
    assert deployment.spec.template.metadata.labels.items() >= component.labels.items()
    images = [c.image for c in deployment.spec.template.spec.containers]
    assert all(":" in image.rsplit("/", 1)[-1] for image in images), images
    assert set(component.images) <= set(images)
    for service in component.services:
        svc = core.read_namespaced_service(service, "kubeflow")
        assert svc.metadata.labels.get("app.kubernetes.io/part-of") == "kubeflow"
        assert svc.spec.ports

    def ready() -> bool:
        status = apps.read_namespaced_deployment_status(component.deployment, "kubeflow").status
        return status.ready_replicas == 1

    wait_for(ready, timeout=60, what=f"deployment {component.deployment} to have its replica ready")


def test_one_selector_finds_every_component(admin):
    deployments = client.AppsV1Api(admin).list_namespaced_deployment(
        "kubeflow", label_selector="app.kubernetes.io/part-of=kubeflow").items
    assert {d.metadata.name for d in deployments} == {c.deployment for c in COMPONENTS}


def test_alice_project_is_seeded(admin):
    profile = client.CustomObjectsApi(admin).get_cluster_custom_object("kubeflow.org", "v1", "profiles", "alice")
    assert profile["spec"]["owner"] == {"kind": "User", "name": "alice"}
    namespace = client.CoreV1Api(admin).read_namespace("alice")
    assert namespace.metadata.labels["app.kubernetes.io/part-of"] == "kubeflow-profile"
    notebook = client.CustomObjectsApi(admin).get_namespaced_custom_object(
        "kubeflow.org", "v1", "alice", "notebooks", "mnist-notebook")
    assert notebook["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "kubeflownotebookswg/jupyter-scipy:v1.10.0"
    job = client.CustomObjectsApi(admin).get_namespaced_custom_object(
        "kubeflow.org", "v1", "alice", "pytorchjobs", "mnist-train-v1")
    assert set(job["spec"]["pytorchReplicaSpecs"]) == {"Master", "Worker"}

    def trainjob_complete() -> bool:
        train = client.CustomObjectsApi(admin).get_namespaced_custom_object(
            "trainer.kubeflow.org", "v1alpha1", "alice", "trainjobs", "mnist-train")
        return any(c["type"] == "Complete" and c["status"] == "True"
                   for c in (train.get("status") or {}).get("conditions", []))

    wait_for(trainjob_complete, timeout=90, what="TrainJob mnist-train to complete (Trainer, JobSet, KWOK)")

    def notebook_pod_running() -> bool:
        try:
            pod = client.CoreV1Api(admin).read_namespaced_pod("mnist-notebook-0", "alice")
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return pod.status.phase == "Running"

    wait_for(notebook_pod_running, timeout=60, what="pod mnist-notebook-0 to run")
    # The notebook controller made its StatefulSet: the seed has none.
    sts = client.AppsV1Api(admin).read_namespaced_stateful_set("mnist-notebook", "alice")
    assert [o.kind for o in sts.metadata.owner_references or []] == ["Notebook"]


def test_alice_cannot_delete_a_kubeflow_deployment(alice):
    # A dry run still goes through authorization, and deletes nothing should RBAC ever let it through.
    with pytest.raises(ApiException) as err:
        client.AppsV1Api(alice).delete_namespaced_deployment("centraldashboard", "kubeflow", dry_run="All")
    assert err.value.status == 403


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_users_read_component_status_but_not_nodes(request, user: str):
    api = request.getfixturevalue(user)
    names = {d.metadata.name for d in client.AppsV1Api(api).list_namespaced_deployment("kubeflow").items}
    assert "centraldashboard" in names
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(api).list_node()
    assert err.value.status == 403


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_users_get_their_namespace_but_not_the_list(request, user: str):
    core = client.CoreV1Api(request.getfixturevalue(user))
    assert core.read_namespace("alice").metadata.name == "alice"
    for forbidden in (core.list_namespace, lambda: core.read_namespace("kubeflow")):
        with pytest.raises(ApiException) as err:
            forbidden()
        assert err.value.status == 403


def test_bob_cannot_create_a_notebook_in_alice(bob):
    notebook = _crd("Notebook")
    with pytest.raises(ApiException) as err:
        _create(bob, notebook, "alice", notebook.body("bobs-notebook", notebook.valid_spec), dry_run="All")
    assert err.value.status == 403


def test_bob_views_alice_notebooks(bob):
    notebooks = client.CustomObjectsApi(bob).list_namespaced_custom_object("kubeflow.org", "v1", "alice",
                                                                            "notebooks")
    assert "mnist-notebook" in {n["metadata"]["name"] for n in notebooks["items"]}


def test_alice_creates_a_notebook_in_alice(alice, admin):
    notebook = _crd("Notebook")
    name = f"kf-test-{uuid.uuid4().hex[:8]}"
    try:
        created = _create(alice, notebook, "alice", notebook.body(name, notebook.valid_spec))
        assert created["metadata"]["namespace"] == "alice"
    finally:
        _delete(admin, notebook, "alice", name)


def _allowed(api, namespace: str, verb: str, group: str, resource: str, subresource: str = "") -> bool:
    review = client.AuthorizationV1Api(api).create_self_subject_access_review({
        "spec": {"resourceAttributes": {"namespace": namespace, "verb": verb, "group": group,
                                        "resource": resource, "subresource": subresource}}})
    return review.status.allowed


# (group, resource, subresource): what kubeflow-edit grants and kubeflow-view only reads.
EDITABLE = [("kubeflow.org", "notebooks", ""), ("kubeflow.org", "tfjobs", ""), ("kubeflow.org", "pytorchjobs", ""),
            ("trainer.kubeflow.org", "trainjobs", ""), ("serving.kserve.io", "inferenceservices", ""),
            ("tensorboard.kubeflow.org", "tensorboards", ""), ("kubeless.io", "functions", ""),
            ("", "pods", ""), ("", "configmaps", ""), ("", "secrets", ""), ("", "services", ""),
            ("", "persistentvolumeclaims", ""), ("apps", "deployments", ""), ("batch", "jobs", "")]


@pytest.mark.parametrize(("group", "resource", "subresource"), EDITABLE,
                         ids=[f"{r}.{g}" if g else r for g, r, _ in EDITABLE])
def test_edit_creates_and_view_only_reads(alice, bob, namespace, group, resource, subresource):
    assert _allowed(alice, namespace, "create", group, resource, subresource)
    assert _allowed(alice, namespace, "delete", group, resource, subresource)
    assert not _allowed(bob, namespace, "create", group, resource, subresource)
    if resource != "secrets":  # view leaves secrets out, as Kubernetes' own view does
        assert _allowed(bob, namespace, "list", group, resource, subresource)


def test_edit_may_exec_and_call_functions_but_view_may_not(alice, bob, namespace):
    for verb, resource, subresource in (("create", "pods", "exec"), ("create", "services", "proxy"),
                                        ("get", "services", "proxy")):
        assert _allowed(alice, namespace, verb, "", resource, subresource)
        assert not _allowed(bob, namespace, verb, "", resource, subresource)
    assert _allowed(bob, namespace, "get", "", "pods", "log")
