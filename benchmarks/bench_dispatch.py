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
            lookups = _lookup_costs(kubeconfig, namespace, kubectl)
    finally:
        core.delete_namespace(namespace)

    print("status list for alice: local handler vs Kubeless (service proxy) vs kubectl get deploy -n kubeflow")
    print(f"  local          {results['local'].ms()}")
    print(f"  kubeless       {results['kubeless'].ms()}   (port known, as from a cached FunctionRef)")
    print(f"  kubeless+svc   {results['kubeless+svc'].ms()}   (reads the Service for its port first)")
    print(f"  kubectl        {results['kubectl'].ms()}")
    overhead = results["kubeless"].median - results["local"].median
    print(f"  dispatch overhead of Kubeless over local: {overhead * 1000:.1f} ms per call (median)")
    print("what kf adds to a one-shot command to choose where it runs (alice, kfshell's REST client):")
    print(f"  Function lookup       {lookups['lookup'].ms()}   (two list calls in parallel: the namespace, kf-system)")
    print(f"  privileges, SSARs     {lookups['ssar'].ms()}   (each built-in requirement, one review each, in parallel)")
    print(f"  privileges, SSRR      {lookups['ssrr'].ms()}   (one rules review for the namespace; not used)")
    print(f"  one command's SSARs   {lookups['ssar-one'].ms()}   (what `kf status list` checks before it runs)")
    print("one-shot `kf status list` for alice, end to end (a new process each), beside kubectl:")
    print(f"  kf --dispatch local   {lookups['kf-local'].ms()}")
    print(f"  kf --dispatch auto    {lookups['kf-auto'].ms()}   (finds the namespace's Function, calls it)")
    print(f"  kubectl get deploy    {lookups['kubectl'].ms()}")


def _lookup_costs(kubeconfig: str, namespace: str, kubectl: list[str]) -> dict[str, Summary]:
    """The calls kf makes to decide where a command runs, and the whole one-shot command, interleaved."""
    import sys

    from kfshell import cluster
    from kfshell.catalog import find_deployed
    from kfshell.kubeconfig import load_kubeconfig
    from kfshell.privileges import all_needs, needs, review
    from kfshell.registry import Registry

    api = cluster.api_client(load_kubeconfig(kubeconfig, "kf-alice"), "kf-alice")
    specs = Registry.load().commands()
    status_spec = next(s for s in specs if s.name == "status")
    every = list(dict.fromkeys(all_needs(specs, namespace)))
    one = needs(status_spec, status_spec.subcommand("list"), namespace)
    rules = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
             "spec": {"namespace": namespace}}
    env = dict(os.environ, KUBECONFIG=kubeconfig)
    kf = [sys.executable, "-m", "kfshell", "--context", "kf-alice", "-n", namespace, "status", "list"]

    def found() -> None:
        if not find_deployed(api, "kf-alice", namespace).specs:
            raise RuntimeError("the benchmark's Function was not found")

    return _interleaved({
        "lookup": found,
        "ssar": lambda: review(api, every),
        "ssrr": lambda: cluster.request_json(api, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                                             body=rules),
        "ssar-one": lambda: review(api, one),
        "kf-local": lambda: run_command([*kf[:-2], "--dispatch", "local", *kf[-2:]], env),
        "kf-auto": lambda: run_command(kf, env),
        "kubectl": lambda: run_command(kubectl),
    }, RUNS)


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
