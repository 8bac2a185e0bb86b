"""`python -m devcluster functions up|down|status`: the built-in functions served in kf-system.

These tests run the real command line (as `make functions` does) and call the functions through the
real API server's service proxy. A developer's running functions are left running: whatever state the
functions were in before this module, it is put back afterwards.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from devcluster import fnhost, functions
from kfshell.dispatch import kubeless
from tests.cluster.test_kubeless_status import local_call, without_age
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def devcluster_functions(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devcluster", "functions", action], cwd=ROOT, capture_output=True,
                          text=True, timeout=240)


def up() -> subprocess.CompletedProcess[str]:
    done = devcluster_functions("up")
    assert done.returncode == 0, done.stderr
    return done


def code_unchanged_since(digest: str) -> bool:
    """Editing kfshell/ restarts every runtime on the next `up`: a test that expects pids kept checks this."""
    return functions._kfshell_digest() == digest


def runtime_pids() -> dict[str, int | None]:
    return {f.name: f.pid for f in functions.status().functions}


def pid_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_rbac_manifest_lets_alice_and_bob_call_every_builtin_function() -> None:
    """No cluster needed: a new module in functions/ must be added to devcluster/functions-rbac.yaml."""
    docs = list(yaml.safe_load_all(functions.RBAC.read_text()))
    role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "kf-function-callers")
    proxy = next(r for r in role["rules"] if r["resources"] == ["services/proxy"])
    assert set(proxy["verbs"]) == {"get", "create"}
    for function in functions.builtin_functions():
        assert f"{function.name}:{fnhost.PORT_NAME}" in proxy["resourceNames"], function.name
    binding = next(d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["name"] == "kf-function-callers")
    assert {s["name"] for s in binding["subjects"]} == {"alice", "bob"}
    assert all(d["metadata"].get("namespace") in (None, functions.NAMESPACE) for d in docs)


@pytest.fixture(scope="module")
def functions_state(devcluster: Path) -> Iterator[bool]:
    """Serialise with other test sessions, and put the functions back as they were (True: they were up)."""
    functions.RUN.mkdir(parents=True, exist_ok=True)
    with open(functions.RUN / "test.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        was_up = bool(functions.PROCESSES.pid(functions.RELAY) or any(runtime_pids().values()))
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
def test_up_deploys_every_builtin_function_as_a_kubeless_function(admin, served: bool) -> None:
    from kubernetes import client

    objects = client.CustomObjectsApi(admin)
    builtins = functions.builtin_functions()
    assert {f.module for f in builtins} >= {"status", "whoami"}
    for function in builtins:
        source = (ROOT / "functions" / f"{function.module}.py").read_text()
        obj = objects.get_namespaced_custom_object("kubeless.io", "v1beta1", "kf-system", "functions", function.name)
        assert obj["metadata"]["labels"]["kf.kubeflow.org/subcommand"] == function.subcommand
        assert json.loads(obj["metadata"]["annotations"]["kf.kubeflow.org/spec"]) == function.spec
        assert obj["spec"]["runtime"] == "python3.11"
        assert obj["spec"]["handler"] == f"{function.module}.handler"
        assert obj["spec"]["function"] == source
        assert obj["spec"]["checksum"] == "sha256:" + hashlib.sha256(source.encode()).hexdigest()
    status = devcluster_functions("status")
    assert status.returncode == 0, status.stdout + status.stderr
    for function in builtins:
        line = next(line for line in status.stdout.splitlines() if line.startswith(function.name + " "))
        assert line.split()[-2:] == ["current", "answers"] and line.split()[2].isdigit(), line


@pytest.mark.cluster
def test_up_again_is_quick_and_keeps_the_running_functions(served: bool) -> None:
    before, code = runtime_pids(), functions._kfshell_digest()
    started = time.monotonic()
    up()
    took = time.monotonic() - started
    assert all(before.values())
    if code_unchanged_since(code):
        assert runtime_pids() == before
        assert took < 10, f"a second `functions up` took {took:.1f}s"


@pytest.mark.cluster
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_status_list_through_kf_system_equals_the_local_run(request, kubeconfig: str, served: bool,
                                                           user: str) -> None:
    api = request.getfixturevalue(user)
    ref = kubeless.find_function(api, [kubeless.KF_SYSTEM], "status")
    assert ref is not None and ref.origin == "kf-system/status"
    assert kubeless.is_ready(api, ref.namespace, ref.name)
    data = {"command": ["status", "list"], "args": {}, "namespace": "alice", "context": f"kf-{user}",
            "output": "json"}
    remote = kubeless.call_function(api, ref.namespace, ref.name, data, timeout=30)
    assert remote.get("kind") == "table", json.dumps(remote)[:500]
    assert any(row[0] == "jupyter-web-app" for row in remote["rows"])
    assert without_age(remote) == without_age(local_call(kubeconfig, f"kf-{user}", data))
    who = kubeless.call_function(api, "kf-system", "whoami", {**data, "command": ["whoami"]}, timeout=30)
    assert who["object"]["user"] == user  # the function acted as the caller, not as itself


@pytest.mark.cluster
def test_the_functions_credentials_do_not_expire(served: bool) -> None:
    config = yaml.safe_load((functions.RUN / "kubeconfig").read_text())
    token = config["users"][0]["user"]["token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "system:serviceaccount:kf-system:kf-functions"
    assert "exp" not in claims
    assert (functions.RUN / "kubeconfig").stat().st_mode & 0o077 == 0


@pytest.mark.cluster
def test_down_stops_the_processes_and_removes_the_functions(admin, served: bool) -> None:
    from kubernetes import client

    pids = [pid for pid in runtime_pids().values() if pid] + [functions.PROCESSES.pid(functions.RELAY)]
    assert all(pids)
    down = devcluster_functions("down")
    assert down.returncode == 0, down.stderr
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), timeout=15, what="the runtimes and relay to exit")
    listing = client.CustomObjectsApi(admin).list_namespaced_custom_object(
        "kubeless.io", "v1beta1", "kf-system", "functions", label_selector=functions.SELECTOR)
    assert listing["items"] == []
    assert not functions.host().exists()
    status = devcluster_functions("status")
    assert status.returncode == 1 and "no answer" in status.stdout
    assert not any(functions.RUN.glob("*.pid"))


def test_functions_up_refuses_clearly_when_the_cluster_is_not_up(tmp_path: Path) -> None:
    """No cluster needed: point the launcher at an empty cache, where nothing runs."""
    env = {**os.environ, "KF_DEVCLUSTER_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "devcluster", "functions", "up"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "devcluster: functions up: the dev cluster is not up: run `python -m devcluster up` first"]


@pytest.mark.cluster
def test_up_restarts_a_runtime_that_died_and_only_that_one(served: bool) -> None:
    import signal

    before, code = runtime_pids(), functions._kfshell_digest()
    os.kill(before["status"], signal.SIGTERM)  # as if it crashed
    wait_for(lambda: not pid_alive(before["status"]), timeout=15, what="the status runtime to exit")
    status = devcluster_functions("status")
    assert status.returncode == 1
    assert next(line for line in status.stdout.splitlines() if line.startswith("status ")).split()[2] == "stopped"
    up()
    after = runtime_pids()
    assert after["status"] and after["status"] != before["status"]
    if code_unchanged_since(code):
        assert {k: v for k, v in after.items() if k != "status"} == {k: v for k, v in before.items() if k != "status"}
    assert devcluster_functions("status").returncode == 0


def run_kf(kubeconfig: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "HOME": str(home), "XDG_STATE_HOME": f"{home}/state",
           "XDG_CONFIG_HOME": f"{home}/config", "XDG_CACHE_HOME": f"{home}/cache"}
    env.pop("KUBECONFIG", None)
    return subprocess.run([sys.executable, "-m", "kfshell", "--kubeconfig", kubeconfig, "--context", "kf-alice",
                           "-o", "json", *args], capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)


def function_calls(name: str) -> float:
    """The runtime's own count of calls (its Prometheus /metrics), read straight from it."""
    import urllib.request

    port = next(f.port for f in functions.builtin_functions() if f.name == name)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://{functions.host().address}:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("function_calls_total{"))


@pytest.mark.cluster
def test_kf_dispatch_kubeless_runs_status_list_in_the_kf_system_function(kubeconfig: str, served: bool,
                                                                         tmp_path: Path) -> None:
    before = function_calls("status")
    remote = run_kf(kubeconfig, tmp_path, "--dispatch", "kubeless", "status", "list")
    if remote.returncode == 2 and "dispatch" in remote.stderr:
        pytest.skip(f"this kf has no --dispatch yet: {remote.stderr.strip()}")
    local = run_kf(kubeconfig, tmp_path, "--dispatch", "local", "status", "list")
    assert remote.returncode == 0, remote.stderr
    assert local.returncode == 0, local.stderr

    def without_age(records: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in record.items() if k != "age"} for record in records]

    assert without_age(json.loads(remote.stdout)) == without_age(json.loads(local.stdout))
    assert function_calls("status") >= before + 1  # it ran in the cluster's function (others may call it too)
