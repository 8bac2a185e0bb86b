"""`logs.follow_job` (what `train logs NAME -f` uses) against a real TrainJob: the Trainer and JobSet
controllers make its nodes' pods, KWOK completes them, and following ends with the job."""

from __future__ import annotations

import io


def test_follow_job_prints_every_nodes_log_and_ends_with_the_job(kubeconfig, admin, namespace):
    from kubernetes import client

    from kfshell.cluster import api_client
    from kfshell.commands.logs import follow_job
    from kfshell.kubeconfig import load_kubeconfig

    custom = client.CustomObjectsApi(admin)
    custom.create_namespaced_custom_object("trainer.kubeflow.org", "v1alpha1", namespace, "trainjobs", {
        "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": "follow-me"},
        "spec": {"runtimeRef": {"name": "torch-distributed"},
                 "trainer": {"numNodes": 2, "image": "kf-test:1", "command": ["torchrun", "train.py"]}}})
    alice = api_client(load_kubeconfig(kubeconfig, "kf-alice"), "kf-alice")
    out, err = io.StringIO(), io.StringIO()
    status = follow_job(alice, namespace, "follow-me", stdout=out, stderr=err, kind_key="trainjobs")
    assert status == 0, err.getvalue()
    job = custom.get_namespaced_custom_object("trainer.kubeflow.org", "v1alpha1", namespace, "trainjobs",
                                              "follow-me")
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])
    lines = out.getvalue().splitlines()
    pods = {line.split("]")[0].lstrip("[") for line in lines if "is played by KWOK" in line}
    assert len(pods) == 2, lines  # both nodes, each prefixed by its pod
