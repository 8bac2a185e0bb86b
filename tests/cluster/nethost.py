"""Serving a test's function on the dev cluster as on any cluster, for tests: `FunctionHost`.

The function controller (kfshell/fncontroller) makes the Function's ConfigMap, Deployment and Service; the dev
cluster's pod stand-in (devcluster/podhost.py) runs its pod at a pod IP of its own, so the API server's service
proxy reaches it through the Service's endpoints. What the test sets up here lives as long as the `with` block:
the Function (when the test had not made it already), and the rights of the pods' service account (the
namespace's `default`): review tokens and impersonate, plus `extra_cluster_roles`.

`runtime.log` is what the function's pods wrote (the runtime's request lines among it), read from the pods'
logs. Needs the dev cluster's function controller and pod stand-in (`python -m devcluster up`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from devcluster import podhost
from devcluster.fnhost import PORT_NAME, HostError, NetnsHost, function_object, wait_until
from devcluster.relay import TcpRelay
from tests.cluster.runtime_process import RuntimeProcess

__all__ = ["PORT_NAME", "FunctionHost", "HostError", "NetnsHost", "PodRuntime", "RuntimeProcess",
           "TcpRelay", "function_object"]

# Until the dev cluster's controller reconciles every Function, it takes those with this label
# (devcluster/controllers/fncontroller.py: SELECTOR).
CONTROLLER_LABEL = "kf.kubeflow.org/function-controller"


class PodRuntime:
    """The function's runtime as its pods run it: their log (every pod of the function, oldest first)."""

    def __init__(self, admin: object, namespace: str, name: str) -> None:
        self.admin = admin
        self.namespace = namespace
        self.name = name
        self.seen: dict[str, Path] = {}  # pod name -> its log file
        self.read: dict[str, str] = {}  # pod name -> its log as last read: the file goes with the pod

    @property
    def log(self) -> str:
        from kubernetes import client

        pods = client.CoreV1Api(self.admin).list_namespaced_pod(self.namespace, label_selector=f"function={self.name}")
        for pod in sorted(pods.items, key=lambda p: p.metadata.creation_timestamp):
            log = podhost.PODS_DIR / self.namespace / pod.metadata.name / "output.log"
            self.seen.setdefault(pod.metadata.name, log)
        lines = []
        for name, path in self.seen.items():
            try:
                self.read[name] = path.read_text(errors="replace")
            except FileNotFoundError:
                pass
            text = self.read.get(name, "")
            lines += [line.split(" ", 3)[3] for line in text.splitlines() if line.count(" ") >= 3]
        return "".join(line + "\n" for line in lines)


class FunctionHost:
    """Serve Function `name` in `namespace` (made from `<module_dir>/<module>.py` unless it exists already).

    `admin` is an ApiClient with cluster-admin rights. `timeout` becomes the Function's spec.timeout (the
    runtime's FUNC_TIMEOUT); `host_paths` are mounted at the same paths in its pods (hostPath volumes).
    The pods' account may review tokens and impersonate users and groups;
    `extra_cluster_roles` grants it more (a test that shows the caller's RBAC wins gives the function wide
    rights on purpose).
    """

    def __init__(self, admin: object, namespace: str, name: str, module_dir: Path, module: str,
                 handler: str = "handler", *, timeout: float = 30, extra_cluster_roles: Sequence[str] = (),
                 host_paths: Sequence[Path] = ()) -> None:
        self.admin = admin
        self.namespace = namespace
        self.name = name
        self.module_dir = Path(module_dir)
        self.module = module
        self.handler = handler
        self.timeout = timeout
        self.extra_cluster_roles = tuple(extra_cluster_roles)
        self.host_paths = tuple(Path(p) for p in host_paths)
        self.suffix = uuid.uuid4().hex[:6]
        self.runtime: PodRuntime | None = None
        self._undo: list[tuple[str, Callable[[], object]]] = []

    def __enter__(self) -> FunctionHost:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, timeout: float = 120.0) -> None:
        if podhost.pid() is None:
            raise HostError("the dev cluster's pod stand-in is not running: `python -m devcluster up` starts it")
        self._grant_rights()
        self._ensure_function()
        self.runtime = PodRuntime(self.admin, self.namespace, self.name)
        wait_until(self._ready, timeout, f"Function {self.namespace}/{self.name} to be Ready with a ready endpoint",
                   interval=0.3)

    def close(self) -> None:
        errors = []
        for what, undo in reversed(self._undo):
            try:
                undo()
            except Exception as exc:  # keep tearing down; report everything at the end
                if getattr(exc, "status", None) != 404:
                    errors.append(f"{what}: {exc}")
        self._undo.clear()
        if errors:
            raise HostError("tearing down the function failed: " + "; ".join(errors))

    # --- cluster objects ---

    def _ensure_function(self) -> None:
        from kubernetes import client

        objects = client.CustomObjectsApi(self.admin)
        args = ("kubeless.io", "v1beta1", self.namespace, "functions")
        try:
            existing = objects.get_namespaced_custom_object(*args, self.name)
        except client.ApiException as err:
            if err.status != 404:
                raise
            existing = None
        if existing is None:
            source = (self.module_dir / f"{self.module}.py").read_text()
            function = function_object(self.name, self.name, source, handler=f"{self.module}.{self.handler}",
                                       timeout=self.timeout, labels={CONTROLLER_LABEL: "true"})
            objects.create_namespaced_custom_object(*args, function)
            self._undo.append((f"function {self.name}", lambda: objects.delete_namespaced_custom_object(
                *args, self.name)))
            return
        spec: dict[str, object] = {}
        if str(existing["spec"].get("timeout")) != f"{int(self.timeout)}":
            spec["timeout"] = f"{int(self.timeout)}"  # the runtime's FUNC_TIMEOUT, as the test asks
        if self.host_paths:
            spec["deployment"] = self._host_path_deployment()
        patch: dict[str, object] = {"metadata": {"labels": {CONTROLLER_LABEL: "true"}}}
        if spec:
            patch["spec"] = spec
        objects.patch_namespaced_custom_object(*args, self.name, patch)

    def _host_path_deployment(self) -> dict[str, object]:
        """spec.deployment mounting each of `host_paths` at the same path in the function's container, so a
        test's function writes files the test reads (merged over the controller's pod as Kubeless merged it)."""
        volumes = [{"name": f"host-{i}", "hostPath": {"path": str(p)}} for i, p in enumerate(self.host_paths)]
        mounts = [{"name": f"host-{i}", "mountPath": str(p)} for i, p in enumerate(self.host_paths)]
        return {"spec": {"template": {"spec": {"volumes": volumes,
                                               "containers": [{"name": self.name, "volumeMounts": mounts}]}}}}

    def _ready(self) -> bool:
        from kubernetes import client

        try:
            obj = client.CustomObjectsApi(self.admin).get_namespaced_custom_object(
                "kubeless.io", "v1beta1", self.namespace, "functions", self.name)
        except client.ApiException:
            return False
        status = obj.get("status") or {}
        if status.get("observedGeneration", 0) < obj["metadata"].get("generation", 1):
            return False
        if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []):
            return False
        slices = client.DiscoveryV1Api(self.admin).list_namespaced_endpoint_slice(
            self.namespace, label_selector=f"kubernetes.io/service-name={self.name}")
        return any(endpoint.conditions and endpoint.conditions.ready
                   for item in slices.items for endpoint in item.endpoints or [])

    def _grant_rights(self) -> None:
        """The pods' account (the namespace's `default`) may review tokens and impersonate, and more if asked."""
        from kubernetes import client

        rbac = client.RbacAuthorizationV1Api(self.admin)
        subject = {"kind": "ServiceAccount", "name": "default", "namespace": self.namespace}
        role_name = f"kf-fnhost-impersonator-{self.suffix}"
        rbac.create_cluster_role({
            "metadata": {"name": role_name},
            "rules": [{"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]}],
        })
        self._undo.append((f"clusterrole {role_name}", lambda: rbac.delete_cluster_role(role_name)))
        for role in ("system:auth-delegator", role_name, *self.extra_cluster_roles):
            binding = f"kf-fnhost-{self.suffix}-{role.replace(':', '-')}"[:63]
            rbac.create_cluster_role_binding({
                "metadata": {"name": binding},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [subject],
            })
            self._undo.append((f"clusterrolebinding {binding}",
                               lambda b=binding: rbac.delete_cluster_role_binding(b)))
