"""Serving a function behind a real Service endpoint, for tests: `FunctionHost`.

It puts together the pieces in devcluster/fnhost.py (the network-namespace host, the KWOK node with
its InternalIP, the hostNetwork pod, the Service, the runtime command) and devcluster/relay.py (the
relay to the API server), which `python -m devcluster functions up` uses too. Here everything lives
as long as the `with` block: the relay runs in a thread, the runtime as a child process, and the
function's token expires after an hour.

Needs root and iproute2 (Debian package `iproute2`).
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from devcluster.fnhost import (
    HOST_TAINT,
    PORT_NAME,
    RUNTIME_PORT,
    HostError,
    NetnsHost,
    function_kubeconfig,
    function_object,
    node_has_address,
    node_manifest,
    pod_manifest,
    service_manifest,
    wait_until,
)
from devcluster.relay import TcpRelay
from tests.cluster.runtime_process import RuntimeProcess

__all__ = ["HOST_TAINT", "PORT_NAME", "FunctionHost", "HostError", "NetnsHost", "RuntimeProcess", "TcpRelay",
           "function_object"]


class FunctionHost:
    """Serve `<module_dir>/<module>.py` as function `name` in `namespace`, reachable through the service proxy.

    `admin` is an ApiClient with cluster-admin rights (it creates the node, pod, Service, and the
    function's service account). The runtime acts with that service account's token, which may
    create TokenReviews and impersonate users and groups; `extra_cluster_roles` grants it more
    (a test that shows the caller's RBAC wins gives the function wide rights on purpose).
    """

    def __init__(self, admin: object, namespace: str, name: str, module_dir: Path, module: str,
                 handler: str = "handler", *, timeout: float = 30, extra_cluster_roles: Sequence[str] = ()) -> None:
        self.admin = admin
        self.namespace = namespace
        self.name = name
        self.module_dir = Path(module_dir)
        self.module = module
        self.handler = handler
        self.timeout = timeout
        self.extra_cluster_roles = tuple(extra_cluster_roles)
        self.suffix = uuid.uuid4().hex[:6]
        self.netns = NetnsHost()
        self.runtime: RuntimeProcess | None = None
        self._relay: TcpRelay | None = None
        self._undo: list[tuple[str, Callable[[], object]]] = []
        self._workdir = Path(tempfile.mkdtemp(prefix="kf-fnhost-"))

    @property
    def node_name(self) -> str:
        return f"kf-fnhost-{self.netns.index}-{self.suffix}"

    @property
    def service_account(self) -> str:
        return f"kf-fn-{self.name}"[:63]

    def __enter__(self) -> FunctionHost:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, timeout: float = 60.0) -> None:
        from kubernetes import client

        core = client.CoreV1Api(self.admin)
        self.netns.create()
        self._undo.append(("network namespace", self.netns.delete))
        api_host, api_port = _host_port(self.admin.configuration.host)
        self._relay = TcpRelay((self.netns.gateway, api_port), (api_host, api_port))
        self._undo.append(("API relay", self._relay.close))
        kubeconfig = self._function_kubeconfig(api_port)
        self._create_node(core)
        self._create_pod_and_service(core)
        self.runtime = RuntimeProcess(
            self.module_dir, self.module, self.handler, host=self.netns.address, port=RUNTIME_PORT,
            prefix=self.netns.exec_prefix,
            env={"FUNC_TIMEOUT": f"{self.timeout:g}", "FUNC_RUNTIME": "python3.11", "FUNC_NAME": self.name,
                 "KF_RUNTIME_KUBECONFIG": str(kubeconfig)},
        )
        self.runtime.start(timeout)
        self._undo.append(("runtime", self.runtime.stop))
        self._wait(lambda: self._endpoint_ready(), timeout, "the function's Service to get a ready endpoint")

    def close(self) -> None:
        errors = []
        for what, undo in reversed(self._undo):
            try:
                undo()
            except Exception as exc:  # keep tearing down; report everything at the end
                if getattr(exc, "status", None) != 404:
                    errors.append(f"{what}: {exc}")
        self._undo.clear()
        shutil.rmtree(self._workdir, ignore_errors=True)
        if errors:
            raise HostError("tearing down the function host failed: " + "; ".join(errors))

    # --- cluster objects ---

    def _create_node(self, core: object) -> None:
        core.create_node(node_manifest(self.node_name, self.netns.address))
        self._undo.append((f"node {self.node_name}", lambda: core.delete_node(self.node_name)))

        def ready() -> bool:
            node = self.admin.sanitize_for_serialization(core.read_node(self.node_name))
            return node_has_address(node, self.netns.address)

        self._wait(ready, 60, f"KWOK to make node {self.node_name} Ready with InternalIP {self.netns.address}")

    def _create_pod_and_service(self, core: object) -> None:
        labels = {"created-by": "kf"}
        pod_name = f"{self.name}-{self.suffix}"
        core.create_namespaced_pod(self.namespace, pod_manifest(
            pod_name, self.name, self.node_name, self.module, self.handler, timeout=self.timeout, labels=labels))
        self._undo.append((f"pod {pod_name}", lambda: core.delete_namespaced_pod(
            pod_name, self.namespace, grace_period_seconds=0)))
        core.create_namespaced_service(self.namespace, service_manifest(self.name, labels=labels))
        self._undo.append((f"service {self.name}", lambda: core.delete_namespaced_service(
            self.name, self.namespace)))

    def _endpoint_ready(self) -> bool:
        from kubernetes import client

        slices = client.DiscoveryV1Api(self.admin).list_namespaced_endpoint_slice(
            self.namespace, label_selector=f"kubernetes.io/service-name={self.name}")
        return any(
            endpoint.conditions and endpoint.conditions.ready and self.netns.address in endpoint.addresses
            for item in slices.items for endpoint in item.endpoints or []
        )

    def _function_kubeconfig(self, api_port: int) -> Path:
        """The function's own credentials: a service account that may review tokens and impersonate."""
        import yaml
        from kubernetes import client

        core = client.CoreV1Api(self.admin)
        rbac = client.RbacAuthorizationV1Api(self.admin)
        core.create_namespaced_service_account(self.namespace, {"metadata": {"name": self.service_account}})
        subject = {"kind": "ServiceAccount", "name": self.service_account, "namespace": self.namespace}
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
        token = core.create_namespaced_service_account_token(
            self.service_account, self.namespace, {"spec": {"expirationSeconds": 3600}}).status.token
        ca = Path(self.admin.configuration.ssl_ca_cert).read_bytes()
        kubeconfig = function_kubeconfig(f"https://{self.netns.gateway}:{api_port}", ca, token, self.namespace)
        path = self._workdir / "kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))
        path.chmod(0o600)
        return path

    @staticmethod
    def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
        wait_until(check, timeout, what)


def _host_port(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 443
