"""The pure logic of notebook, train, serve and tensorboard: states, manifests, input files, script jobs."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from functions import notebook, serve, tensorboard, train
from kfshell import discovery, fnkit, manifests, workloads
from kfshell.errors import UsageError
from kfshell.parsing import parse
from kfshell.registry import Registry
from kfshell.rest import ApiError

TRAIN_KINDS = train.FILE_KINDS


def _nb(annotations=None, status=None, created=None, deleting=False):
    meta = {"name": "nb", "namespace": "alice", "annotations": annotations or {},
            "creationTimestamp": created or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": status or {}}


# ---- input files ---------------------------------------------------------------------------------------------


def test_a_yaml_syntax_error_says_line_and_column():
    with pytest.raises(UsageError) as err:
        manifests.load_one("kind: TrainJob\nmetadata:\n  name: [x\n", "job.yaml", TRAIN_KINDS, "x", "ns", "train")
    assert "job.yaml line 4 column 1 is not valid YAML" in err.value.message


def test_several_documents_are_refused():
    text = "apiVersion: kubeflow.org/v1\nkind: TFJob\n---\napiVersion: kubeflow.org/v1\nkind: TFJob\n"
    with pytest.raises(UsageError, match="holds 2 documents; train takes one"):
        manifests.load_one(text, "j.yaml", TRAIN_KINDS, "x", "ns", "train")


def test_a_kind_the_command_does_not_take_is_named():
    with pytest.raises(UsageError) as err:
        manifests.load_one("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", "d.yaml", TRAIN_KINDS,
                           "x", "ns", "train")
    assert "d.yaml is a Deployment (apps/v1); train takes a PyTorchJob or TFJob or TrainJob" in err.value.message


def test_a_name_other_than_the_command_lines_is_refused_and_a_missing_one_filled():
    text = "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: other}\nspec: {}\n"
    with pytest.raises(UsageError, match="names the TrainJob 'other', not 'mine'"):
        manifests.load_one(text, "j.yaml", TRAIN_KINDS, "mine", "ns", "train")
    filled = manifests.load_one(text.replace("metadata: {name: other}\n", ""), "j.yaml", TRAIN_KINDS, "mine", "ns",
                                "train")
    assert filled.obj["metadata"] == {"name": "mine", "namespace": "ns"}


def test_a_schema_refusal_names_the_field_and_exits_2():
    body = json.dumps({"kind": "Status", "message": "TrainJob.trainer.kubeflow.org \"x\" is invalid: ...",
                       "details": {"causes": [{"field": "spec.runtimeRef.kind",
                                               "message": "Unsupported value: \"Foo\""}]}})
    err = workloads.refusal(ApiError(422, "Unprocessable Entity", body), "TrainJob x", "ns")
    assert isinstance(err, fnkit.FunctionError) and err.exit_status == 2
    assert "TrainJob x: the server refuses it: spec.runtimeRef.kind: Unsupported value: \"Foo\"" == err.message


# ---- notebooks -------------------------------------------------------------------------------------------------


def test_status_list_tells_a_notebooks_state_as_notebook_ls_does():
    from functions import status

    def phase(nb):
        return status._notebook_row(nb, "Notebook")[4]

    assert phase(_nb({discovery.NOTEBOOK_STOPPED: "t"}, {"readyReplicas": 0})) == "Stopped"
    assert phase(_nb({discovery.NOTEBOOK_STOPPED: "t"}, {"readyReplicas": 1})) == "Stopping"
    assert phase(_nb(status={"readyReplicas": 1})) == "Ready"
    pulling = {"containerState": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}}
    assert phase(_nb(status=pulling)) == "Warning (ImagePullBackOff)"
    assert notebook.shown_state(_nb(status=pulling)) == "warning (ImagePullBackOff)"


def test_notebook_states_follow_the_web_app():
    assert discovery.notebook_state(_nb(status={"readyReplicas": 1}))[0] == "ready"
    assert discovery.notebook_state(_nb({discovery.NOTEBOOK_STOPPED: "t"}, {"readyReplicas": 0}))[0] == "stopped"
    assert discovery.notebook_state(_nb({discovery.NOTEBOOK_STOPPED: "t"}, {"readyReplicas": 1}))[0] == "stopping"
    assert discovery.notebook_state(_nb(deleting=True))[0] == "terminating"
    assert discovery.notebook_state(_nb(status={"containerState": {"waiting": {"reason": "PodInitializing"}}})) == (
        "waiting", "PodInitializing")
    warn = discovery.notebook_state(_nb(status={"containerState": {"waiting": {"reason": "ImagePullBackOff",
                                                                     "message": "no such image"}}}))
    assert warn == ("warning", "ImagePullBackOff: no such image")
    assert notebook.shown_state(_nb(status={"containerState": {"waiting": {"reason": "ErrImagePull"}}})) == \
        "warning (ErrImagePull)"
    old = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert discovery.notebook_state(_nb(created=old))[0] == "warning"
    assert discovery.notebook_state(_nb())[0] == "waiting"


def test_notebook_limits_are_the_web_apps_1_2_times_the_requests():
    assert notebook.scaled("0.5") == "0.6"
    assert notebook.scaled("1Gi") == "1.2Gi"
    assert notebook.scaled("500m") == "600m"
    with pytest.raises(fnkit.FunctionError, match="--cpu 'lots' is not a positive quantity"):
        notebook.quantity("lots", "--cpu")


def test_notebook_volumes_default_to_a_workspace_and_take_sizes_or_claims():
    assert notebook.parse_volumes("nb", [], False) == [{"pvc": "nb-workspace", "size": "5Gi", "mount": "/home/jovyan"}]
    assert notebook.parse_volumes("nb", ["10Gi", "data:/mnt/data"], False) == [
        {"pvc": "nb-workspace", "size": "10Gi", "mount": "/home/jovyan"},
        {"pvc": "data", "size": None, "mount": "/mnt/data"}]
    assert notebook.parse_volumes("nb", [], True) == []
    with pytest.raises(fnkit.FunctionError, match="same path"):
        notebook.parse_volumes("nb", ["1Gi:/x", "2Gi:/x"], False)


def test_a_notebook_is_made_as_the_web_app_makes_it():
    nb = notebook.notebook_manifest("nb", "alice", image=notebook.IMAGES["pytorch"], server_type="jupyter",
                                    cpu="1", memory="2Gi", gpu=1, volumes=notebook.parse_volumes("nb", [], False),
                                    creator="alice", service_account="default-editor")
    pod = nb["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"},
                                      "limits": {"cpu": "1.2", "memory": "2.4Gi", "nvidia.com/gpu": "1"}}
    assert {"name": "nb-workspace", "mountPath": "/home/jovyan"} in container["volumeMounts"]
    assert pod["serviceAccountName"] == "default-editor"
    assert nb["metadata"]["annotations"]["notebooks.kubeflow.org/creator"] == "alice"
    assert notebook.image_of("rstudio") == (notebook.IMAGES["rstudio"], "group-two")
    with pytest.raises(fnkit.FunctionError, match="not one of Kubeflow's images"):
        notebook.image_of("pytorh")


# ---- training jobs ---------------------------------------------------------------------------------------------


def _job(kind="TrainJob", conditions=(), jobs_status=None, spec=None):
    return {"kind": kind, "metadata": {"name": "j", "creationTimestamp": "2026-12-01T10:00:00Z"},
            "spec": spec or {}, "status": {"conditions": list(conditions), "jobsStatus": jobs_status or []}}


def test_trainjob_states_as_the_sdk_tells_them():
    assert train.job_state(_job()) == ("Created", "")
    assert train.job_state(_job(jobs_status=[{"name": "node", "active": 2}]))[0] == "Running"
    done = {"type": "Complete", "status": "True", "lastTransitionTime": "2026-12-01T10:05:30Z"}
    assert train.job_state(_job(conditions=[done]))[0] == "Complete"
    finished = _job(conditions=[done])
    assert workloads.duration(train.started_at(finished), train.ended_at(finished)) == "5m30s"
    failed = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "node-0 exited 1"}
    assert train.job_state(_job(conditions=[failed])) == ("Failed", "BackoffLimitExceeded: node-0 exited 1")
    legacy = _job("PyTorchJob", [{"type": "Created", "status": "True", "lastTransitionTime": "2026-12-01T10:00:00Z"},
                                 {"type": "Succeeded", "status": "True", "lastTransitionTime": "2026-12-01T10:01:00Z"}],
                  spec={"pytorchReplicaSpecs": {"Master": {"replicas": 1}, "Worker": {"replicas": 2}}})
    assert train.job_state(legacy)[0] == "Succeeded" and train.nodes(legacy) == "3"


def test_the_script_travels_in_the_job_and_runs_with_its_arguments(tmp_path):
    script = "import sys\nprint('training with', sys.argv[1:])\n# EOF and 'quotes' and $HOME stay as written\n"
    command = train.script_command(script, "my train.py", ["--epochs", "3"], "")
    assert command[:2] == ["bash", "-c"]
    shell = command[2].replace("/tmp/kf", str(tmp_path))  # run it here, as the trainer's container would
    done = subprocess.run(["bash", "-c", shell, *command[3:]], capture_output=True, text=True, check=True)
    assert done.stdout == "training with ['--epochs', '3']\n"
    assert (tmp_path / "my_train.py").read_text() == script
    assert "exec torchrun" in train.script_command(script, "t.py", [], "torch")[2]


def test_a_script_job_names_its_runtime_nodes_and_gpus():
    ref = {"name": "torch-distributed", "kind": "ClusterTrainingRuntime", "apiGroup": "trainer.kubeflow.org"}
    job = train.script_job("j", "alice", ref, "print(1)", "t.py", [], framework="torch", nodes=2, gpus=1,
                           image="pytorch/pytorch:2")
    trainer = job["spec"]["trainer"]
    assert job["spec"]["runtimeRef"] == ref
    assert trainer["numNodes"] == 2 and trainer["image"] == "pytorch/pytorch:2"
    assert trainer["resourcesPerNode"] == {"limits": {"nvidia.com/gpu": 1}}


# ---- serving and tensorboards ----------------------------------------------------------------------------------


def test_an_inference_service_says_why_it_is_not_ready():
    isvc = {"metadata": {"name": "m"}, "status": {"conditions": [
        {"type": "Ready", "status": "False", "reason": "PredictorNotReady"},
        {"type": "PredictorReady", "status": "False", "reason": "ImagePullBackOff", "message": "no image"}]}}
    assert serve.why_not_ready(isvc) == "PredictorReady: ImagePullBackOff: no image"
    assert serve.state(isvc) == "NotReady"
    isvc["metadata"]["annotations"] = {serve.STOP: "true"}
    assert serve.state(isvc) == "Stopped"
    manifest = serve.manifest("m", "alice", "sklearn:1", "gs://b/m", None, "v2")
    assert manifest["spec"]["predictor"]["model"] == {"modelFormat": {"name": "sklearn", "version": "1"},
                                                      "storageUri": "gs://b/m", "protocolVersion": "v2"}


def test_tensorboard_logspaths():
    assert tensorboard.pvc_of("pvc://runs/logs/x") == "runs"
    assert tensorboard.pvc_of("gs://b/logs") is None
    with pytest.raises(fnkit.FunctionError, match="not a logs path"):
        tensorboard.check_logspath("ftp://x")


# ---- the command line ------------------------------------------------------------------------------------------


def test_a_name_after_train_is_the_default_create_and_a_typo_after_status_is_still_one():
    registry = Registry.load()
    invocation = parse(registry, ["train", "j1", "job.yaml"])
    assert invocation.words == ("train", "create") and invocation.args == {"name": "j1", "file": "job.yaml"}
    assert parse(registry, ["train", "ls"]).words == ("train", "ls")
    assert parse(registry, ["notebook"]).words == ("notebook", "ls")
    with pytest.raises(UsageError, match="is not a subcommand of status"):
        parse(registry, ["status", "lsit"])


def test_names_complete_from_the_live_sources():
    from kfshell.completion.analyze import analyze

    registry = Registry.load()
    for words, source in ((["notebook", "stop"], "notebooks"), (["train", "describe"], "jobs"),
                          (["serve", "start"], "inferenceservices"), (["tensorboard", "delete"], "tensorboards")):
        assert analyze(registry, words, "").sources == (source,), words
    assert "files" in analyze(registry, ["train", "j1"], "").sources  # `train NAME FILE`


def test_train_logs_hands_over_to_the_logs_command_with_every_argument_it_takes():
    from kfshell.commands import logs

    invocation = parse(Registry.load(), ["train", "logs", "j1", "-f", "--tail", "5"])
    assert invocation.command.hands_to == "logs"
    assert invocation.args == {"name": "j1", "follow": True, "tail": 5}
    taken = {arg["name"] for arg in logs.KF_COMMAND["arguments"]}
    assert set(invocation.args) <= taken
