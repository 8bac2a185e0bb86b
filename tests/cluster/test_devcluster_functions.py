"""`python -m devcluster functions up|down|status`: the built-in functions in kf-system, run by the controller.

These tests run the real command line (as `make functions` does) and call the functions through the real API
server's service proxy. `up` applies the Function objects `kf admin install` applies; the function controller
makes their Deployments, the pod stand-in runs their pods. Whatever state the functions were in before this
module, it is put back afterwards.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster import functions, podhost
from kfshell.dispatch import kubeless
from tests.cluster.test_kubeless_status import local_call, without_age
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def devcluster_functions(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devcluster", "functions", action], cwd=ROOT, capture_output=True,
                          text=True, timeout=400)


def up() -> subprocess.CompletedProcess[str]:
    done = devcluster_functions("up")
    assert done.returncode == 0, done.stderr
    return done


def builtin_pods(admin) -> dict[str, dict]:
    """Each built-in's running pod (by function name), as JSON."""
    from kubernetes import client

    pods = client.CoreV1Api(admin).list_namespaced_pod(functions.NAMESPACE, label_selector="created-by=kubeless")
    found = {}
    for pod in pods.items:
        if pod.metadata.deletion_timestamp is None and pod.status.phase == "Running":
            found[pod.metadata.labels["function"]] = admin.sanitize_for_serialization(pod)
    return found


def test_callers_rbac_lets_alice_and_bob_call_every_builtin_function() -> None:
    """No cluster needed: the callers' Role names every built-in's Service (NAME:PORT, as kf calls it)."""
    docs = functions.rbac([f.name for f in functions.builtin_functions()])
    role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "kf-function-callers")
    proxy = next(r for r in role["rules"] if r["resources"] == ["services/proxy"])
    assert set(proxy["verbs"]) == {"get", "create"}
    for function in functions.builtin_functions():
        assert f"{function.name}:http-function-port" in proxy["resourceNames"], function.name
    binding = next(d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["name"] == "kf-function-callers")
    assert {s["name"] for s in binding["subjects"]} == {"alice", "bob"}
    assert all(d["metadata"].get("namespace") in (None, functions.NAMESPACE) for d in docs)


@pytest.fixture(scope="module")
def functions_state(devcluster: Path) -> Iterator[bool]:
    """Serialise with other test sessions, and put the functions back as they were (True: they were up)."""
    functions.RUN.mkdir(parents=True, exist_ok=True)
    with open(functions.RUN / "test.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        was_up = any(f.deployed != "missing" for f in functions.status().functions)
        try:
            yield was_up
        finally:
            restore = devcluster_functions("up" if was_up else "down")
            assert restore.returncode == 0, restore.stderr


@pytest.fixture
def served(functions_state: bool) -> bool:
    up()
    return functions_state


@pytest.mark.cluster
def test_up_deploys_every_builtin_function_and_the_controller_runs_each_in_a_pod(admin, served: bool) -> None:
    from kubernetes import client

    objects = client.CustomObjectsApi(admin)
    apps = client.AppsV1Api(admin)
    builtins = functions.builtin_functions()
    assert {f.module for f in builtins} >= {"status", "whoami"}
    pods = builtin_pods(admin)
    for function in builtins:
        source = (ROOT / "functions" / f"{function.module}.py").read_text()
        obj = objects.get_namespaced_custom_object("kubeless.io", "v1beta1", "kf-system", "functions", function.name)
        assert obj["metadata"]["labels"]["kf.kubeflow.org/subcommand"] == function.subcommand
        assert json.loads(obj["metadata"]["annotations"]["kf.kubeflow.org/spec"]) == function.spec
        assert obj["spec"]["runtime"] == "python3.11"
        assert obj["spec"]["handler"] == f"{function.module}.handler"
        assert obj["spec"]["function"] == source
        assert obj["spec"]["checksum"] == "sha256:" + hashlib.sha256(source.encode()).hexdigest()
        ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", ready
        deployment = apps.read_namespaced_deployment(function.name, "kf-system")
        assert deployment.metadata.owner_references[0].uid == obj["metadata"]["uid"]  # the controller's, not ours
        pod = pods[function.name]
        assert pod["spec"]["serviceAccountName"] == "kf-functions"
        assert pod["status"]["podIP"].startswith(f"{podhost.SUBNET}.")
    status = devcluster_functions("status")
    assert status.returncode == 0, status.stdout + status.stderr
    for function in builtins:
        line = next(line for line in status.stdout.splitlines() if line.startswith(function.name + " "))
        assert line.split()[2] == "True" and line.split()[-2:] == ["current", "answers"], line


@pytest.mark.cluster
def test_up_again_keeps_the_running_pods(admin, served: bool) -> None:
    before = {name: pod["metadata"]["uid"] for name, pod in builtin_pods(admin).items()}
    up()
    after = {name: pod["metadata"]["uid"] for name, pod in builtin_pods(admin).items()}
    assert after == before and set(before) == {f.name for f in functions.builtin_functions()}


@pytest.mark.cluster
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_status_list_through_kf_system_equals_the_local_run(request, kubeconfig: str, served: bool,
                                                           user: str) -> None:
    api = request.getfixturevalue(user)
    ref = kubeless.find_function(api, [kubeless.KF_SYSTEM], "status")
    assert ref is not None and ref.origin == "kf-system/status"
    assert kubeless.readiness(api, ref.namespace, ref.name).ready
    data = {"command": ["status", "list"], "args": {}, "namespace": "alice", "context": f"kf-{user}",
            "output": "json"}
    remote = kubeless.call_function(api, ref.namespace, ref.name, data, timeout=30)
    assert remote.get("kind") == "table", json.dumps(remote)[:500]
    assert any(row[0] == "jupyter-web-app" for row in remote["rows"])
    assert without_age(remote) == without_age(local_call(kubeconfig, f"kf-{user}", data))
    who = kubeless.call_function(api, "kf-system", "whoami", {**data, "command": ["whoami"]}, timeout=30)
    assert who["object"]["user"] == user  # the function acted as the caller, not as itself


@pytest.mark.cluster
def test_the_functions_act_with_their_own_service_accounts_token_bound_to_their_pod(admin, served: bool) -> None:
    pod = builtin_pods(admin)["whoami"]
    volume = next(v["name"] for v in pod["spec"]["volumes"] if "projected" in v)
    token_file = podhost.STATE / pod["metadata"]["uid"] / "volumes" / volume / "token"
    payload = token_file.read_text().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "system:serviceaccount:kf-system:kf-functions"
    assert claims["kubernetes.io"]["pod"]["uid"] == pod["metadata"]["uid"]  # bound: dies with the pod
    assert not functions.legacy_host().exists()  # the old harness's network namespace and its kubeconfig are gone


@pytest.mark.cluster
def test_down_removes_the_functions_their_pods_and_processes(admin, served: bool) -> None:
    from kubernetes import client

    uids = [pod["metadata"]["uid"] for pod in builtin_pods(admin).values()]
    assert uids
    down = devcluster_functions("down")
    assert down.returncode == 0, down.stderr
    listing = client.CustomObjectsApi(admin).list_namespaced_custom_object(
        "kubeless.io", "v1beta1", "kf-system", "functions", label_selector=functions.SELECTOR)
    assert listing["items"] == []
    wait_for(lambda: not builtin_pods(admin), timeout=60, what="the functions' pods to go")
    wait_for(lambda: not any((podhost.STATE / uid).exists() for uid in uids), timeout=30,
             what="the stand-in to remove the pods' files and network namespaces")
    assert not client.AppsV1Api(admin).list_namespaced_deployment(
        "kf-system", label_selector=functions.SELECTOR).items
    status = devcluster_functions("status")
    assert status.returncode == 1 and "no answer" in status.stdout


def test_functions_up_refuses_clearly_when_the_cluster_is_not_up(tmp_path: Path) -> None:
    """No cluster needed: point the launcher at an empty cache, where nothing runs."""
    env = {**os.environ, "KF_DEVCLUSTER_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "devcluster", "functions", "up"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "devcluster: functions up: the dev cluster is not up: run `python -m devcluster up` first"]


@pytest.mark.cluster
def test_up_brings_back_a_function_deleted_by_hand_and_only_that_one(admin, served: bool) -> None:
    from kubernetes import client

    before = {name: pod["metadata"]["uid"] for name, pod in builtin_pods(admin).items()}
    client.CustomObjectsApi(admin).delete_namespaced_custom_object("kubeless.io", "v1beta1", "kf-system",
                                                                   "functions", "status")
    wait_for(lambda: "status" not in builtin_pods(admin), timeout=60, what="the status pod to go with its Function")
    status = devcluster_functions("status")
    assert status.returncode == 1
    assert next(line for line in status.stdout.splitlines() if line.startswith("status ")).split()[-3:] == [
        "missing", "no", "answer"]
    up()
    after = {name: pod["metadata"]["uid"] for name, pod in builtin_pods(admin).items()}
    assert after["status"] != before["status"]
    assert {k: v for k, v in after.items() if k != "status"} == {k: v for k, v in before.items() if k != "status"}
    assert devcluster_functions("status").returncode == 0


def run_kf(kubeconfig: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "HOME": str(home), "XDG_STATE_HOME": f"{home}/state",
           "XDG_CONFIG_HOME": f"{home}/config", "XDG_CACHE_HOME": f"{home}/cache"}
    env.pop("KUBECONFIG", None)
    return subprocess.run([sys.executable, "-m", "kfshell", "--kubeconfig", kubeconfig, "--context", "kf-alice",
                           "-o", "json", *args], capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)


def function_calls(admin, name: str) -> float:
    """The runtime's own count of calls (its Prometheus /metrics), read straight from its pod's IP."""
    import urllib.request

    address = builtin_pods(admin)[name]["status"]["podIP"]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://{address}:8080/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("function_calls_total{"))


@pytest.mark.cluster
def test_kf_dispatch_kubeless_runs_status_list_in_the_kf_system_function(admin, kubeconfig: str, served: bool,
                                                                         tmp_path: Path) -> None:
    before = function_calls(admin, "status")
    remote = run_kf(kubeconfig, tmp_path, "--dispatch", "kubeless", "status", "list")
    local = run_kf(kubeconfig, tmp_path, "--dispatch", "local", "status", "list")
    assert remote.returncode == 0, remote.stderr
    assert local.returncode == 0, local.stderr

    def without_age(records: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in record.items() if k != "age"} for record in records]

    assert without_age(json.loads(remote.stdout)) == without_age(json.loads(local.stdout))
    assert function_calls(admin, "status") >= before + 1  # it ran in the cluster's function (others may call it too)
