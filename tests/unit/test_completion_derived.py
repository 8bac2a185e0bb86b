"""Derived completion sources: each argument completes what its command accepts, and only that."""

from __future__ import annotations

from kfshell.completion.snapshot import Item, Snapshot


def _snapshot() -> Snapshot:
    return Snapshot.build("ctx", "alice", {
        "components": [Item("ml-pipeline", "Deployment", namespace="kubeflow"), Item("my-app", namespace="alice")],
        "notebooks": [Item("mnist-notebook", "Notebook  Running", namespace="alice")],
        "jobs": [Item("mnist-train", "TrainJob", namespace="alice")],
        "pods": [Item("scratch", "Pod  Running", namespace="alice"),
                 Item("mnist-notebook", "Pod  Running", namespace="alice")],
    }, complete=("components", "notebooks", "jobs", "inferenceservices", "tensorboards"))


def names(snapshot: Snapshot, source: str) -> list[str]:
    return [item.name for item in snapshot.get(source)]


def test_pod_targets_add_plain_pods_to_workloads():
    snapshot = _snapshot()
    assert "scratch" not in names(snapshot, "workloads")
    assert names(snapshot, "pod-targets") == ["ml-pipeline", "mnist-notebook", "mnist-train", "my-app", "scratch"]


def test_a_workload_wins_over_a_pod_of_the_same_name():
    (notebook,) = [i for i in _snapshot().get("pod-targets") if i.name == "mnist-notebook"]
    assert notebook.description == "Notebook  Running"


def test_derived_source_is_complete_only_when_all_its_parts_are():
    snapshot = _snapshot()
    assert snapshot.is_complete("workloads")
    assert not snapshot.is_complete("pod-targets")  # the pods' listing has not finished
    assert names(snapshot, "namespace-components") == ["my-app"]


def test_pod_commands_complete_pod_targets():
    from kfshell.commands import logs, run, shell
    from kfshell.commands import open as open_cmd

    for module in (shell, run, logs, open_cmd):
        first = module.KF_COMMAND["arguments"][0]
        assert first["complete"] == "pod-targets", module.__name__
