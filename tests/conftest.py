"""Shared pytest fixtures: the dev cluster, per-user API clients, and a fresh namespace per test."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Every kf a test starts runs in-process: one warm agent per test home would pile up (each idles for minutes)
# and carry one test's caches into the next. The agent's own tests (test_agent*.py) turn it on, and compare
# every command's output both ways.
os.environ.setdefault("KF_AGENT", "0")


@pytest.fixture(scope="session")
def devcluster() -> Path:
    """Bring the dev cluster up (returns at once when it already is); yields its kubeconfig path."""
    from devcluster import build, cluster, paths

    try:
        build.build()
        cluster.up()
    except cluster.ClusterError as err:
        pytest.fail(f"the dev cluster did not come up: {err}", pytrace=False)
    return paths.KUBECONFIG


@pytest.fixture(scope="session")
def kubeconfig(devcluster: Path) -> str:
    return str(devcluster)


def _client(kubeconfig: str, context: str):
    from kubernetes import config

    return config.new_client_from_config(config_file=kubeconfig, context=context)


@pytest.fixture(scope="session")
def admin(kubeconfig: str):
    return _client(kubeconfig, "kf-admin")


@pytest.fixture(scope="session")
def alice(kubeconfig: str):
    return _client(kubeconfig, "kf-alice")


@pytest.fixture(scope="session")
def bob(kubeconfig: str):
    return _client(kubeconfig, "kf-bob")


def wait_for(check, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll `check` until it returns a truthy value; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def namespace(admin) -> Iterator[str]:
    """A fresh namespace: alice edits it (kubeflow-edit), bob views it (kubeflow-view); deleted afterwards."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(admin)
    rbac = client.RbacAuthorizationV1Api(admin)
    name = f"kf-test-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"kf.kubeflow.org/test": "true"}}})
    for user, role in (("alice", "kubeflow-edit"), ("bob", "kubeflow-view")):
        rbac.create_namespaced_role_binding(name, {
            "metadata": {"name": f"{user}-{role}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        })

    def default_service_account() -> bool:
        try:
            core.read_namespaced_service_account("default", name)
            return True
        except ApiException:
            return False

    # Pods are refused until the controller manager has made the default service account.
    wait_for(default_service_account, what=f"service account default in {name}")
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except ApiException as err:
            if err.status != 404:
                raise
