"""`notebook` against the dev cluster's real Notebook CRD, as alice (edits the test namespace) and bob (views it).

Where the dev cluster runs no notebook controller, the tests write the Notebook's status themselves through
the status subresource, as the controller would (readyReplicas), and say so; with the controller running
they watch its StatefulSet instead.
"""

from __future__ import annotations

import pytest

from tests.cluster.kf_general import kf, text_of
from tests.cluster.work_helpers import Background, controller_running, get, names, set_status
from tests.conftest import wait_for

pytestmark = pytest.mark.cluster


def _nb_path(ns: str, name: str = "") -> str:
    return f"/apis/kubeflow.org/v1/namespaces/{ns}/notebooks" + (f"/{name}" if name else "")


def _ready(admin, ns: str, name: str, replicas: int, controller: bool) -> None:
    """Bring the notebook to `replicas` ready pods: the controller does it, or we write its status."""
    if controller:
        wait_for(lambda: ((get(admin, f"/apis/apps/v1/namespaces/{ns}/statefulsets/{name}") or {})
                          .get("status") or {}).get("readyReplicas", 0) == replicas, timeout=60,
                 what=f"StatefulSet {name} at {replicas} ready replicas")
    else:  # no notebook controller in the dev cluster: play its part on the status subresource
        set_status(admin, _nb_path(ns, name), {"readyReplicas": replicas})


@pytest.fixture
def volume_for(admin, namespace):
    """Pre-bind a PersistentVolume to a claim (the dev cluster has no provisioner; an unbound claim keeps a pod
    from being scheduled); the volumes are deleted afterwards."""
    from kfshell.cluster import request_json

    made: list[str] = []

    def bind(claim: str, size: str) -> None:
        name = f"{namespace}-{claim}"
        request_json(admin, "POST", "/api/v1/persistentvolumes", body={
            "metadata": {"name": name}, "spec": {
                "capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                "hostPath": {"path": f"/tmp/{name}"}, "claimRef": {"namespace": namespace, "name": claim}}})
        made.append(name)

    yield bind
    for name in made:
        if get(admin, f"/api/v1/persistentvolumes/{name}"):
            request_json(admin, "DELETE", f"/api/v1/persistentvolumes/{name}")


def test_alice_creates_lists_stops_starts_describes_and_deletes_a_notebook(kubeconfig, admin, namespace,
                                                                           volume_for):
    controller = controller_running("notebook-controller")
    volume_for("nb1-workspace", "1Gi")
    made = kf(kubeconfig, "kf-alice", "notebook create nb1 --image pytorch --cpu 1 --memory 2Gi "
              "--volume 1Gi --no-wait", namespace)
    assert made.status == 0, made.error
    nb = get(admin, _nb_path(namespace, "nb1"))
    container = nb["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "kubeflownotebookswg/jupyter-pytorch-full:v1.10.0"
    assert container["resources"]["limits"] == {"cpu": "1.2", "memory": "2.4Gi"}
    assert names(admin, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims") == ["nb1-workspace"]

    _ready(admin, namespace, "nb1", 1, controller)
    row = kf(kubeconfig, "kf-alice", "notebook ls", namespace).row(name="nb1")
    assert (row["state"], row["cpu"], row["memory"], row["gpu"]) == ("ready", "1", "2Gi", "0")
    assert row["url"] == f"/notebook/{namespace}/nb1/"
    assert kf(kubeconfig, "kf-alice", "status list", namespace).row(name="nb1")["type"] == "notebook"

    stopped = kf(kubeconfig, "kf-alice", "notebook stop nb1 --no-wait", namespace)
    assert stopped.status == 0, stopped.error
    assert "kubeflow-resource-stopped" in get(admin, _nb_path(namespace, "nb1"))["metadata"]["annotations"]
    if not controller:
        assert kf(kubeconfig, "kf-alice", "notebook ls", namespace).row(name="nb1")["state"] == "stopping"
    _ready(admin, namespace, "nb1", 0, controller)
    if controller:
        wait_for(lambda: not names(admin, f"/api/v1/namespaces/{namespace}/pods"), timeout=60, what="the pod gone")
    assert kf(kubeconfig, "kf-alice", "notebook ls", namespace).row(name="nb1")["state"] == "stopped"
    again = kf(kubeconfig, "kf-alice", "notebook stop nb1", namespace)
    assert again.status == 1 and "notebook nb1 is already stopped" in again.error

    # start --wait returns once the notebook is ready again.
    starting = Background(lambda: kf(kubeconfig, "kf-alice", "notebook start nb1 --wait --timeout 60", namespace))
    wait_for(lambda: "kubeflow-resource-stopped" not in
             (get(admin, _nb_path(namespace, "nb1"))["metadata"].get("annotations") or {}), what="the start")
    _ready(admin, namespace, "nb1", 1, controller)
    started = starting.result()
    assert started.status == 0 and "it is ready" in text_of(started), started.error

    described = kf(kubeconfig, "kf-alice", "notebook describe nb1", namespace)
    assert described.status == 0
    assert described.data["state"] == "ready"
    assert described.data["volumes"] == [{"pvc": "nb1-workspace", "mount": "/home/jovyan"}]

    gone = kf(kubeconfig, "kf-alice", "notebook delete nb1 --yes", namespace)
    assert gone.status == 0, gone.error
    wait_for(lambda: "nb1" not in names(admin, _nb_path(namespace)), what="notebook nb1 deleted")
    missing = kf(kubeconfig, "kf-alice", "notebook describe nb1", namespace)
    assert missing.status == 1 and "notebook 'nb1' not found" in missing.error


def test_bob_may_list_but_is_refused_every_change_with_the_permission_named(kubeconfig, admin, namespace):
    assert kf(kubeconfig, "kf-alice", "notebook create nb2 --gpu 2 --no-volume --no-wait", namespace).status == 0
    limits = get(admin, _nb_path(namespace, "nb2"))["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "0.6", "memory": "1.2Gi", "nvidia.com/gpu": "2"}
    assert kf(kubeconfig, "kf-bob", "notebook ls", namespace).row(name="nb2")["image"] == "jupyter-scipy:v1.10.0"
    for line, verb in (("notebook create nb3 --no-wait", "create"), ("notebook stop nb2", "patch"),
                       ("notebook start nb2", "patch"), ("notebook delete nb2 --yes", "delete")):
        refused = kf(kubeconfig, "kf-bob", line, namespace)
        assert refused.status == 1, line
        assert f"needs {verb} notebooks.kubeflow.org in namespace {namespace}" in refused.error, refused.error
    assert names(admin, _nb_path(namespace)) == ["nb2"]
    assert "kubeflow-resource-stopped" not in (get(admin, _nb_path(namespace, "nb2"))["metadata"]
                                               .get("annotations") or {})


def test_a_failed_create_removes_the_volumes_it_made(kubeconfig, admin, namespace):
    from kfshell.cluster import request_json

    # One PVC allowed: each volume passes the dry run alone, the second create is refused.
    request_json(admin, "POST", f"/api/v1/namespaces/{namespace}/resourcequotas", body={
        "metadata": {"name": "one-pvc"}, "spec": {"hard": {"persistentvolumeclaims": "1"}}})
    wait_for(lambda: (get(admin, f"/api/v1/namespaces/{namespace}/resourcequotas/one-pvc").get("status") or {})
             .get("hard"), what="the quota's status")
    failed = kf(kubeconfig, "kf-alice", "notebook create nb4 --volume 1Gi --volume 1Gi:/data --no-wait", namespace)
    assert failed.status == 1
    assert "exceeded quota" in failed.error and "nothing was created" in failed.error
    assert names(admin, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims") == []
    assert names(admin, _nb_path(namespace)) == []


def test_bad_arguments_create_nothing(kubeconfig, admin, namespace):
    for line, says in (("notebook create nb5 --cpu lots", "--cpu 'lots' is not a positive quantity"),
                       ("notebook create nb5 --image pytorh", "did you mean pytorch"),
                       ("notebook create nb5 --volume missing-claim", "PVC missing-claim not found")):
        bad = kf(kubeconfig, "kf-alice", line, namespace)
        assert bad.status in (1, 2) and says in bad.error, (line, bad.error)
    assert kf(kubeconfig, "kf-alice", "notebook create nb5 --cpu lots", namespace).status == 2
    assert names(admin, _nb_path(namespace)) == []
    assert names(admin, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims") == []
