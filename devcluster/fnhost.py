"""Network-namespace hosts, Function objects and the runtime command: pieces the dev cluster's function pods use.

- `NetnsHost`: a network namespace joined to the host by a veth pair, with a private address (the API server's
  service proxy refuses loopback endpoints, so a function needs an address of its own). The pod stand-in
  (devcluster/podhost.py) gives each function pod one in 10.251.N.0/24.
- `function_object`: a Kubeless Function (kubeless.io/v1beta1) as kf deploys a subcommand; the function
  controller makes its ConfigMap, Deployment and Service.
- `function_kubeconfig`: a kubeconfig for a service account's token (the controllers the dev cluster runs).
- `runtime_command`: how to start `python -m kfshell.runtime` from this source tree (tests).

Needs root and iproute2 (Debian package `iproute2`) for the namespaces. Nothing here imports `kubernetes`: the
manifests are plain dicts that the caller creates with whatever client it has.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import paths

RUNTIME_PORT = 8080  # the port of every function Service, as Kubeless makes them
PORT_NAME = "http-function-port"  # what Kubeless names a function Service's port
API_SERVER_NAME = "kubernetes"  # in the API server's certificate; the relay's address is not


class HostError(RuntimeError):
    """A function host could not be set up; the message says which step and why."""


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HostError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


class NetnsHost:
    """A network namespace joined to the host by a veth pair: host side 10.250.N.1, inside 10.250.N.2
    (another `subnet`, e.g. 10.251 for the pod stand-in's pods, gives SUBNET.N.1 and SUBNET.N.2).

    Without `index`, `create()` picks a free N at random (tests: 1..254); the dev cluster's own host
    uses a fixed index (0) and name, so `exists()` can find it again from another process.
    """

    def __init__(self, index: int | None = None, name: str | None = None, *, subnet: str = "10.250",
                 prefix: str = "kf") -> None:
        self.index = index
        self._name = name
        self.subnet = subnet  # the first two octets: the pod stand-in uses its own range (10.251)
        self.prefix = prefix  # of the interface and namespace names, so ranges never share a name

    @property
    def name(self) -> str:
        return self._name or f"{self.prefix}-fnhost-{self.index}"

    @property
    def address(self) -> str:
        return f"{self.subnet}.{self.index}.2"

    @property
    def gateway(self) -> str:
        return f"{self.subnet}.{self.index}.1"

    @property
    def host_interface(self) -> str:
        return f"{self.prefix}h{self.index}"

    @property
    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def exists(self) -> bool:
        """The namespace is there with its address, and the host side with the gateway's."""
        inner = subprocess.run(["ip", "-n", self.name, "-o", "addr"], capture_output=True, text=True)
        outer = subprocess.run(["ip", "-o", "addr", "show", "dev", self.host_interface], capture_output=True,
                               text=True)
        return (inner.returncode == 0 and f" {self.address}/24 " in inner.stdout
                and outer.returncode == 0 and f" {self.gateway}/24 " in outer.stdout)

    def create(self) -> NetnsHost:
        if os.geteuid() != 0:
            raise HostError("a network-namespace function host needs root (ip netns add)")
        if not shutil.which("ip"):
            raise HostError("`ip` is missing: install the Debian package iproute2")
        if self.index is not None:
            self.delete()  # whatever a crashed run left behind
            _ip("netns", "add", self.name)
            self._wire_or_delete()
            return self
        taken = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
        start = random.randrange(1, 255)
        for offset in range(254):
            n = (start + offset) % 254 + 1
            if f" {self.subnet}.{n}." in taken:
                continue
            self.index = n
            try:
                _ip("netns", "add", self.name)
            except HostError:
                continue  # another test took it a moment ago
            self._wire_or_delete()
            return self
        raise HostError(f"no free {self.subnet}.N.0/24 subnet for a network-namespace host")

    def _wire_or_delete(self) -> None:
        inner_if = f"{self.prefix}n{self.index}"
        try:
            _ip("link", "add", self.host_interface, "type", "veth", "peer", "name", inner_if, "netns", self.name)
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.host_interface)
            _ip("link", "set", self.host_interface, "up")
            _ip("-n", self.name, "addr", "add", f"{self.address}/24", "dev", inner_if)
            _ip("-n", self.name, "link", "set", inner_if, "up")
            _ip("-n", self.name, "link", "set", "lo", "up")
        except HostError:
            self.delete()
            raise

    def delete(self) -> None:
        """Deleting the namespace deletes its veth end, and with it the host's."""
        if self.index is not None:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
            subprocess.run(["ip", "link", "del", self.host_interface], capture_output=True)


# --- the cluster objects, as plain dicts ---


def function_object(name: str, subcommand: str, source: str, *, handler: str = "handler.handler",
                    timeout: float = 30, spec: Mapping[str, object] | None = None,
                    labels: Mapping[str, str] | None = None) -> dict[str, object]:
    """A Kubeless Function (kubeless.io/v1beta1) as kf deploys a subcommand."""
    return {
        "apiVersion": "kubeless.io/v1beta1",
        "kind": "Function",
        "metadata": {
            "name": name,
            "labels": {"kf.kubeflow.org/subcommand": subcommand, "created-by": "kf", **(labels or {})},
            "annotations": {"kf.kubeflow.org/spec": json.dumps(spec or {"name": subcommand})},
        },
        "spec": {
            "runtime": "python3.11",
            "handler": handler,
            "function": source,
            "function-content-type": "text",
            "checksum": "sha256:" + hashlib.sha256(source.encode()).hexdigest(),
            "deps": "",
            "timeout": f"{int(timeout)}",
        },
    }


def function_kubeconfig(server: str, ca_pem: bytes, token: str, namespace: str) -> dict[str, object]:
    """The function's own credentials, reaching the API server at `server` (the relay)."""
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "function",
        "clusters": [{"name": "dev", "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem).decode(),
            "tls-server-name": API_SERVER_NAME,
        }}],
        "users": [{"name": "function", "user": {"token": token}}],
        "contexts": [{"name": "function", "context": {"cluster": "dev", "user": "function", "namespace": namespace}}],
    }


# --- the runtime process ---


@dataclass(frozen=True)
class RuntimeCommand:
    """How to start `python -m kfshell.runtime` serving `<module_dir>/<module>.py`."""

    argv: list[str]
    env: dict[str, str]


def runtime_command(module_dir: Path, module: str, handler: str = "handler", *, host: str = "127.0.0.1",
                    port: int = 0, env: Mapping[str, str] | None = None,
                    prefix: Sequence[str] = ()) -> RuntimeCommand:
    """The argv and environment of a runtime (under `prefix`, e.g. a NetnsHost's exec_prefix)."""
    argv = [*prefix, sys.executable, "-m", "kfshell.runtime", "--host", host, "--port", str(port)]
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(paths.ROOT), os.environ.get("PYTHONPATH")])),
        "MOD_NAME": module,
        "FUNC_HANDLER": handler,
        "KUBELESS_INSTALL_VOLUME": str(module_dir),
        **(env or {}),
    }
    return RuntimeCommand(argv=argv, env=full_env)


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll `check` until it is true; HostError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise HostError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
