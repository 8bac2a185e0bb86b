"""`train` against the dev cluster's TrainJob, PyTorchJob and TFJob CRDs, as alice and as bob.

Where Trainer and JobSet run, a TrainJob becomes a JobSet whose pods KWOK completes (or fails, for a pod
annotated with an exit code); where they do not, the tests write the TrainJob's status through the status
subresource, as the controller would (conditions Complete / Failed), and say so.
"""

from __future__ import annotations

import pytest
import yaml

from tests.cluster.kf_general import kf, text_of
from tests.cluster.work_helpers import Background, controller_running, get, names, set_status
from tests.conftest import wait_for

pytestmark = pytest.mark.cluster

TRAINJOB = """apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata:
  name: {name}
spec:
  runtimeRef: {{name: torch-distributed}}
  trainer:
    image: docker.io/kubeflow/pytorch-mnist:v1
    numNodes: 1
"""
PYTORCHJOB = """apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: legacy}
spec:
  pytorchReplicaSpecs:
    Master:
      replicas: 1
      template:
        spec:
          containers: [{name: pytorch, image: "docker.io/kubeflowkatib/pytorch-mnist-cpu:v0.17.0"}]
"""
SCRIPT = "import sys\nprint('epochs', sys.argv[1:])\n"


def _jobs(ns: str, name: str = "") -> str:
    return f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/{ns}/trainjobs" + (f"/{name}" if name else "")


def _ended(kind: str, reason: str = "", message: str = "") -> dict:
    condition = {"type": kind, "status": "True", "reason": reason or kind, "message": message or kind,
                 "lastTransitionTime": "2030-01-01T00:00:00Z"}
    return {"conditions": [condition]}


def test_alice_trains_from_a_script_and_from_files_and_sees_the_history(kubeconfig, admin, namespace, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    made = kf(kubeconfig, "kf-alice", f"train mnist --runtime torch-distributed --script {script} --nodes 2 "
              "-- --epochs 3", namespace)
    assert made.status == 0, made.error
    trainer = get(admin, _jobs(namespace, "mnist"))["spec"]["trainer"]
    assert trainer["numNodes"] == 2
    assert trainer["command"][:2] == ["bash", "-c"] and SCRIPT in trainer["command"][2]
    assert trainer["command"][3:] == ["train.py", "--epochs", "3"]

    job_file = tmp_path / "job.yaml"
    job_file.write_text(TRAINJOB.format(name="from-file"))
    assert kf(kubeconfig, "kf-alice", f"train from-file {job_file}", namespace).status == 0
    legacy = tmp_path / "legacy.yaml"
    legacy.write_text(PYTORCHJOB)
    assert kf(kubeconfig, "kf-alice", f"train legacy {legacy}", namespace).status == 0

    if controller_running("trainer-controller"):  # the JobSet's pods complete (KWOK)
        wait_for(lambda: kf(kubeconfig, "kf-alice", "train ls", namespace).row(name="mnist")["state"] == "Complete",
                 timeout=120, interval=2, what="TrainJob mnist to complete")
    else:  # no Trainer controller here: finish the job on its status subresource as the controller would
        set_status(admin, _jobs(namespace, "mnist"), _ended("Complete"))
    listed = kf(kubeconfig, "kf-alice", "train ls", namespace)
    assert listed.status == 0
    assert {r["name"] for r in listed.rows()} == {"mnist", "from-file", "legacy"}
    assert listed.row(name="mnist")["state"] == "Complete" and listed.row(name="mnist")["nodes"] == "2"
    assert listed.row(name="from-file")["state"] in ("Created", "Running", "Complete")
    assert listed.row(name="legacy")["kind"] == "PyTorchJob"
    started = [r["started"] for r in listed.rows()]
    assert started == sorted(started, reverse=True)  # newest first
    status_rows = kf(kubeconfig, "kf-alice", "status list", namespace)
    assert status_rows.row(name="mnist")["type"] == "trainjob"
    assert status_rows.row(name="legacy")["type"] == "pytorchjob"

    described = kf(kubeconfig, "kf-alice", "train describe mnist", namespace)
    assert described.data["state"] == "Complete" and described.data["runtime"]["name"] == "torch-distributed"
    assert kf(kubeconfig, "kf-alice", "train delete legacy --yes", namespace).status == 0
    wait_for(lambda: "legacy" not in names(admin, f"/apis/kubeflow.org/v1/namespaces/{namespace}/pytorchjobs"),
             what="the PyTorchJob deleted")


EXIT_CODE = "devcluster.kf.kubeflow.org/exit-code"  # KWOK fails a pod annotated so (devcluster/kwok)


def _failing_job(admin, namespace: str) -> str:
    """A TrainJob whose node pods fail at once: torch-distributed copied as a namespaced runtime whose Jobs do
    not retry, and the node pods annotated with an exit code."""
    from kfshell.cluster import request_json

    base = "/apis/trainer.kubeflow.org/v1alpha1"
    spec = request_json(admin, "GET", f"{base}/clustertrainingruntimes/torch-distributed")["spec"]
    for job in spec["template"]["spec"]["replicatedJobs"]:
        job["template"].setdefault("spec", {})["backoffLimit"] = 0
    request_json(admin, "POST", f"{base}/namespaces/{namespace}/trainingruntimes", body={
        "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainingRuntime",
        "metadata": {"name": "torch-no-retry"}, "spec": spec})
    pod = {"metadata": {"annotations": {EXIT_CODE: "3"}}}
    job = yaml.safe_load(TRAINJOB.format(name="waited"))
    job["spec"]["runtimeRef"] = {"name": "torch-no-retry", "kind": "TrainingRuntime"}
    job["spec"]["runtimePatches"] = [{"manager": "kf.kubeflow.org/tests", "trainingRuntimeSpec": {"template": {
        "spec": {"replicatedJobs": [{"name": "node", "template": {"spec": {"template": pod}}}]}}}}]
    return yaml.safe_dump(job)


@pytest.mark.parametrize(("outcome", "status"), [("Complete", 0), ("Failed", 1)])
def test_wait_ends_with_the_jobs_outcome(kubeconfig, admin, namespace, tmp_path, outcome, status):
    controller = controller_running("trainer-controller")
    job_file = tmp_path / "job.yaml"
    job_file.write_text(_failing_job(admin, namespace) if controller and outcome == "Failed"
                        else TRAINJOB.format(name="waited"))
    waiting = Background(lambda: kf(kubeconfig, "kf-alice", f"train waited {job_file} --wait --timeout 120",
                                    namespace))
    if not controller:
        wait_for(lambda: get(admin, _jobs(namespace, "waited")), what="the TrainJob")
        # No Trainer controller here: the test writes the outcome the controller would copy from the JobSet.
        set_status(admin, _jobs(namespace, "waited"),
                   _ended(outcome, "BackoffLimitExceeded", "node-0 exited with 3"))
    done = waiting.result(180)
    assert done.status == status, done.error
    if outcome == "Failed":
        assert "TrainJob waited failed after" in done.error, done.error
        assert ("BackoffLimitExceeded: node-0 exited with 3" in done.error) or controller
        described = kf(kubeconfig, "kf-alice", "train describe waited", namespace)
        assert described.data["state"] == "Failed"
        if controller:  # the pods say how they failed
            assert any("exited 3" in p.get("failure", "") for p in described.data["pods"]), described.data
    else:
        assert "TrainJob waited completed" in text_of(done)


BAD_FILES = [
    ("syntax", "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nspec: {runtimeRef: [x}\n",
     "line 3 column"),
    ("kind", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\n", "is a Deployment (apps/v1)"),
    ("name", TRAINJOB.format(name="another"), "names the TrainJob 'another', not 'bad'"),
    ("documents", TRAINJOB.format(name="bad") + "---\n" + TRAINJOB.format(name="bad"), "holds 2 documents"),
    ("schema", TRAINJOB.format(name="bad") + "  managedBy: someone-else\n", "spec.managedBy: Invalid value"),
    ("unknown field", TRAINJOB.format(name="bad").replace("numNodes: 1", "numNode: 1"), "numNode"),
]


@pytest.mark.parametrize(("case", "text", "says"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_file_exits_2_saying_where_and_creates_nothing(kubeconfig, admin, namespace, tmp_path, case, text,
                                                             says):
    job_file = tmp_path / "job.yaml"
    job_file.write_text(text)
    bad = kf(kubeconfig, "kf-alice", f"train bad {job_file}", namespace)
    assert bad.status == 2, (case, bad.error)
    assert says in bad.error, bad.error
    assert names(admin, _jobs(namespace)) == []


def test_bob_may_list_but_is_refused_every_change(kubeconfig, admin, namespace, tmp_path):
    job_file = tmp_path / "job.yaml"
    job_file.write_text(TRAINJOB.format(name="alices"))
    assert kf(kubeconfig, "kf-alice", f"train alices {job_file}", namespace).status == 0
    assert kf(kubeconfig, "kf-bob", "train ls", namespace).row(name="alices")["kind"] == "TrainJob"
    for line, verb in ((f"train bobs {job_file}", "create"), ("train delete alices --yes", "delete")):
        refused = kf(kubeconfig, "kf-bob", line, namespace)
        assert refused.status == 1, line
        assert f"needs {verb} trainjobs.trainer.kubeflow.org in namespace {namespace}" in refused.error
    assert names(admin, _jobs(namespace)) == ["alices"]


def test_a_kind_the_cluster_lacks_gets_one_line(kubeconfig, namespace):
    from kfshell import discovery, workloads
    from kfshell.cluster import api_client, load_kubeconfig
    from kfshell.fnkit import FunctionError

    api = api_client(load_kubeconfig(kubeconfig, "kf-alice"))
    served = discovery.discover(api)
    runtimes = served.find(discovery.Kind("ClusterTrainingRuntime", "trainer.kubeflow.org",
                                          "clustertrainingruntimes", ("v1alpha1",), namespaced=False))
    listed = kf(kubeconfig, "kf-alice", "train runtimes", namespace)
    if runtimes is None:  # the seed's Trainer CRDs have no runtimes
        assert listed.status == 1
        assert "this cluster has no Kubeflow Trainer (trainer.kubeflow.org)" in listed.error
        assert "ask your administrator" in listed.error
    else:
        assert listed.status == 0
    with pytest.raises(FunctionError, match=r"this cluster has no KServe \(serving.kserve.io\)"):
        workloads.resource(api, discovery.Kind("LLMInferenceService", "serving.kserve.io", "llminferenceservices",
                                               ("v1alpha1",)), served)


@pytest.mark.parametrize(("outcome", "status"), [("Complete", 0), ("Failed", 1)])
def test_train_logs_follow_ends_with_the_jobs_outcome(kubeconfig, admin, namespace, tmp_path, outcome, status):
    if not controller_running("trainer-controller"):
        pytest.skip("following a job's pods needs the Trainer and JobSet controllers")
    job_file = tmp_path / "job.yaml"
    job_file.write_text(_failing_job(admin, namespace) if outcome == "Failed" else TRAINJOB.format(name="waited"))
    assert kf(kubeconfig, "kf-alice", f"train waited {job_file}", namespace).status == 0
    followed = kf(kubeconfig, "kf-alice", "train logs waited -f", namespace)
    assert followed.status == status, followed.error
    assert "waited-node-0-0" in text_of(followed)  # every node's lines, prefixed with its pod


def test_alice_sees_the_clusters_training_runtimes(kubeconfig, namespace):
    if not controller_running("trainer-controller"):
        pytest.skip("the built-in ClusterTrainingRuntimes come with the Trainer")
    listed = kf(kubeconfig, "kf-alice", "train runtimes", namespace)
    assert listed.status == 0, listed.error
    assert "not allowed" not in listed.error
    assert any(row.get("name") == "torch-distributed" for row in listed.rows()), listed.data
