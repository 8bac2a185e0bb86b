"""Pods for the shell/run/logs/open tests: made as admin, played by KWOK, each with its own directory.

KWOK runs a pod's exec'd commands on this host in `.cache/devcluster/run/pods/<namespace>/<pod>/`, and
serves the pod's log from `output.log` there (CRI format), so a test writes a pod's log lines itself, as
the pod's process would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from tests.conftest import wait_for

KF = shutil.which("kf") or "kf"


def pods_dir() -> Path:
    from devcluster import paths

    return paths.RUN / "pods"


def make_pod(admin, namespace: str, name: str, *, containers=("main",), labels=None, annotations=None,
             env=None, ports=None) -> dict:
    from kubernetes import client

    body = {"metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}},
            "spec": {"containers": [{"name": c, "image": "kf-test:1", "env": env or [], "ports": ports or []}
                                    for c in containers]}}
    return client.CoreV1Api(admin).create_namespaced_pod(namespace, body).to_dict()


def pod_ready(admin, namespace: str, name: str) -> bool:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    try:
        pod = client.CoreV1Api(admin).read_namespaced_pod(name, namespace)
    except ApiException:
        return False
    return pod.status.phase == "Running" and any(c.type == "Ready" and c.status == "True"
                                                  for c in pod.status.conditions or [])


def wait_ready(admin, namespace: str, *names: str) -> None:
    for name in names:
        wait_for(lambda n=name: pod_ready(admin, namespace, n) and log_file(namespace, n).exists()
                 and exec_ready(namespace, n), timeout=60, what=f"pod {name} ready, with its log and exec")


def exec_ready(namespace: str, pod: str) -> bool:
    """pod-workdirs has made the pod's Exec object (its commands then run in the pod's own directory)."""
    return (pods_dir() / namespace / pod).is_dir()


def log_file(namespace: str, pod: str) -> Path:
    return pods_dir() / namespace / pod / "output.log"


def append_log(namespace: str, pod: str, *lines: str, when: datetime | None = None) -> None:
    stamp = (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with open(log_file(namespace, pod), "a") as out:
        for line in lines:
            out.write(f"{stamp} stdout F {line}\n")


def kf_env(kubeconfig: str, home: Path) -> dict[str, str]:
    return dict(os.environ, KUBECONFIG=kubeconfig, HOME=str(home), NO_COLOR="1",
                XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"),
                XDG_CACHE_HOME=str(home / "cache"))


def kf(kubeconfig: str, home: Path, context: str, namespace: str, *words: str, stdin: bytes | None = None,
       timeout: float = 60) -> subprocess.CompletedProcess:
    """One-shot `kf --context C -n NS WORDS...`, bytes in and out."""
    return subprocess.run([KF, "--context", context, "-n", namespace, *words], input=stdin,
                          capture_output=True, env=kf_env(kubeconfig, home), timeout=timeout,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def spawn(kubeconfig: str, home: Path, context: str, namespace: str, *words: str) -> subprocess.Popen:
    return subprocess.Popen([KF, "--context", context, "-n", namespace, *words], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=kf_env(kubeconfig, home))


def private_namespace(admin, name: str) -> None:
    """A namespace alice edits and bob may not see at all."""
    from kubernetes import client

    client.CoreV1Api(admin).create_namespace({"metadata": {"name": name, "labels": {"kf.kubeflow.org/test": "true"}}})
    client.RbacAuthorizationV1Api(admin).create_namespaced_role_binding(name, {
        "metadata": {"name": "alice-kubeflow-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubeflow-edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
    })
