"""`create`, `delete` and `remove` against the dev cluster: projects as Profiles, dry runs, all-or-nothing
repositories, and who is refused what."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.kf_general import kf, text_of
from tests.conftest import wait_for

pytestmark = pytest.mark.cluster

GOOD = """apiVersion: v1
kind: ConfigMap
metadata: {name: settings, labels: {app: demo}}
data: {learning_rate: "0.01"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo, labels: {app: demo, app.kubernetes.io/part-of: kubeflow}}
spec:
  replicas: 1
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo, app.kubernetes.io/part-of: kubeflow}}
    spec: {containers: [{name: demo, image: "example.com/demo:1.2.3"}]}
"""
# Valid YAML the server refuses: the selector does not match the template's labels.
BAD = """apiVersion: apps/v1
kind: Deployment
metadata: {name: broken}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: y}}
    spec: {containers: [{name: c, image: "example.com/c:1"}]}
"""


def _exists(admin, path: str) -> bool:
    from kubernetes.client.exceptions import ApiException

    from kfshell.cluster import request_json

    try:
        request_json(admin, "GET", path)
        return True
    except ApiException as err:
        if err.status == 404:
            return False
        raise


def _gone(admin, name: str) -> bool:
    return not _exists(admin, f"/api/v1/namespaces/{name}") and \
        not _exists(admin, f"/apis/kubeflow.org/v1/profiles/{name}")


@pytest.fixture
def project(admin) -> Iterator[str]:
    """A fresh project name; whatever a test made under it is deleted afterwards."""
    from kubernetes.client.exceptions import ApiException

    from kfshell.cluster import request_json

    name = f"kft-{uuid.uuid4().hex[:8]}"
    yield name
    for path in (f"/apis/kubeflow.org/v1/profiles/{name}", f"/api/v1/namespaces/{name}"):
        try:
            request_json(admin, "DELETE", path)
        except ApiException as err:
            if err.status != 404:
                raise


@pytest.fixture
def repos(tmp_path: Path) -> dict[str, str]:
    good = tmp_path / "good"
    good.mkdir()
    (good / "app.yaml").write_text(GOOD)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "app.yaml").write_text(GOOD)
    (bad / "zz-broken.yaml").write_text(BAD)
    return {"good": str(good), "bad": str(bad)}


def test_admin_creates_and_deletes_a_project(kubeconfig, admin, project):
    from kfshell.cluster import request_json

    run = kf(kubeconfig, "kf-admin", f"create {project}")
    assert run.status == 0, text_of(run)
    assert [(r["kind"], r["name"]) for r in run.rows()] == [("Profile", project), ("Namespace", project)]
    profile = request_json(admin, "GET", f"/apis/kubeflow.org/v1/profiles/{project}")
    assert profile["spec"]["owner"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "admin"}
    ns = request_json(admin, "GET", f"/api/v1/namespaces/{project}")
    assert ns["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kubeflow-profile"
    assert ns["metadata"]["ownerReferences"][0]["kind"] == "Profile"

    again = kf(kubeconfig, "kf-admin", f"create {project}")
    assert again.status == 1 and "already exists" in again.error

    gone = kf(kubeconfig, "kf-admin", f"delete {project} --yes")
    assert gone.status == 0, text_of(gone)
    assert _gone(admin, project)  # delete waits until the namespace is really gone


def test_create_into_switches_the_session(kubeconfig, project, tmp_path):
    from tests.cluster.kf_general import use_cli

    # No --context: the kubeconfig's current one (kf-admin), and a session that remembers the switch.
    run = kf(kubeconfig, None, f"create -i {project}", home=str(tmp_path))
    assert run.status == 0, text_of(run)
    if use_cli():  # the CLI applied the result's "session" and persisted it
        where = kf(kubeconfig, None, "whoami", home=str(tmp_path))
        assert where.data["context"] == "kf-admin"
        assert where.data["namespace"] == project
    else:
        assert run.session == {"namespace": project}


def test_dry_run_creates_nothing(kubeconfig, admin, project, repos):
    run = kf(kubeconfig, "kf-admin", f"create -d -r {repos['good']} {project}")
    assert run.status == 0, text_of(run)
    assert {(r["kind"], r["name"]) for r in run.rows()} == {("Profile", project), ("Namespace", project),
                                                            ("ConfigMap", "settings"), ("Deployment", "demo")}
    assert all("would be created" in r["result"] for r in run.rows())
    assert _gone(admin, project)


def test_repository_is_applied_into_the_new_project(kubeconfig, admin, project, repos):
    run = kf(kubeconfig, "kf-admin", f"create -r {repos['good']} {project}")
    assert run.status == 0, text_of(run)
    assert _exists(admin, f"/api/v1/namespaces/{project}/configmaps/settings")
    assert _exists(admin, f"/apis/apps/v1/namespaces/{project}/deployments/demo")
    listed = kf(kubeconfig, "kf-admin", "status list demo", namespace=project)
    assert listed.status == 0, text_of(listed)
    assert listed.row(name="demo")["version"] == "1.2.3"


def test_a_bad_object_makes_nothing_get_created(kubeconfig, admin, project, repos):
    run = kf(kubeconfig, "kf-admin", f"create -r {repos['bad']} {project}")
    assert run.status == 1, text_of(run)
    assert "broken" in run.error and "nothing was created" in run.error
    assert _gone(admin, project)


def test_a_bad_yaml_file_is_a_usage_error_before_anything_happens(kubeconfig, admin, project, tmp_path):
    (tmp_path / "x.yaml").write_text("kind: [")
    run = kf(kubeconfig, "kf-admin", f"create -r {tmp_path} {project}")
    assert run.status == 2, text_of(run)
    assert "not valid YAML" in run.error
    assert _gone(admin, project)


@pytest.mark.parametrize(("context", "user"), [("kf-alice", "alice"), ("kf-bob", "bob")])
def test_data_scientists_may_not_create_projects(kubeconfig, admin, project, context, user):
    run = kf(kubeconfig, context, f"create {project}")
    assert run.status == 1, text_of(run)
    assert "create" in run.error and "profiles" in run.error
    assert _gone(admin, project)


def test_alice_may_not_delete_her_namespace(kubeconfig, admin):
    run = kf(kubeconfig, "kf-alice", "delete alice --yes")
    assert run.status == 1, text_of(run)
    assert "delete" in run.error and "namespace" in run.error
    assert _exists(admin, "/api/v1/namespaces/alice")


@pytest.mark.parametrize("name", ["kube-system", "kubeflow", "default"])
def test_delete_refuses_system_namespaces_even_for_admin(kubeconfig, admin, name):
    run = kf(kubeconfig, "kf-admin", f"delete {name} --yes")
    assert run.status == 1, text_of(run)
    assert f"will not delete {name}" in run.error
    assert _exists(admin, f"/api/v1/namespaces/{name}")


def test_bad_and_unknown_project_names(kubeconfig):
    bad = kf(kubeconfig, "kf-admin", "create Not_A_Name")
    assert bad.status == 2 and "DNS-1123" in bad.error
    unknown = kf(kubeconfig, "kf-admin", "delete alic --yes")
    assert unknown.status == 1 and "did you mean alice" in unknown.error


def _toy_component(admin, namespace: str) -> None:
    from kubernetes import client

    labels = {"app": "toy", "app.kubernetes.io/part-of": "kubeflow"}
    client.AppsV1Api(admin).create_namespaced_deployment(namespace, {
        "metadata": {"name": "toy-deployment", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "toy"}},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "toy", "image": "example.com/toy:2.0"}]}}}})
    core = client.CoreV1Api(admin)
    core.create_namespaced_service(namespace, {"metadata": {"name": "toy", "labels": labels},
                                               "spec": {"selector": {"app": "toy"}, "ports": [{"port": 80}]}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "toy-config", "labels": labels},
                                                  "data": {"a": "b"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "unrelated"}, "data": {"a": "b"}})


def test_remove_takes_a_component_out_of_the_namespace(kubeconfig, admin, namespace):
    _toy_component(admin, namespace)
    paths = [f"/apis/apps/v1/namespaces/{namespace}/deployments/toy-deployment",
             f"/api/v1/namespaces/{namespace}/services/toy", f"/api/v1/namespaces/{namespace}/configmaps/toy-config"]

    refused = kf(kubeconfig, "kf-bob", "remove toy --yes", namespace=namespace)
    assert refused.status == 1 and "delete" in refused.error
    dry = kf(kubeconfig, "kf-alice", "remove -d toy --yes", namespace=namespace)
    assert dry.status == 0, text_of(dry)
    assert {(r["kind"], r["name"]) for r in dry.rows()} == {("Deployment", "toy-deployment"), ("Service", "toy"),
                                                            ("ConfigMap", "toy-config")}
    assert all(_exists(admin, p) for p in paths)

    run = kf(kubeconfig, "kf-alice", "remove toy --yes", namespace=namespace)
    assert run.status == 0, text_of(run)
    assert wait_for(lambda: not any(_exists(admin, p) for p in paths), what="the toy component to go")
    assert _exists(admin, f"/api/v1/namespaces/{namespace}/configmaps/unrelated")

    again = kf(kubeconfig, "kf-alice", "remove toy --yes", namespace=namespace)
    assert again.status == 1 and "not found" in again.error
