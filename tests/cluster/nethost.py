"""Serving a function behind a real Service endpoint: the network-namespace test host.

`FunctionHost` plays the parts a real cluster's node and Kubeless controller would: it creates a
network namespace with a veth pair and a private address (10.250.N.2/24, the host side 10.250.N.1),
a KWOK node whose InternalIP is that address, a hostNetwork pod for the function on that node (KWOK
gives it the node's IP, so its Service gets a real endpoint), a Service selecting it, and starts the
runtime inside the namespace listening on that address: the API server's service proxy reaches it
like any pod. Loopback could not do this: the proxy refuses loopback endpoints.

Inside the namespace the API server (which listens on 127.0.0.1) is out of reach, so a small relay
listens on the host side of the veth (10.250.N.1:6443) and forwards to it; the function's kubeconfig
points there, with tls-server-name `kubernetes` (a name in the server certificate).

Needs root and iproute2 (Debian package `iproute2`). No pytest in here: the dev cluster's
`functions up` may serve functions the same way.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tests.cluster.runtime_process import RuntimeProcess

__all__ = ["FunctionHost", "HostError", "NetnsHost", "RuntimeProcess", "TcpRelay", "function_object"]


class HostError(RuntimeError):
    """The test host could not be set up."""


# --- the network-namespace test host ---

API_PORT = 6443
SUBNET = "10.250.{n}.0/24"
RUNTIME_PORT = 8080
PORT_NAME = "http-function-port"  # what Kubeless names a function Service's port
HOST_TAINT = "kf.kubeflow.org/function-host"


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HostError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


class NetnsHost:
    """A network namespace joined to the host by a veth pair: host side 10.250.N.1, inside 10.250.N.2."""

    def __init__(self) -> None:
        self.index: int | None = None

    @property
    def name(self) -> str:
        return f"kf-fnhost-{self.index}"

    @property
    def address(self) -> str:
        return f"10.250.{self.index}.2"

    @property
    def gateway(self) -> str:
        return f"10.250.{self.index}.1"

    @property
    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def create(self) -> NetnsHost:
        if os.geteuid() != 0:
            raise HostError("a network-namespace test host needs root (ip netns add)")
        if not shutil.which("ip"):
            raise HostError("`ip` is missing: install the Debian package iproute2")
        taken = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
        start = random.randrange(1, 255)
        for offset in range(254):
            n = (start + offset) % 254 + 1
            if f"10.250.{n}." in taken:
                continue
            self.index = n
            try:
                _ip("netns", "add", self.name)
            except HostError:
                continue  # another test took it a moment ago
            try:
                self._wire()
            except HostError:
                self.delete()
                raise
            return self
        raise HostError("no free 10.250.N.0/24 subnet for a test host")

    def _wire(self) -> None:
        host_if, inner_if = f"kfh{self.index}", f"kfn{self.index}"
        _ip("link", "add", host_if, "type", "veth", "peer", "name", inner_if, "netns", self.name)
        _ip("addr", "add", f"{self.gateway}/24", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", self.name, "addr", "add", f"{self.address}/24", "dev", inner_if)
        _ip("-n", self.name, "link", "set", inner_if, "up")
        _ip("-n", self.name, "link", "set", "lo", "up")

    def delete(self) -> None:
        """Deleting the namespace deletes its veth end, and with it the host's."""
        if self.index is not None:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
            subprocess.run(["ip", "link", "del", f"kfh{self.index}"], capture_output=True)


class TcpRelay:
    """Forwards connections from (listen_host, listen_port) to (target_host, target_port), in threads."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server(listen, reuse_port=False)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="kf-relay", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()
        with self._lock:
            for s in self._open:
                s.close()
            self._open.clear()


def function_object(name: str, subcommand: str, source: str, *, handler: str = "handler.handler",
                    timeout: int = 30, spec: Mapping[str, object] | None = None) -> dict[str, object]:
    """A Kubeless Function (kubeless.io/v1beta1) as kf deploys a subcommand."""
    import hashlib
    import json

    return {
        "apiVersion": "kubeless.io/v1beta1",
        "kind": "Function",
        "metadata": {
            "name": name,
            "labels": {"kf.kubeflow.org/subcommand": subcommand, "created-by": "kf"},
            "annotations": {"kf.kubeflow.org/spec": json.dumps(spec or {"name": subcommand})},
        },
        "spec": {
            "runtime": "python3.11",
            "handler": handler,
            "function": source,
            "function-content-type": "text",
            "checksum": "sha256:" + hashlib.sha256(source.encode()).hexdigest(),
            "deps": "",
            "timeout": str(timeout),
        },
    }


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
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux",
                           "type": "kwok", HOST_TAINT: "true"},
            },
            # Only the function's pod may land here: other tests' pods must not vanish with this node.
            "spec": {"taints": [{"key": HOST_TAINT, "value": "true", "effect": "NoSchedule"}]},
            "status": {"addresses": [{"type": "InternalIP", "address": self.netns.address},
                                     {"type": "Hostname", "address": self.node_name}]},
        }
        core.create_node(node)
        self._undo.append((f"node {self.node_name}", lambda: core.delete_node(self.node_name)))

        def ready() -> bool:
            status = core.read_node(self.node_name).status
            addresses = {a.address for a in status.addresses or []}
            is_ready = any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])
            return is_ready and self.netns.address in addresses

        self._wait(ready, 60, f"KWOK to make node {self.node_name} Ready with InternalIP {self.netns.address}")

    def _create_pod_and_service(self, core: object) -> None:
        labels = {"function": self.name, "created-by": "kf"}
        pod_name = f"{self.name}-{self.suffix}"
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "labels": labels},
            "spec": {
                "nodeName": self.node_name,
                "hostNetwork": True,
                "tolerations": [{"key": HOST_TAINT, "operator": "Exists", "effect": "NoSchedule"}],
                "containers": [{
                    "name": "function", "image": "kf-runtime:dev",
                    "ports": [{"containerPort": RUNTIME_PORT, "protocol": "TCP"}],
                    "env": [{"name": "MOD_NAME", "value": self.module},
                            {"name": "FUNC_HANDLER", "value": self.handler},
                            {"name": "FUNC_TIMEOUT", "value": f"{self.timeout:g}"},
                            {"name": "FUNC_PORT", "value": str(RUNTIME_PORT)}],
                }],
            },
        }
        core.create_namespaced_pod(self.namespace, pod)
        self._undo.append((f"pod {pod_name}", lambda: core.delete_namespaced_pod(
            pod_name, self.namespace, grace_period_seconds=0)))
        service = {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {"selector": {"function": self.name},
                     "ports": [{"name": PORT_NAME, "port": RUNTIME_PORT, "targetPort": RUNTIME_PORT,
                                "protocol": "TCP"}]},
        }
        core.create_namespaced_service(self.namespace, service)
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
        import base64

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
        kubeconfig = {
            "apiVersion": "v1", "kind": "Config", "current-context": "function",
            "clusters": [{"name": "dev", "cluster": {
                "server": f"https://{self.netns.gateway}:{api_port}",
                "certificate-authority-data": base64.b64encode(ca).decode(),
                "tls-server-name": "kubernetes",  # a name in the API server's certificate
            }}],
            "users": [{"name": "function", "user": {"token": token}}],
            "contexts": [{"name": "function", "context": {"cluster": "dev", "user": "function",
                                                           "namespace": self.namespace}}],
        }
        path = self._workdir / "kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))
        path.chmod(0o600)
        return path

    @staticmethod
    def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise HostError(f"timed out after {timeout:g}s waiting for {what}")
            time.sleep(0.1)


def _host_port(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 443
