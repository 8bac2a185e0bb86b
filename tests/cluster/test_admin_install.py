"""`kf admin install|uninstall` on the dev cluster, as an administrator and as alice.

The dev cluster already has the Function CRD and kf-system, which other tests use while these run, so every
install here goes to a namespace of its own (`-n`): its cluster-wide RBAC is named after it, and the shared CRD,
there before, must be left in place by uninstall. "As it was" is compared on what the install marks: the
objects labelled `kf.kubeflow.org/install=<namespace>`, the namespace, and the CRD's labels and annotations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kfshell.admin import install

CLUSTER_KINDS = {
    "customresourcedefinitions": "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "clusterroles": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "clusterrolebindings": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "namespaces": "/api/v1/namespaces",
}
NAMESPACED_KINDS = {
    "functions": "/apis/kubeless.io/v1beta1/namespaces/{ns}/functions",
    "deployments": "/apis/apps/v1/namespaces/{ns}/deployments",
    "serviceaccounts": "/api/v1/namespaces/{ns}/serviceaccounts",
    "roles": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "rolebindings": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}
CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/functions.kubeless.io"


@dataclass(frozen=True)
class Done:
    status: int
    out: str
    err: str

    @property
    def rows(self) -> list[dict[str, Any]]:
        return json.loads(self.out)

    def actions(self) -> dict[str, str]:
        return {f"{r['namespace']}/{r['object']}": r["action"] for r in self.rows}


def kf(kubeconfig: str, home: Path, context: str, *words: str) -> Done:
    return _run(home, ["--kubeconfig", kubeconfig, "--context", context, *words])


def _run(home: Path, argv: list[str], extra_env: dict[str, str] | None = None) -> Done:
    env = {**os.environ, "NO_COLOR": "1", "HOME": str(home), "XDG_STATE_HOME": f"{home}/state",
           "XDG_CONFIG_HOME": f"{home}/config", "XDG_CACHE_HOME": f"{home}/cache", "KF_AGENT": "0",
           **(extra_env or {})}
    env.pop("KUBECONFIG", None)
    done = subprocess.run([sys.executable, "-m", "kfshell", *argv], capture_output=True, text=True, timeout=400,
                          env=env, stdin=subprocess.DEVNULL, check=False)
    return Done(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def api(devcluster: Path) -> Any:
    from kfshell.cluster import api_client, load_kubeconfig

    return api_client(load_kubeconfig(str(devcluster), "kf-admin"), "kf-admin")


@pytest.fixture
def target(api: Any) -> Iterator[str]:
    """A namespace name for one install, and everything labelled with it removed afterwards."""
    from kfshell import cluster

    name = f"kf-admin-{uuid.uuid4().hex[:8]}"
    yield name
    selector = {"labelSelector": f"{install.INSTALL_LABEL}={name}"}
    for kind, path in CLUSTER_KINDS.items():
        if kind == "customresourcedefinitions":
            continue  # the shared CRD: never deleted by a test
        for item in cluster.request_json(api, "GET", path, query=selector)["items"]:
            try:
                cluster.request_json(api, "DELETE", f"{path}/{item['metadata']['name']}")
            except cluster.ApiError:
                pass
    try:
        cluster.request_json(api, "DELETE", f"/api/v1/namespaces/{name}")
    except cluster.ApiError:
        pass


def state(api: Any, name: str) -> dict[str, Any]:
    """What an install in `name` marks on the cluster."""
    from kfshell import cluster

    selector = {"labelSelector": f"{install.INSTALL_LABEL}={name}"}
    found: dict[str, Any] = {kind: sorted(i["metadata"]["name"] for i in
                                          cluster.request_json(api, "GET", path, query=selector)["items"])
                             for kind, path in CLUSTER_KINDS.items()}
    try:
        cluster.request_json(api, "GET", f"/api/v1/namespaces/{name}")
        found["namespace"] = True
    except cluster.ApiError as err:
        assert err.status == 404
        found["namespace"] = False
    crd = cluster.request_json(api, "GET", CRD)["metadata"]
    found["crd"] = (crd.get("labels") or {}, crd.get("annotations") or {})
    return found


def in_namespace(api: Any, name: str) -> dict[str, list[str]]:
    from kfshell import cluster

    return {kind: sorted(i["metadata"]["name"] for i in
                         cluster.request_json(api, "GET", path.format(ns=name))["items"])
            for kind, path in NAMESPACED_KINDS.items()}


def answers_alice(kubeconfig: str, api: Any, namespace: str) -> bool:
    """What install made works: the controller deploys the built-in whoami, and alice's call reaches it through
    the API server's service proxy, where it verifies her token and acts as her (from inside the cluster)."""
    from kfshell import cluster
    from kfshell.dispatch import kubeless
    from tests.conftest import wait_for

    path = f"/apis/kubeless.io/v1beta1/namespaces/{namespace}/functions/whoami"

    def ready() -> bool:
        conditions = (cluster.request_json(api, "GET", path).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    wait_for(ready, 180, 0.5, f"Function {namespace}/whoami to be Ready")
    alice = cluster.api_client(cluster.load_kubeconfig(kubeconfig, "kf-alice"), "kf-alice")
    data = {"command": ["whoami"], "args": {}, "namespace": namespace, "context": "kf-alice", "output": "json"}
    answer = kubeless.call_function(alice, namespace, "whoami", data, 30)
    assert answer["object"]["user"] == "alice", answer
    assert answer["object"]["server"] == "https://10.96.0.1:443", answer  # it ran in its pod
    return True


def test_dry_run_lists_what_it_would_create_and_changes_nothing(kubeconfig, api, target, tmp_path):
    from kfshell import cluster

    before = state(api, target)
    crd_version = cluster.request_json(api, "GET", CRD)["metadata"]["resourceVersion"]
    done = kf(kubeconfig, tmp_path, "kf-admin", "admin", "install", "-n", target, "--dry-run", "-o", "json")
    assert done.status == 0, done.err
    actions = done.actions()
    objects = install.render(target)
    assert len(actions) == len(objects)
    assert actions[f"/namespace/{target}"] == "create"
    # the CRD is there: the dry run asks the API server what applying it would change (the install's label)
    assert actions["/customresourcedefinition.apiextensions.k8s.io/functions.kubeless.io"] == "change"
    crd_row = next(r for r in done.rows if r["object"].startswith("customresourcedefinition"))
    assert crd_row["fields"] == "metadata.annotations,metadata.labels"
    for obj in objects[2:]:
        ref = install.Ref.of(obj)
        assert actions[f"{ref.namespace or ''}/{ref.shown}"] == "create", ref
    assert state(api, target) == before
    assert cluster.request_json(api, "GET", CRD)["metadata"]["resourceVersion"] == crd_version

    table = kf(kubeconfig, tmp_path, "kf-admin", "admin", "install", "-n", target, "--dry-run")
    assert table.status == 0, table.err
    assert table.out.splitlines()[0].split() == ["OBJECT", "NAMESPACE", "ACTION"]
    names = kf(kubeconfig, tmp_path, "kf-admin", "admin", "install", "-n", target, "--dry-run", "-o", "name")
    assert names.out.splitlines() == [install.Ref.of(o).shown for o in objects]


def test_alice_is_refused_in_one_line_and_not_offered_admin(kubeconfig, api, target, tmp_path):
    before = state(api, target)
    for words in (["install"], ["install", "--dry-run"], ["uninstall", "--yes"], ["uninstall", "--dry-run"]):
        done = kf(kubeconfig, tmp_path, "kf-alice", "admin", *words, "-n", target)
        assert done.status == 1, (words, done.err)
        assert done.out == ""
        assert done.err.count("\n") == 1, done.err
        assert "for cluster administrators only: you may not " in done.err, done.err
    assert state(api, target) == before

    helped = kf(kubeconfig, tmp_path, "kf-alice", "help")
    assert helped.status == 0, helped.err
    assert "admin" not in helped.out.split()
    assert "admin" in kf(kubeconfig, tmp_path, "kf-admin", "help").out.split()


def completed_line(shell: Any, typed: str) -> str:
    """Type `typed`, TAB, Enter at the kf> prompt: what kf said about the line TAB made of it."""
    shell.mark = len(shell.text)
    shell.send(typed + "\t\r")
    return shell.expect(r"kf: [^\n]*", regex=True, timeout=20)


def test_the_prompt_completes_admin_for_an_administrator_only(kubeconfig, tmp_path):
    """At kf>, `adm` TAB becomes `admin` (a lone candidate completes at once) for the administrator; for alice,
    once the refresher has reviewed her privileges in the background, nothing completes it."""
    import time

    from tests.repl.shell_pty import Pty, shell_env

    admin = Pty(["--context", "kf-admin"], shell_env(kubeconfig, tmp_path / "admin"))
    alice = Pty(["--context", "kf-alice"], shell_env(kubeconfig, tmp_path / "alice"))
    try:
        admin.expect("kf kf-admin:")
        assert "admin needs a subcommand" in completed_line(admin, "adm")
        alice.expect("kf kf-alice:alice>")
        deadline = time.monotonic() + 20
        while "unknown command 'adm'" not in completed_line(alice, "adm"):
            if time.monotonic() > deadline:
                alice.fail("TAB still completes admin for alice after 20 s")
            time.sleep(0.2)
        assert "unknown command 'adm'" in completed_line(alice, "adm")
    finally:
        admin.close()
        alice.close()


def test_install_then_uninstall_leave_the_cluster_as_they_found_it(kubeconfig, api, target, tmp_path):
    before = state(api, target)
    assert before["namespace"] is False

    done = kf(kubeconfig, tmp_path, "kf-admin", "admin", "install", "-n", target, "--wait", "-o", "json")
    assert done.status == 0, done.err  # --wait: the controller has every built-in Ready
    actions = done.actions()
    assert actions[f"/namespace/{target}"] == "created"
    assert actions["/customresourcedefinition.apiextensions.k8s.io/functions.kubeless.io"] in ("changed",
                                                                                               "unchanged")
    objects = install.render(target)
    made = in_namespace(api, target)
    assert made["functions"] == sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Function")
    assert "kf-function-controller" in made["deployments"]
    assert {"kf-function-controller", "kf-functions"} <= set(made["serviceaccounts"])
    installed = state(api, target)
    assert f"kf-function-runtime-{target}" in installed["clusterroles"]
    assert f"kf-function-controller-{target}" in installed["clusterrolebindings"]
    assert "kf-function-runtime" not in installed["clusterroles"]  # kf-system's own are not touched
    assert answers_alice(kubeconfig, api, target)


    again = kf(kubeconfig, tmp_path, "kf-admin", "admin", "install", "-n", target, "-o", "json")
    assert again.status == 0, again.err
    assert set(again.actions().values()) == {"unchanged"}, again.out

    upgrade = kf(kubeconfig, tmp_path, "kf-admin", "admin", "install", "-n", target, "--image",
                 "registry.example/kf-runtime:0.2.0", "--dry-run", "-o", "json")
    assert upgrade.status == 0, upgrade.err
    changed = {k for k, v in upgrade.actions().items() if v != "unchanged"}
    assert changed == {f"{target}/deployment.apps/kf-function-controller"}, upgrade.out

    planned = kf(kubeconfig, tmp_path, "kf-admin", "admin", "uninstall", "-n", target, "--dry-run", "-o", "json")
    assert planned.status == 0, planned.err
    plan = planned.actions()
    assert plan["/customresourcedefinition.apiextensions.k8s.io/functions.kubeless.io"] == "keep"
    assert plan[f"/namespace/{target}"] == "delete"
    assert list(plan)[-2:] == [f"/namespace/{target}", "/customresourcedefinition.apiextensions.k8s.io/"
                                                       "functions.kubeless.io"]
    first = next(iter(plan))
    assert first.startswith(f"{target}/function.kubeless.io/"), plan  # Functions first: GC takes their objects

    refused = kf(kubeconfig, tmp_path, "kf-admin", "admin", "uninstall", "-n", target)
    assert refused.status == 2 and "--yes" in refused.err, refused.err  # no terminal, no consent: nothing done
    assert state(api, target)["namespace"] is True

    removed = kf(kubeconfig, tmp_path, "kf-admin", "admin", "uninstall", "-n", target, "--yes", "-o", "json")
    assert removed.status == 0, removed.err
    assert removed.actions() == {k: {"delete": "deleted", "keep": "kept"}[v] for k, v in plan.items()}
    assert state(api, target) == before

    nothing = kf(kubeconfig, tmp_path, "kf-admin", "admin", "uninstall", "-n", target, "--yes", "-o", "json")
    assert nothing.status == 0 and nothing.rows == [], nothing.out
