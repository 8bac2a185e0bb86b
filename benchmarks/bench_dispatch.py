"""The cost of dispatch, per call: local, Kubeless through the service proxy, and `kubectl get`, in one run.

All three answer the same question for alice: her view of the components (`status list` in the
function, `kubectl get deploy -n kubeflow` for kubectl). The local call runs the handler in this
process with her kubeconfig credentials, as kf's embedded runtime does; the Kubeless call goes
through the API server's service proxy to the runtime on a network-namespace test host, which
verifies her token and impersonates her. kubectl is a new process per call, as a user runs it.

Needs root (the test host is a network namespace) and the dev cluster.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from benchmarks.timing import Summary, run_command, summarise, time_call
from devcluster import paths

RUNS = int(os.environ.get("KF_BENCH_RUNS", "15"))
ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"


def main() -> None:
    import time

    from kubernetes import client, config

    from kfshell.dispatch import kubeless
    from tests.cluster.nethost import FunctionHost, function_object

    kubeconfig = str(paths.KUBECONFIG)
    admin = config.new_client_from_config(config_file=kubeconfig, context="kf-admin")
    alice = config.new_client_from_config(config_file=kubeconfig, context="kf-alice")
    namespace = f"kf-bench-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": namespace}})
    client.RbacAuthorizationV1Api(admin).create_namespaced_role_binding(namespace, {
        "metadata": {"name": "alice-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubeflow-edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]})
    try:
        deadline = time.monotonic() + 30  # pods wait for the namespace's default service account
        while not core.list_namespaced_service_account(namespace).items:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no default service account in {namespace}")
            time.sleep(0.1)
        from functions import status

        client.CustomObjectsApi(admin).create_namespaced_custom_object(
            "kubeless.io", "v1beta1", namespace, "functions",
            function_object("kf-status", "status", (FUNCTIONS / "status.py").read_text(),
                            handler="status.handler", spec=status.KF_COMMAND))
        data = {"command": ["status", "list"], "args": {}, "namespace": "alice", "context": "kf-alice",
                "output": "json"}
        event = {"data": data, "event-id": "bench", "event-type": "application/json", "event-time": "now",
                 "event-namespace": kubeless.EVENT_NAMESPACE,
                 "extensions": {"kf": {"local": True, "kubeconfig": kubeconfig, "context": "kf-alice"}}}
        context = {"function-name": "status", "timeout": 30, "runtime": None, "memory-limit": None}
        kubectl = [str(paths.KUBECTL) if paths.KUBECTL.exists() else "kubectl", "--kubeconfig", kubeconfig,
                   "--context", "kf-alice", "get", "deploy", "-n", "kubeflow", "-o", "json"]
        with FunctionHost(admin, namespace, "kf-status", FUNCTIONS, "status", timeout=30):
            port = kubeless.service_port(alice, namespace, "kf-status")
            local = lambda: _ok(status.handler(event, context))  # noqa: E731
            remote_full = lambda: _ok(kubeless.call_function(alice, namespace, "kf-status", data))  # noqa: E731
            remote = lambda: _ok(kubeless.call_function(alice, namespace, "kf-status", data, port=port))  # noqa: E731
            results = _interleaved({"local": local, "kubeless": remote, "kubeless+svc": remote_full,
                                    "kubectl": lambda: run_command(kubectl)}, RUNS)
    finally:
        core.delete_namespace(namespace)

    print("status list for alice: local handler vs Kubeless (service proxy) vs kubectl get deploy -n kubeflow")
    print(f"  local          {results['local'].ms()}")
    print(f"  kubeless       {results['kubeless'].ms()}   (port known, as from a cached FunctionRef)")
    print(f"  kubeless+svc   {results['kubeless+svc'].ms()}   (reads the Service for its port first)")
    print(f"  kubectl        {results['kubectl'].ms()}")
    overhead = results["kubeless"].median - results["local"].median
    print(f"  dispatch overhead of Kubeless over local: {overhead * 1000:.1f} ms per call (median)")


def _interleaved(calls: dict[str, object], runs: int) -> dict[str, Summary]:
    """One warm-up each, then round-robin so every variant sees the same machine load."""
    import time

    for fn in calls.values():
        time_call(fn, runs=1, warmup=1)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, fn in calls.items():
            started = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - started)
    return {name: summarise(s) for name, s in samples.items()}


def _ok(result: dict) -> dict:
    if result.get("kind") != "table":
        raise RuntimeError(f"status list failed: {str(result)[:300]}")
    return result


if __name__ == "__main__":
    main()
