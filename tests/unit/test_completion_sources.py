"""Pure pieces behind the refresher: kinds from discovery documents, objects to items, the on-disk cache."""

from __future__ import annotations

import json
import time

from kfshell.completion.cache import CompletionCache
from kfshell.completion.kinds import KindTable, parse_aggregated, parse_resource_list
from kfshell.completion.objects import convert_component, convert_pod, custom_converter, status_word
from kfshell.completion.snapshot import Item, Snapshot

AGGREGATED = {
    "kind": "APIGroupDiscoveryList",
    "items": [
        {"metadata": {"name": "kubeflow.org"}, "versions": [
            {"version": "v1", "resources": [
                {"resource": "notebooks", "responseKind": {"kind": "Notebook"}, "scope": "Namespaced",
                 "singularResource": "notebook", "shortNames": ["nb"], "verbs": ["get", "list", "watch"]},
                {"resource": "profiles", "responseKind": {"kind": "Profile"}, "scope": "Cluster",
                 "singularResource": "profile", "verbs": ["get", "list"]},
            ]},
            {"version": "v1beta1", "resources": [
                {"resource": "notebooks", "responseKind": {"kind": "Notebook"}, "scope": "Namespaced"},
            ]},
        ]},
    ],
}
CORE = {
    "groupVersion": "v1",
    "resources": [
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "shortNames": ["po"],
         "verbs": ["list", "watch"]},
        {"name": "pods/log", "namespaced": True, "kind": "Pod"},
        {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
         "shortNames": ["ns"]},
    ],
}


def table() -> KindTable:
    return KindTable(parse_resource_list(CORE) + parse_aggregated(AGGREGATED))


def test_kinds_resolve_by_every_name_kubectl_accepts():
    kinds = table()
    for name in ("notebooks", "notebook", "Notebook", "nb", "notebooks.kubeflow.org", "nb.kubeflow.org",
                 "notebooks.v1.kubeflow.org"):
        kind = kinds.resolve(name)
        assert kind is not None, name
        assert (kind.group, kind.version, kind.plural) == ("kubeflow.org", "v1", "notebooks")
    assert kinds.resolve("po").path("alice") == "/api/v1/namespaces/alice/pods"
    assert kinds.resolve("ns").path("alice") == "/api/v1/namespaces"
    assert kinds.resolve("pods/log") is None
    assert kinds.resolve("tfjobs.kubeflow.org") is None  # CRD not installed: nothing, no error


def test_watchable_comes_from_the_verbs():
    assert table().resolve("nb").watchable
    assert not table().resolve("profiles").watchable


def test_without_drops_a_kind():
    assert table().without("notebooks.kubeflow.org").resolve("nb") is None


def test_kinds_items_include_short_names():
    names = {item.name for item in table().items()}
    assert {"notebooks", "nb", "pods", "po"} <= names


def pod_object(**status):
    return {
        "metadata": {"name": "trainer-0", "namespace": "alice", "creationTimestamp": "2024-05-01T10:00:00Z"},
        "spec": {"containers": [{"name": "main", "image": "img:1"}], "initContainers": [{"name": "init"}]},
        "status": status,
    }


def test_pod_status_and_containers():
    contribution = convert_pod(pod_object(phase="Running"))
    (pod,) = contribution["pods"]
    assert (pod.name, pod.description, pod.namespace) == ("trainer-0", "Pod  Running", "alice")
    assert pod.created_at == 1714557600.0
    assert [(c.name, c.parent) for c in contribution["containers"]] == [("main", "trainer-0"), ("init", "trainer-0")]
    waiting = pod_object(phase="Pending", containerStatuses=[{"state": {"waiting": {"reason": "ImagePullBackOff"}}}])
    assert convert_pod(waiting)["pods"][0].description == "Pod  ImagePullBackOff"


def test_custom_resource_status_from_conditions():
    job = {"metadata": {"name": "mnist"}, "status": {"conditions": [
        {"type": "Created", "status": "True", "lastTransitionTime": "2024-05-01T10:00:00Z"},
        {"type": "Succeeded", "status": "True", "lastTransitionTime": "2024-05-01T11:00:00Z"},
    ]}}
    (item,) = custom_converter("jobs", "TFJob")(job)["jobs"]
    assert item.description == "TFJob  Succeeded"
    assert status_word({"metadata": {"deletionTimestamp": "x"}}) == "Terminating"


def test_components_only_for_kubeflow_workloads():
    deployment = {"kind": "Deployment", "metadata": {"name": "jwa", "namespace": "kubeflow",
                                                     "labels": {"app": "jupyter-web-app"}},
                  "spec": {"replicas": 1}, "status": {"readyReplicas": 1}}
    (item,) = convert_component(deployment)["components"]
    assert (item.name, item.description) == ("jupyter-web-app", "Component  1/1  kubeflow")
    other = {"kind": "Deployment", "metadata": {"name": "x", "namespace": "alice", "labels": {}}}
    assert convert_component(other) == {}


def test_cache_round_trip_and_age(tmp_path):
    cache = CompletionCache(tmp_path, ttl=60)
    snapshot = Snapshot.build("kf-alice", "alice", {"pods": [Item("p", "Pod  Running", "alice", None, 5.0)]},
                              complete=["pods"], taken_at=time.time() - 120)
    cache.write(snapshot)
    cached = cache.read("kf-alice", "alice")
    assert cached.snapshot.get("pods") == snapshot.get("pods")
    assert cached.snapshot.complete == frozenset({"pods"})
    assert 119 < cached.age < 130 and not cached.fresh(cache.ttl)
    assert cache.read("kf-alice", "other") is None


def test_cache_ignores_damaged_files_and_odd_names(tmp_path):
    cache = CompletionCache(tmp_path)
    path = cache.path("arn:aws:eks:x/y", "ns")
    assert path.parent.parent == tmp_path  # the context name cannot escape the cache directory
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert cache.read("arn:aws:eks:x/y", "ns") is None
    path.write_text(json.dumps({"version": 1, "items": {"pods": [["only-a-name"]]}}))
    assert cache.read("arn:aws:eks:x/y", "ns") is None


def test_only_one_refresh_claimed_at_a_time(tmp_path):
    cache = CompletionCache(tmp_path)
    assert cache.claim_refresh("c", "n")
    assert not cache.claim_refresh("c", "n")
    assert cache.claim_refresh("c", "n", hold=0)
