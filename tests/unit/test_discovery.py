"""Pure logic of kfshell.discovery and the status function: labels, ages, versions, selectors, health."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kfshell import discovery as d


def workload(name="jupyter-web-app-deployment", namespace="kubeflow", labels=None, ready=1, replicas=1,
             image="ghcr.io/kubeflow/kubeflow/jupyter-web-app:v1.10.0", owners=None, kind="Deployment"):
    return {
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {},
                     "creationTimestamp": "2024-01-01T00:00:00Z", "ownerReferences": owners or []},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "jwa"}},
                 "template": {"metadata": {"labels": {"app": "jwa", "tier": "web"}},
                              "spec": {"containers": [{"name": "main", "image": image}]}}},
        "status": {"readyReplicas": ready},
    }


@pytest.mark.parametrize(("labels", "expected"), [
    ({"app": "ml-pipeline-ui", "app.kubernetes.io/name": "kubeflow-pipelines"}, "ml-pipeline-ui"),
    ({"app.kubernetes.io/name": "centraldashboard", "app.kubernetes.io/component": "x"}, "centraldashboard"),
    ({"kustomize.component": "profiles"}, "profiles"),
    ({"control-plane": "kubeflow-training-operator"}, "kubeflow-training-operator"),
    ({"app.kubernetes.io/component": "katib"}, "katib"),
    ({"unrelated": "x"}, "fallback-name"),
])
def test_component_name_prefers_the_most_specific_label(labels, expected):
    assert d.component_name(labels, "fallback-name") == expected


def test_everything_in_kubeflow_is_a_component():
    assert d.is_component(workload(labels={}))


def test_elsewhere_a_component_must_say_it_is_part_of_kubeflow():
    assert not d.is_component(workload(namespace="alice", labels={"app": "mine"}))
    assert d.is_component(workload(namespace="alice", labels={"app.kubernetes.io/part-of": "kubeflow"}))
    assert d.is_component(workload(namespace="alice", labels={"kustomize.component": "x"}))


def test_workloads_made_by_kubeflow_resources_are_not_components():
    owned = workload(namespace="kubeflow", owners=[{"apiVersion": "kubeflow.org/v1", "kind": "Notebook",
                                                    "name": "nb", "controller": True}])
    assert not d.is_component(owned)
    assert not d.is_component(workload(labels={"notebook-name": "nb"}))


def test_to_component_reads_replicas_images_and_version():
    c = d.to_component(workload(labels={"app": "jupyter-web-app"}, ready=1, replicas=2))
    assert (c.name, c.ready, c.desired, c.version) == ("jupyter-web-app", 1, 2, "v1.10.0")
    assert c.matches("jupyter-web-app") and c.matches("jupyter-web-app-deployment")
    assert not c.matches("jupyter")


def test_version_label_wins_over_image_tag():
    c = d.to_component(workload(labels={"app.kubernetes.io/version": "1.2"}))
    assert c.version == "1.2"


@pytest.mark.parametrize(("image", "version"), [
    ("ghcr.io/kubeflow/kubeflow/jupyter-web-app:v1.10.0", "v1.10.0"),
    ("localhost:5000/team/model", "latest"),
    ("localhost:5000/team/model:2.1", "2.1"),
    ("kserve/kserve-controller@sha256:0123456789abcdef0123", "sha256:0123456789ab"),
    ("repo/img:1.0@sha256:abcdef", "1.0"),
    ("busybox", "latest"),
    ("", ""),
])
def test_image_version(image, version):
    assert d.image_version(image) == version


@pytest.mark.parametrize(("seconds", "shown"), [
    (-5, "0s"), (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"), (200, "3m20s"), (600, "10m"),
    (179 * 60, "179m"), (3 * 3600, "3h"), (5 * 3600 + 3 * 60, "5h3m"), (36 * 3600, "36h"),
    (4 * 86400 + 2 * 3600, "4d2h"), (120 * 86400, "120d"), (3 * 365 * 86400 + 20 * 86400, "3y20d"),
    (10 * 365 * 86400, "10y"),
])
def test_format_age_like_kubectl(seconds, shown):
    assert d.format_age(seconds) == shown


def test_age_of_a_timestamp():
    now = datetime(2024, 1, 1, 1, 0, 0, tzinfo=timezone.utc)
    assert d.age("2024-01-01T00:00:00Z", now) == "60m"
    assert d.age("2024-01-01T00:59:30.123456Z", now).endswith("s")
    assert d.age(None, now) == "<unknown>"


def test_selector_matching():
    sel = {"matchLabels": {"app": "x"},
           "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]},
                                {"key": "canary", "operator": "DoesNotExist"}]}
    assert d.selector_matches(sel, {"app": "x", "tier": "web"})
    assert not d.selector_matches(sel, {"app": "x", "tier": "db"})
    assert not d.selector_matches(sel, {"app": "x", "tier": "web", "canary": "1"})
    assert not d.selector_matches({}, {"app": "x"})  # an empty selector selects nothing here
    assert d.selector_matches({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""})
    assert d.selector_matches({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {})


def test_latest_true_condition():
    job = {"status": {"conditions": [
        {"type": "Created", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"},
        {"type": "Running", "status": "False", "lastTransitionTime": "2024-01-01T00:02:00Z"},
        {"type": "Succeeded", "status": "True", "lastTransitionTime": "2024-01-01T00:03:00Z"},
    ]}}
    assert d.latest_condition(job) == "Succeeded"
    assert d.condition_is(job, "Running") is False
    assert d.condition_is(job, "Ready") is None
    assert d.latest_condition({}) is None


def test_aggregated_discovery_and_kind_lookup():
    answer = {"kind": "APIGroupDiscoveryList", "items": [
        {"metadata": {"name": "kubeflow.org"}, "versions": [
            {"version": "v1", "resources": [
                {"resource": "notebooks", "responseKind": {"kind": "Notebook"}, "scope": "Namespaced"},
                {"resource": "profiles", "responseKind": {"kind": "Profile"}, "scope": "Cluster"}]},
            {"version": "v1beta1", "resources": [
                {"resource": "notebooks", "responseKind": {"kind": "Notebook"}, "scope": "Namespaced"}]}]},
    ]}
    found = d.Discovery(resources=tuple(d._from_aggregated(answer)))
    notebooks = found.find(d.KINDS["notebooks"])
    assert notebooks is not None and notebooks.version == "v1"
    assert notebooks.path("alice") == "/apis/kubeflow.org/v1/namespaces/alice/notebooks"
    profiles = found.by_kind("kubeflow.org/v1", "Profile")
    assert profiles is not None and not profiles.namespaced
    assert profiles.path("ignored", "p") == "/apis/kubeflow.org/v1/profiles/p"
    assert found.find(d.KINDS["trainjobs"]) is None
    core = d.Resource(group="", version="v1", kind="Pod", plural="pods", namespaced=True)
    assert core.path("ns", "p") == "/api/v1/namespaces/ns/pods/p" and core.api_version == "v1"


def test_component_namespaces():
    assert d.component_namespaces("alice") == ["kubeflow", "alice"]
    assert d.component_namespaces("kubeflow") == ["kubeflow"]


# ---- status health, on given pods and events ----


def pod(name, ready=True, restarts=0, waiting=None, labels=None):
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {"metadata": {"name": name, "labels": labels or {"app": "jwa"}},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "main", "restartCount": restarts, "state": state}]}}


def event(name, reason, message, ago, now):
    stamp = (now - timedelta(seconds=ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"involvedObject": {"name": name}, "reason": reason, "message": message, "lastTimestamp": stamp,
            "type": "Warning"}


def test_health_row_healthy_component():
    from functions.status import health_row

    now = datetime.now(timezone.utc)
    c = d.to_component(workload(labels={"app": "jupyter-web-app"}))
    row, healthy = health_row(c, [pod("jupyter-web-app-deployment-abc-1"), pod("other", labels={"app": "x"})],
                              [event("elsewhere", "BackOff", "x", 10, now)], now)
    assert healthy
    assert row[2:6] == ["1/1", 0, 0, "healthy"]


def test_health_row_unhealthy_component_explains_why():
    from functions.status import health_row

    now = datetime.now(timezone.utc)
    c = d.to_component(workload(labels={"app": "jupyter-web-app"}, ready=0, replicas=1))
    pods = [pod("jupyter-web-app-deployment-abc-1", ready=False, restarts=4, waiting="CrashLoopBackOff")]
    events = [event("jupyter-web-app-deployment-abc-1", "BackOff", "Back-off restarting", 30, now),
              event("jupyter-web-app-deployment-abc-1", "Old", "long ago", 7200, now)]
    row, healthy = health_row(c, pods, events, now)
    assert not healthy
    assert row[2:6] == ["0/1", 4, 1, "unhealthy"]
    assert "0/1 replicas ready" in row[6] and "BackOff" in row[6]


def test_scaled_down_is_not_unhealthy():
    from functions.status import health_row

    c = d.to_component(workload(ready=0, replicas=0))
    row, healthy = health_row(c, [], [])
    assert healthy and row[5] == "scaled down"


def test_service_urls():
    from functions.status import service_urls

    svc = {"metadata": {"name": "web", "namespace": "kubeflow"},
           "spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": 80}]}}
    urls = service_urls(svc, "https://127.0.0.1:6443/")
    assert urls == ["http://web.kubeflow.svc.cluster.local:80",
                    "https://127.0.0.1:6443/api/v1/namespaces/kubeflow/services/web:http/proxy/"]
