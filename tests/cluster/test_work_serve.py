"""`serve` and `tensorboard` against the dev cluster's InferenceService and Tensorboard CRDs.

Where KServe runs (Standard mode) an InferenceService gets its Deployment and reports Ready with a URL; where
it does not, and for Tensorboards (no controller in the dev cluster), the tests write status through the
status subresource, as the controller would, and say so.
"""

from __future__ import annotations

import pytest

from tests.cluster.kf_general import kf, text_of
from tests.cluster.work_helpers import Background, controller_running, get, names, set_status
from tests.conftest import wait_for

pytestmark = pytest.mark.cluster

URI = "gs://kfserving-examples/models/sklearn/1.0/model"


def _isvc(ns: str, name: str = "") -> str:
    return f"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices" + (f"/{name}" if name else "")


def _tb(ns: str, name: str = "") -> str:
    return f"/apis/tensorboard.kubeflow.org/v1alpha1/namespaces/{ns}/tensorboards" + (f"/{name}" if name else "")


def _ready(ns: str, name: str) -> dict:
    url = f"http://{name}.{ns}.example.com"
    return {"url": url, "address": {"url": f"http://{name}-predictor.{ns}.svc.cluster.local"},
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": "2030-01-01T00:00:00Z"}
                           for t in ("PredictorReady", "IngressReady", "Ready")],
            "modelStatus": {"transitionStatus": "UpToDate", "states": {"activeModelState": "Loaded",
                                                                        "targetModelState": "Loaded"}}}


def test_alice_serves_a_model_waits_for_its_url_stops_starts_and_deletes_it(kubeconfig, admin, namespace):
    controller = controller_running("kserve-controller")
    serving = Background(lambda: kf(kubeconfig, "kf-alice", f"serve iris --model-format sklearn --storage-uri {URI} "
                                    "--timeout 120", namespace))
    wait_for(lambda: get(admin, _isvc(namespace, "iris")), what="the InferenceService")
    model = get(admin, _isvc(namespace, "iris"))["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "sklearn"} and model["storageUri"] == URI
    if not controller:  # no KServe controller here: report Ready with a URL as it would
        set_status(admin, _isvc(namespace, "iris"), _ready(namespace, "iris"))
    served = serving.result(180)
    assert served.status == 0, served.error
    url = get(admin, _isvc(namespace, "iris"))["status"]["url"]
    assert url.startswith("http") and f"inference service iris is ready: {url}" in text_of(served)
    if controller:
        deployment = get(admin, f"/apis/apps/v1/namespaces/{namespace}/deployments/iris-predictor")
        assert (deployment.get("status") or {}).get("readyReplicas") == 1

    row = kf(kubeconfig, "kf-alice", "serve ls", namespace).row(name="iris")
    assert (row["ready"], row["state"], row["url"]) == ("True", "Ready", url)
    assert kf(kubeconfig, "kf-alice", "status list", namespace).row(name="iris")["type"] == "inferenceservice"

    assert kf(kubeconfig, "kf-alice", "serve stop iris", namespace).status == 0
    annotations = get(admin, _isvc(namespace, "iris"))["metadata"]["annotations"]
    assert annotations["serving.kserve.io/stop"] == "true"
    assert kf(kubeconfig, "kf-alice", "serve ls", namespace).row(name="iris")["state"] == "Stopped"
    again = kf(kubeconfig, "kf-alice", "serve stop iris", namespace)
    assert again.status == 1 and "already stopped" in again.error
    assert kf(kubeconfig, "kf-alice", "serve start iris", namespace).status == 0
    assert "serving.kserve.io/stop" not in (get(admin, _isvc(namespace, "iris"))["metadata"].get("annotations") or {})

    assert kf(kubeconfig, "kf-alice", "serve delete iris --yes", namespace).status == 0
    wait_for(lambda: "iris" not in names(admin, _isvc(namespace)), what="the InferenceService deleted")


def test_describe_says_why_a_service_is_not_ready(kubeconfig, admin, namespace):
    if controller_running("kserve-controller"):  # KServe finds no runtime for this format and says so
        made = kf(kubeconfig, "kf-alice", f"serve slow --model-format nosuchformat --storage-uri {URI} --no-wait",
                  namespace)
        assert made.status == 0, made.error

        def explained():
            run = kf(kubeconfig, "kf-alice", "serve describe slow", namespace)
            return run if (run.data or {}).get("whyNotReady", "").startswith("NoSupportingRuntime") else None

        described = wait_for(explained, timeout=60, interval=1, what="KServe's reason")
        assert described.data["state"] == "Failed"
    else:  # no KServe controller here: write the conditions it would
        made = kf(kubeconfig, "kf-alice", f"serve slow --model-format sklearn --storage-uri {URI} --no-wait",
                  namespace)
        assert made.status == 0, made.error
        set_status(admin, _isvc(namespace, "slow"), {"conditions": [
            {"type": "PredictorReady", "status": "False", "reason": "ImagePullBackOff", "message": "no such image"},
            {"type": "Ready", "status": "False", "reason": "PredictorNotReady"}]})
        described = kf(kubeconfig, "kf-alice", "serve describe slow", namespace)
        assert described.data["whyNotReady"] == "PredictorReady: ImagePullBackOff: no such image"
        assert described.data["state"] == "NotReady"
    assert kf(kubeconfig, "kf-alice", "serve ls", namespace).row(name="slow")["state"] == described.data["state"]


def test_bad_service_files_and_bob_create_nothing(kubeconfig, admin, namespace, tmp_path):
    schema = tmp_path / "isvc.yaml"
    schema.write_text("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: m}\n"
                      "spec: {predictor: {model: {modelFormat: {name: sklearn}, storageUrl: gs://b/m}}}\n")
    bad = kf(kubeconfig, "kf-alice", f"serve m {schema} --no-wait", namespace)
    assert bad.status == 2 and 'unknown field "spec.predictor.model.storageUrl"' in bad.error, bad.error
    wrong = tmp_path / "tb.yaml"
    wrong.write_text("apiVersion: tensorboard.kubeflow.org/v1alpha1\nkind: Tensorboard\nmetadata: {name: m}\n"
                     "spec: {logspath: gs://b/logs}\n")
    assert "takes an InferenceService" in kf(kubeconfig, "kf-alice", f"serve m {wrong}", namespace).error
    refused = kf(kubeconfig, "kf-bob", f"serve m --model-format sklearn --storage-uri {URI}", namespace)
    assert refused.status == 1
    assert f"needs create inferenceservices.serving.kserve.io in namespace {namespace}" in refused.error
    assert names(admin, _isvc(namespace)) == []


def test_alice_opens_a_tensorboard_on_her_training_logs(kubeconfig, admin, namespace, tmp_path):
    from kfshell.cluster import request_json

    missing = kf(kubeconfig, "kf-alice", "tensorboard runs --logspath pvc://training-logs/mnist", namespace)
    assert missing.status == 1 and "PVC training-logs not found" in missing.error
    request_json(admin, "POST", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", body={
        "metadata": {"name": "training-logs"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    made = kf(kubeconfig, "kf-alice", "tensorboard runs --logspath pvc://training-logs/mnist", namespace)
    assert made.status == 0, made.error
    assert get(admin, _tb(namespace, "runs"))["spec"]["logspath"] == "pvc://training-logs/mnist"
    row = kf(kubeconfig, "kf-alice", "tensorboard ls", namespace).row(name="runs")
    assert (row["state"], row["url"]) == ("Waiting", f"/tensorboard/{namespace}/runs/")
    set_status(admin, _tb(namespace, "runs"), {"readyReplicas": 1})  # no Tensorboard controller here
    assert kf(kubeconfig, "kf-alice", "tensorboard ls", namespace).row(name="runs")["state"] == "Ready"
    assert kf(kubeconfig, "kf-alice", "status list", namespace).row(name="runs")["type"] == "tensorboard"

    refused = kf(kubeconfig, "kf-bob", "tensorboard delete runs --yes", namespace)
    assert refused.status == 1 and "needs delete tensorboards.tensorboard.kubeflow.org" in refused.error
    empty = tmp_path / "tb.yaml"
    empty.write_text("apiVersion: tensorboard.kubeflow.org/v1alpha1\nkind: Tensorboard\nmetadata: {name: other}\n"
                     "spec: {logspath: ''}\n")
    bad = kf(kubeconfig, "kf-alice", f"tensorboard other {empty}", namespace)
    assert bad.status == 2 and "spec.logspath" in bad.error, bad.error
    assert kf(kubeconfig, "kf-alice", "tensorboard delete runs --yes", namespace).status == 0
    wait_for(lambda: names(admin, _tb(namespace)) == [], what="the tensorboard deleted")
