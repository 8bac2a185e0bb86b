"""The completion refresher against the dev cluster: names appear without a manual refresh, each user sees
only what they may, and kinds that are absent or forbidden are skipped without error."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from kfshell.completion.kinds import SOURCE_KINDS, discover_kinds
from kfshell.completion.refresher import Refresher
from kfshell.completion.sessions import roomy_client
from kfshell.completion.snapshot import Item
from tests.conftest import wait_for

pytestmark = pytest.mark.cluster


def connector(kubeconfig: str, impersonate: str | None = None):
    def connect(context):
        from kfshell.cluster import api_client
        from kfshell.kubeconfig import load_kubeconfig

        api = roomy_client(api_client(load_kubeconfig(kubeconfig, context), context))
        if impersonate:
            api.set_default_header("Impersonate-User", impersonate)
        return api

    return connect


@pytest.fixture
def refreshers():
    """Refreshers made by a test, stopped afterwards whatever happens."""
    made = []

    def make(*args, **kwargs) -> Refresher:
        refresher = Refresher(*args, **kwargs)
        made.append(refresher)
        return refresher

    yield make
    for refresher in made:
        refresher.stop()


def names(refresher: Refresher, source: str) -> list[str]:
    return [item.name for item in refresher.current().get(source)]


def started(refresher: Refresher, context: str, namespace: str) -> Refresher:
    refresher.start(context, namespace)
    assert refresher.wait_settled(20), "the first listing did not finish within 20 s"
    assert refresher.error is None
    return refresher


def notebook(name: str) -> dict:
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "Notebook",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [{"name": name, "image": "jupyter/base:1"}]}}},
    }


def pod(name: str, containers: tuple[str, ...] = ("main",)) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": c, "image": "busybox:1"} for c in containers]},
    }


def test_notebook_created_by_another_client_appears_without_refresh(kubeconfig, admin, namespace, refreshers):
    from kubernetes import client

    refresher = started(refreshers(connector(kubeconfig)), "kf-alice", namespace)
    assert names(refresher, "notebooks") == []
    custom = client.CustomObjectsApi(admin)
    custom.create_namespaced_custom_object("kubeflow.org", "v1", namespace, "notebooks", notebook("fresh-nb"))
    # The watch delivers it (no re-list runs within this window); `make bench` measures how fast.
    wait_for(lambda: "fresh-nb" in names(refresher, "notebooks"), timeout=10, what="the notebook in the snapshot")
    item = refresher.current().get("notebooks")[0]
    assert item.description.startswith("Notebook")
    assert item.namespace == namespace
    assert item.created_at is not None

    custom.delete_namespaced_custom_object("kubeflow.org", "v1", namespace, "notebooks", "fresh-nb")
    wait_for(lambda: "fresh-nb" not in names(refresher, "notebooks"), timeout=10, what="the notebook to go")


def test_pods_and_their_containers(kubeconfig, admin, namespace, refreshers):
    from kubernetes import client

    refresher = started(refreshers(connector(kubeconfig)), "kf-alice", namespace)
    client.CoreV1Api(admin).create_namespaced_pod(namespace, pod("trainer-0", ("main", "sidecar")))
    wait_for(lambda: "trainer-0" in names(refresher, "pods"), timeout=10, what="the pod")
    containers = {(item.parent, item.name) for item in refresher.current().get("containers")}
    assert containers == {("trainer-0", "main"), ("trainer-0", "sidecar")}
    description = refresher.current().get("pods")[0].description
    assert description.startswith("Pod  ")


def test_alice_and_bob_see_only_their_namespaces(kubeconfig, namespace, refreshers):
    # Neither may list namespaces: each still gets the namespace they work in, and nothing else.
    for context in ("kf-alice", "kf-bob"):
        refresher = started(refreshers(connector(kubeconfig)), context, namespace)
        assert names(refresher, "namespaces") == [namespace]
        assert "namespaces" in refresher.current().complete
    admin = started(refreshers(connector(kubeconfig)), "kf-admin", namespace)
    assert {namespace, "alice", "kubeflow"} <= set(names(admin, "namespaces"))


def test_bob_gets_nothing_where_he_may_not_look_and_no_error(kubeconfig, admin, namespace, refreshers):
    from kubernetes import client

    core = client.CoreV1Api(admin)
    private = f"kf-test-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": private, "labels": {"kf.kubeflow.org/test": "true"}}})
    try:
        wait_for(lambda: _has_default_sa(core, private), what="the default service account")
        core.create_namespaced_pod(private, pod("secret-pod"))
        bob = started(refreshers(connector(kubeconfig)), "kf-bob", private)
        snapshot = bob.current()
        assert snapshot.get("pods") == ()
        assert snapshot.get("notebooks") == ()
        assert {"pods", "notebooks", "jobs"} <= snapshot.complete  # skipped, not pending
        # the same refresher moved to a namespace bob may view lists again
        bob.start("kf-bob", namespace)
        assert bob.wait_settled(20)
        assert "pods" in bob.current().complete
    finally:
        core.delete_namespace(private)


def test_a_kind_whose_crd_is_absent_is_skipped(kubeconfig, admin, namespace, refreshers):
    from kubernetes import client

    def without_notebooks(api):
        return discover_kinds(api).without("notebooks.kubeflow.org")

    client.CustomObjectsApi(admin).create_namespaced_custom_object(
        "kubeflow.org", "v1", namespace, "notebooks", notebook("hidden-nb"))
    refresher = started(refreshers(connector(kubeconfig), discover=without_notebooks), "kf-alice", namespace)
    snapshot = refresher.current()
    assert snapshot.get("notebooks") == ()
    assert "notebooks" in snapshot.complete
    assert not any("notebooks" in stream.label for stream in refresher.streams)
    # everything else still completes
    assert names(refresher, "components"), "components should still be listed"


def test_a_crd_deleted_while_watched_is_dropped_quietly(kubeconfig, admin, namespace, refreshers):
    """A throwaway CRD (never a seeded one) served, listed, then deleted: its stream ends without error."""
    from kubernetes import client

    group = f"t{uuid.uuid4().hex[:6]}.kf.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                         "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }
    extensions = client.ApiextensionsV1Api(admin)
    extensions.create_custom_resource_definition(crd)
    try:
        def established():
            try:
                from kfshell.cluster import api_client
                from kfshell.kubeconfig import load_kubeconfig

                api = api_client(load_kubeconfig(kubeconfig, "kf-admin"), "kf-admin")
                return discover_kinds(api).resolve(f"wdg.{group}")
            except Exception:  # noqa: BLE001 - discovery catching up
                return None

        kind = wait_for(established, timeout=30, what="the throwaway CRD in discovery")
        assert kind.plural == "widgets" and kind.short_names == ("wdg",)
        # the refresher lists it as the jobs source, for this test only
        kinds = dict(SOURCE_KINDS, jobs=(f"widgets.{group}",))
        refresher = started(refreshers(connector(kubeconfig), source_kinds=kinds), "kf-admin", namespace)
        stream = next(s for s in refresher.streams if "widgets" in s.label)
        assert stream.state.listed
        extensions.delete_custom_resource_definition(f"widgets.{group}")
        wait_for(lambda: stream.state.absent or stream.state.error, timeout=30, what="the stream to notice")
        assert refresher.error is None
        assert "pods" in refresher.current().complete
    finally:
        try:
            extensions.delete_custom_resource_definition(f"widgets.{group}")
        except client.ApiException:
            pass


def test_watch_forbidden_falls_back_to_periodic_relist(kubeconfig, admin, namespace, refreshers):
    from kubernetes import client

    user = f"lister-{uuid.uuid4().hex[:6]}"
    rbac = client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role(namespace, {
        "metadata": {"name": "list-only"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
    })
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "list-only"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "list-only"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    })
    refresher = refreshers(connector(kubeconfig, impersonate=user), relist_interval=0.5)
    started(refresher, "kf-admin", namespace)
    client.CoreV1Api(admin).create_namespaced_pod(namespace, pod("late-pod"))
    wait_for(lambda: "late-pod" in names(refresher, "pods"), timeout=10, what="the pod via re-listing")
    stream = next(s for s in refresher.streams if s.label.startswith("pods"))
    assert stream.watchable is False


def test_use_starts_a_fresh_snapshot(kubeconfig, admin, namespace, refreshers):
    from kubernetes import client

    client.CoreV1Api(admin).create_namespaced_pod(namespace, pod("only-here"))
    place = SimpleNamespace(context="kf-alice", namespace=namespace)
    refresher = refreshers(connector(kubeconfig), where=lambda: (place.context, place.namespace))
    refresher.start()
    assert refresher.wait_settled(20)
    wait_for(lambda: "only-here" in names(refresher, "pods"), timeout=10, what="the pod")
    place.namespace = "alice"
    refresher.refresh()
    assert refresher.current().namespace == "alice"
    assert "only-here" not in names(refresher, "pods")  # never offered in the wrong namespace
    assert refresher.wait_settled(20)
    assert "mnist-notebook-0" in names(refresher, "pods")


def test_commands_the_user_may_run(kubeconfig, namespace, refreshers):
    def spec(name, *requires):
        return SimpleNamespace(name=name, help=f"{name} help", requires=requires)

    create_pods = SimpleNamespace(verb="create", resource="pods", group="", namespace="$namespace")
    commands = [spec("help"), spec("launch", create_pods)]
    for context, expected in (("kf-alice", ["help", "launch"]), ("kf-bob", ["help"])):
        refresher = started(refreshers(connector(kubeconfig), commands=lambda: commands), context, namespace)
        assert sorted(names(refresher, "commands")) == expected
        assert "commands" in refresher.current().complete


def _has_default_sa(core, namespace: str) -> bool:
    from kubernetes.client.rest import ApiException

    try:
        core.read_namespaced_service_account("default", namespace)
        return True
    except ApiException:
        return False


def test_commands_are_asked_again_when_the_first_answer_fails(kubeconfig, namespace, refreshers):
    # Under load a privilege review can fail; every command is offered meanwhile, and then only those bob may run.
    calls = []

    def command_items(api, context, namespace):
        calls.append(context)
        if len(calls) == 1:
            raise TimeoutError("the review timed out")
        return [Item("help", "help help")]

    refresher = refreshers(connector(kubeconfig), command_items=command_items)
    refresher.start("kf-bob", namespace)
    assert refresher.wait_settled(20), "the first listing did not finish within 20 s"
    wait_for(lambda: "commands" in refresher.current().complete, timeout=20, what="the commands asked again")
    assert names(refresher, "commands") == ["help"]
    assert len(calls) == 2
    assert refresher.error is None
