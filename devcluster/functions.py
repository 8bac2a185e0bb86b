"""`python -m devcluster functions up|down|status`: kf's built-in functions in kf-system, run as on any cluster.

`up` applies what `kf admin install` applies for the functions: namespace kf-system, the functions' service
account `kf-functions` and its rights (review tokens, impersonate: kfshell/admin/rbac.py), the callers' RBAC
(here alice and bob may call every built-in), and the built-in Functions themselves
(kfshell/admin/builtins.py), labelled app.kubernetes.io/managed-by=kf-devcluster. The function controller
(kfshell/fncontroller, started by `python -m devcluster up`) makes each one's ConfigMap, Deployment and Service;
the pod stand-in (devcluster/podhost.py) runs the pods. `up` returns once every Function's status says Ready
for its current generation and its /healthz answers through the API server's service proxy.

`up` is idempotent (server-side apply: an unchanged function keeps its pod) and also removes what the old
harness made (hostNetwork pods, Services not owned by a Function, runtime processes and their relay, the
`kf-functions` network namespace and KWOK node, the long-lived token Secret). `down` deletes the Functions
(garbage collection removes their objects, the stand-in their processes) and the RBAC; namespace kf-system
stays (others use it too). `status` reports from the Functions' status.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sys
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import cluster, detached, fnhost, paths, podhost

NAMESPACE = "kf-system"
SERVICE_ACCOUNT = "kf-functions"
CALLERS = ("user:alice", "user:bob")  # the dev cluster's users who may call the built-ins
RUN = paths.RUN / "functions"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kf-devcluster"}
# Until the dev cluster's controller reconciles every Function it takes those with this label
# (devcluster/controllers/fncontroller.py: SELECTOR); harmless after.
CONTROLLER_LABEL = {"kf.kubeflow.org/function-controller": "true"}
SELECTOR = "app.kubernetes.io/managed-by=kf-devcluster"
FIELD_MANAGER = "kf-devcluster-functions"
STARTUP_TIMEOUT = 180.0  # nine pods started on two shared cores, from a cold image

# The old harness's pieces, removed by `up` and `down`.
LEGACY_PROCESSES = detached.ProcessDir(RUN)
LEGACY_HOST_NAME = "kf-functions"  # its network namespace and KWOK node
LEGACY_HOST_INDEX = 0
LEGACY_TOKEN_SECRET = "kf-functions-token"
FUNCTIONS_PATH = f"/apis/kubeless.io/v1beta1/namespaces/{NAMESPACE}/functions"


class FunctionsError(RuntimeError):
    """The functions could not be served; the message says what and where to look."""


@dataclass(frozen=True)
class BuiltinFunction:
    """A built-in function module as a Function object."""

    name: str  # the Function's, Service's and Deployment's name
    module: str
    subcommand: str
    manifest: dict[str, Any]

    @property
    def source(self) -> str:
        return self.manifest["spec"]["function"]

    @property
    def checksum(self) -> str:
        return self.manifest["spec"]["checksum"]

    @property
    def spec(self) -> dict[str, Any]:
        return json.loads(self.manifest["metadata"]["annotations"]["kf.kubeflow.org/spec"])


@dataclass(frozen=True)
class FunctionStatus:
    name: str
    subcommand: str
    deployed: str  # "current", "stale" (functions/ changed since `up`), "missing", or "unknown" (cluster down)
    ready: str  # the Function's Ready condition: "True", "False" or "-" (no status yet)
    reason: str  # its reason ("-" when none)
    answers: bool  # GET /healthz through the API server's service proxy answered 200


@dataclass(frozen=True)
class Report:
    functions: list[FunctionStatus]

    @property
    def ok(self) -> bool:
        return bool(self.functions) and all(f.deployed == "current" and f.ready == "True" and f.answers
                                            for f in self.functions)


def builtin_functions() -> list[BuiltinFunction]:
    """Every built-in function module as the Function `kf admin install` applies, with the dev cluster's label."""
    from kfshell.admin import builtins

    found = []
    for manifest in builtins.builtin_functions(namespace=NAMESPACE, labels={**MANAGED_BY, **CONTROLLER_LABEL}):
        module = manifest["spec"]["handler"].split(".", 1)[0]
        found.append(BuiltinFunction(manifest["metadata"]["name"], module,
                                     manifest["metadata"]["labels"][builtins.SUBCOMMAND_LABEL], manifest))
    return found


def rbac(function_names: Sequence[str]) -> list[dict[str, Any]]:
    """The functions' own account and rights, and the callers' (alice and bob), as `kf admin install` makes them."""
    from kfshell.admin import rbac as admin_rbac

    return admin_rbac.runtime_rbac(NAMESPACE) + admin_rbac.callers_rbac(function_names, NAMESPACE, CALLERS)


# --- up ---


def up() -> Report:
    """Apply every built-in Function; returns once each is Ready and answers through the service proxy."""
    with _exclusive():
        if not cluster.is_up():
            raise FunctionsError("the dev cluster is not up: run `python -m devcluster up` first")
        if podhost.pid() is None:
            raise FunctionsError("the pod stand-in (which runs function pods) is not running: run "
                                 "`python -m devcluster up`")
        builtins = builtin_functions()
        _remove_legacy()
        _apply(builtins)
        _delete_stale(builtins)
        _wait_serving(builtins)
        return _report(builtins)


def _apply(builtins: Sequence[BuiltinFunction]) -> None:
    """One server-side apply, in order: the namespace, the RBAC, the Functions."""
    import yaml

    RUN.mkdir(parents=True, exist_ok=True)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    objects = [namespace, *rbac([f.name for f in builtins]), *(f.manifest for f in builtins)]
    objects_file = RUN / "objects.yaml"
    objects_file.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    cluster.kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}",
                    "-f", str(objects_file))


def _delete_stale(builtins: Sequence[BuiltinFunction]) -> None:
    """Functions an earlier `up` made for modules gone from functions/."""
    listing = _get(f"{FUNCTIONS_PATH}?labelSelector={urllib.parse.quote(SELECTOR)}") or {}
    stale = sorted({item["metadata"]["name"] for item in listing.get("items", [])} - {f.name for f in builtins})
    if stale:
        cluster.kubectl("delete", "-n", NAMESPACE, "functions.kubeless.io", *stale, "--wait=false",
                        "--ignore-not-found")


def _remove_legacy() -> None:
    """What the old harness made: its processes, node, network namespace, token Secret, and its pods and
    Services (not owned by a Function: left there, they would be a name conflict for the controller)."""
    stop_processes()
    legacy_host().delete()
    for kind in ("pods", "services"):
        listing = _get(f"/api/v1/namespaces/{NAMESPACE}/{kind}?labelSelector={urllib.parse.quote(SELECTOR)}") or {}
        names = [item["metadata"]["name"] for item in listing.get("items", [])
                 if not item["metadata"].get("ownerReferences")]
        if names:
            force = ["--grace-period=0", "--force"] if kind == "pods" else []
            cluster.kubectl("delete", "-n", NAMESPACE, kind, *names, *force, "--wait=true", "--ignore-not-found")
    cluster.kubectl("delete", "node", LEGACY_HOST_NAME, "--wait=false", "--ignore-not-found")
    cluster.kubectl("delete", "-n", NAMESPACE, "secret", LEGACY_TOKEN_SECRET, "--wait=false", "--ignore-not-found")


def legacy_host() -> fnhost.NetnsHost:
    return fnhost.NetnsHost(LEGACY_HOST_INDEX, LEGACY_HOST_NAME)


def _wait_serving(builtins: Sequence[BuiltinFunction]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    for function in builtins:
        while True:
            obj = _get(f"{FUNCTIONS_PATH}/{function.name}") or {}
            if _ready(obj)[0] == "True" and _answers(function.name):
                break
            if time.monotonic() > deadline:
                ready, reason, message = _ready(obj)
                said = f"Ready={ready} {reason}: {message}" if ready != "-" else "no status yet"
                raise FunctionsError(
                    f"timed out after {STARTUP_TIMEOUT:g}s waiting for function {function.name} to be Ready and "
                    f"answer through the service proxy; its status: {said} (is the function controller running? "
                    f"`python -m devcluster status`; the pods' log: {paths.RUN / 'pod-host.log'})")
            time.sleep(0.2)


def _ready(obj: dict[str, Any]) -> tuple[str, str, str]:
    """The Function's Ready condition (status, reason, message), "-" when the controller has not reported on
    this generation yet."""
    status = obj.get("status") or {}
    if not obj or status.get("observedGeneration", 0) < obj["metadata"].get("generation", 0):
        return "-", "-", ""
    condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if condition is None:
        return "-", "-", ""
    return condition.get("status", "-"), condition.get("reason") or "-", condition.get("message") or ""


def stop_processes() -> list[str]:
    """Stop the old harness's runtimes and relay (by their pid files); `python -m devcluster down` calls this."""
    return [name for name in LEGACY_PROCESSES.names() if LEGACY_PROCESSES.stop(name)]


# --- checks ---


def _get(path: str) -> dict[str, Any] | None:
    """GET as admin; the JSON object, or None when it is not there (or the API server is not)."""
    status, body = cluster.api_get(path, timeout=5.0)
    return json.loads(body) if status == 200 else None


def _answers(name: str) -> bool:
    """GET /healthz through the API server's service proxy, as a caller's request goes."""
    path = f"/api/v1/namespaces/{NAMESPACE}/services/{name}:{fnhost.PORT_NAME}/proxy/healthz"
    return cluster.api_get(path, timeout=5.0)[0] == 200


# --- status and down ---


def status() -> Report:
    return _report(builtin_functions())


def _report(builtins: Sequence[BuiltinFunction]) -> Report:
    cluster_up = cluster.is_up()
    rows = []
    for function in builtins:
        deployed, ready, reason = "unknown", "-", "-"
        if cluster_up:
            obj = _get(f"{FUNCTIONS_PATH}/{function.name}")
            deployed = "missing"
            if obj is not None:
                deployed = "current" if (obj.get("spec") or {}).get("checksum") == function.checksum else "stale"
                ready, reason, _ = _ready(obj)
        rows.append(FunctionStatus(function.name, function.subcommand, deployed, ready, reason,
                                   cluster_up and _answers(function.name)))
    return Report(functions=rows)


def down() -> list[str]:
    """Delete the Functions `up` made and the RBAC; stop whatever the old harness left."""
    with _exclusive():
        stopped = stop_processes()
        if cluster.is_up():
            builtins = builtin_functions()
            listing = _get(f"{FUNCTIONS_PATH}?labelSelector={urllib.parse.quote(SELECTOR)}") or {}
            names = [item["metadata"]["name"] for item in listing.get("items", [])]
            if names:
                cluster.kubectl("delete", "-n", NAMESPACE, "functions.kubeless.io", *names, "--wait=false",
                                "--ignore-not-found")
            _remove_legacy()
            import yaml

            RUN.mkdir(parents=True, exist_ok=True)
            rbac_file = RUN / "rbac.yaml"
            rbac_file.write_text(yaml.safe_dump_all(rbac([f.name for f in builtins]), sort_keys=False))
            cluster.kubectl("delete", "-f", str(rbac_file), "--wait=false", "--ignore-not-found")
            stopped += names
        legacy_host().delete()
        return stopped


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    """One `up` or `down` at a time, across processes (tests and a developer may run them together)."""
    RUN.mkdir(parents=True, exist_ok=True)
    with open(RUN / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --- the command line ---


def command(action: str) -> int:
    """`python -m devcluster functions ACTION`; returns the exit status."""
    try:
        if action == "up":
            started = time.monotonic()
            report = up()
            names = " ".join(f.subcommand for f in report.functions)
            print(f"devcluster: functions up in {NAMESPACE} ({time.monotonic() - started:.1f}s): {names}; "
                  f"try `kf --context kf-alice --dispatch kubeless status list`", file=sys.stderr)
            return 0
        if action == "down":
            removed = down()
            print(f"devcluster: functions down; removed {', '.join(removed) or 'nothing (none deployed)'}",
                  file=sys.stderr)
            return 0
        report = status()
        print(f"{'FUNCTION':12} {'SUBCOMMAND':12} {'READY':6} {'REASON':18} {'DEPLOYED':9} ENDPOINT")
        for row in report.functions:
            print(f"{row.name:12} {row.subcommand:12} {row.ready:6} {row.reason:18} {row.deployed:9} "
                  f"{'answers' if row.answers else 'no answer'}")
        return 0 if report.ok else 1
    except (FunctionsError, fnhost.HostError, cluster.ClusterError) as err:
        print(f"devcluster: functions {action}: {err}", file=sys.stderr)
        return 1
