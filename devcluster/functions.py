"""`python -m devcluster functions up|down|status`: kf's built-in functions served by the dev cluster.

`up` deploys every built-in function module in functions/ (one with `KF_COMMAND` and `handler`) to
namespace kf-system as a Kubeless Function and serves it the way the cluster tests do
(devcluster/fnhost.py): one network-namespace host `kf-functions` (10.250.0.2; the tests' hosts use
10.250.1-254), a KWOK node with that InternalIP, a hostNetwork pod and a Service per function, and a
runtime process per function inside the namespace, each on its own port (the Services all expose
port 8080 `http-function-port`, as Kubeless makes them, with that port as targetPort).

The runtimes and the relay to the API server (the namespace cannot reach 127.0.0.1:6443) are
detached long-lived processes with pid files and logs under .cache/devcluster/run/functions/. The
functions act with service account kf-functions's long-lived token Secret, so nothing expires.
Callers' rights come from devcluster/functions-rbac.yaml.

`up` is idempotent: a runtime whose settings (its source, the kfshell code, port, credentials, host)
are unchanged keeps running; one whose settings changed is restarted. `down` stops the processes and removes what `up`
made (namespace kf-system stays: others use it too).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import cluster, detached, fnhost, paths

NAMESPACE = "kf-system"
HOST_NAME = "kf-functions"  # the network namespace and the KWOK node
HOST_INDEX = 0  # 10.250.0.0/24; test hosts pick from 1..254
SERVICE_ACCOUNT = "kf-functions"
TOKEN_SECRET = "kf-functions-token"
RBAC = paths.SOURCE / "functions-rbac.yaml"
RUN = paths.RUN / "functions"
PROCESSES = detached.ProcessDir(RUN)
RELAY = "relay"  # the relay's process name (RUN/relay.pid ...); a runtime's is its function's name
FIRST_PORT = 8080
WORKERS = 2  # warm worker processes per function, started on demand: plenty for one person
MANAGED_BY = {"app.kubernetes.io/managed-by": "kf-devcluster"}
SELECTOR = "app.kubernetes.io/managed-by=kf-devcluster"
FIELD_MANAGER = "kf-devcluster-functions"
STARTUP_TIMEOUT = 90.0


class FunctionsError(RuntimeError):
    """The functions could not be served; the message says what and where to look."""


@dataclass(frozen=True)
class BuiltinFunction:
    """A built-in function module and how the dev cluster serves it."""

    name: str  # the Function's, Service's and runtime's name
    module: str
    subcommand: str
    source: str
    spec: dict[str, Any]
    timeout: float
    port: int  # the runtime's port on the host (the Service's targetPort)

    @property
    def handler(self) -> str:
        return f"{self.module}.handler"

    @property
    def checksum(self) -> str:
        return "sha256:" + hashlib.sha256(self.source.encode()).hexdigest()


@dataclass(frozen=True)
class FunctionStatus:
    name: str
    subcommand: str
    pid: int | None
    deployed: str  # "current", "stale" (functions/ changed since `up`), "missing", or "unknown" (cluster down)
    answers: bool  # GET /healthz through the API server's service proxy answered 200


@dataclass(frozen=True)
class Report:
    relay_pid: int | None
    host_up: bool
    functions: list[FunctionStatus]

    @property
    def ok(self) -> bool:
        return bool(self.relay_pid and self.host_up and self.functions
                    and all(f.pid and f.answers and f.deployed == "current" for f in self.functions))


def builtin_functions() -> list[BuiltinFunction]:
    """Every module in functions/ with a KF_COMMAND dict and a handler, with its port."""
    import functions as package  # the repository's functions/, not this module

    found: list[BuiltinFunction] = []
    for module_name in package.module_names():
        module = package.load(module_name)
        spec = getattr(module, "KF_COMMAND", None)
        if not isinstance(spec, dict) or not callable(getattr(module, "handler", None)):
            continue
        found.append(BuiltinFunction(
            name=module_name.replace("_", "-"), module=module_name, subcommand=str(spec["name"]),
            source=Path(module.__file__).read_text(), spec=spec, timeout=float(spec.get("timeout") or 30),
            port=FIRST_PORT + len(found)))
    return found


def host() -> fnhost.NetnsHost:
    return fnhost.NetnsHost(HOST_INDEX, HOST_NAME)


# --- up ---


def up() -> Report:
    """Deploy and serve every built-in function; returns once each answers through the service proxy."""
    with _exclusive():
        if not cluster.is_up():
            raise FunctionsError("the dev cluster is not up: run `python -m devcluster up` first")
        builtins = builtin_functions()
        netns = host()
        if not netns.exists():
            netns.create()
        _ensure_relay(netns)
        _apply(builtins, netns)
        _delete_stale(builtins)
        kubeconfig = _write_kubeconfig(netns, _wait_token())
        for function in builtins:
            _ensure_runtime(function, netns, kubeconfig)
        _wait_serving(builtins, netns)
        return _report(builtins)


def _apply(builtins: Sequence[BuiltinFunction], netns: fnhost.NetnsHost) -> None:
    """One server-side apply, in order: the namespace, the RBAC file, then node, Functions, Services, pods."""
    import yaml

    RUN.mkdir(parents=True, exist_ok=True)
    namespace_file = RUN / "namespace.yaml"
    namespace_file.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": NAMESPACE}}))
    node = fnhost.node_manifest(HOST_NAME, netns.address)
    node["metadata"]["labels"].update(MANAGED_BY)
    objects = [node]
    for function in builtins:
        objects.append(_namespaced(fnhost.function_object(
            function.name, function.subcommand, function.source, handler=function.handler,
            timeout=function.timeout, spec=function.spec, labels=MANAGED_BY)))
        objects.append(_namespaced(fnhost.service_manifest(function.name, target_port=function.port,
                                                           labels=MANAGED_BY)))
        objects.append(_namespaced(_pod(function)))
    objects_file = RUN / "objects.yaml"
    objects_file.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    cluster.kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}",
                    "-f", str(namespace_file), "-f", str(RBAC), "-f", str(objects_file))
    fnhost.wait_until(lambda: fnhost.node_has_address(_get(f"/api/v1/nodes/{HOST_NAME}") or {}, netns.address),
                      60, f"KWOK to make node {HOST_NAME} Ready with InternalIP {netns.address}")


def _pod(function: BuiltinFunction) -> dict[str, Any]:
    """The function's pod, named with a digest of its spec: pods are immutable, so a change is a new pod."""
    pod = fnhost.pod_manifest("", function.name, HOST_NAME, function.module, "handler", timeout=function.timeout,
                              port=function.port, labels=MANAGED_BY, service_account=SERVICE_ACCOUNT)
    digest = hashlib.sha256(json.dumps(pod, sort_keys=True).encode()).hexdigest()[:8]
    pod["metadata"]["name"] = f"{function.name}-{digest}"
    return pod


def _namespaced(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"]["namespace"] = NAMESPACE
    return obj


def _delete_stale(builtins: Sequence[BuiltinFunction]) -> None:
    """Remove what an earlier `up` made that is no longer wanted: old pods, functions gone from functions/."""
    wanted = {
        "pods": {_pod(f)["metadata"]["name"] for f in builtins},
        "services": {f.name for f in builtins},
        "functions.kubeless.io": {f.name for f in builtins},
    }
    listings = {"pods": f"/api/v1/namespaces/{NAMESPACE}/pods",
                "services": f"/api/v1/namespaces/{NAMESPACE}/services",
                "functions.kubeless.io": f"/apis/kubeless.io/v1beta1/namespaces/{NAMESPACE}/functions"}
    for kind, path in listings.items():
        listing = _get(f"{path}?labelSelector={urllib.parse.quote(SELECTOR)}") or {}
        stale = sorted({item["metadata"]["name"] for item in listing.get("items", [])} - wanted[kind])
        if stale:
            force = ["--grace-period=0", "--force"] if kind == "pods" else []
            cluster.kubectl("delete", "-n", NAMESPACE, kind, *stale, *force, "--wait=false", "--ignore-not-found")


def _wait_token() -> str:
    """The service account's long-lived token, once the token controller has filled in the Secret."""
    found: dict[str, str] = {}

    def filled() -> bool:
        secret = _get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{TOKEN_SECRET}") or {}
        token = (secret.get("data") or {}).get("token")
        if token:
            found["token"] = base64.b64decode(token).decode()
        return bool(token)

    fnhost.wait_until(filled, 30, f"kube-controller-manager to fill in Secret {NAMESPACE}/{TOKEN_SECRET}")
    return found["token"]


def _write_kubeconfig(netns: fnhost.NetnsHost, token: str) -> Path:
    """The functions' kubeconfig (their service account, through the relay); rewritten only when it changes."""
    import yaml

    config = fnhost.function_kubeconfig(f"https://{netns.gateway}:{paths.API_PORT}",
                                        (paths.PKI / "ca.crt").read_bytes(), token, NAMESPACE)
    text = yaml.safe_dump(config)
    path = RUN / "kubeconfig"
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o600)
        tmp.replace(path)
    return path


# --- processes ---


def _ensure_relay(netns: fnhost.NetnsHost) -> None:
    listen = f"{netns.gateway}:{paths.API_PORT}"
    argv = [sys.executable, "-m", "devcluster.relay", listen, f"127.0.0.1:{paths.API_PORT}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(paths.ROOT), os.environ.get("PYTHONPATH")]))}
    fingerprint = _fingerprint(argv[1:], _netns_id(netns))
    if _keep_or_stop(RELAY, fingerprint):
        return
    from devcluster import relay

    log = PROCESSES.log(RELAY)
    since = log.stat().st_size if log.exists() else 0
    pid = PROCESSES.start(RELAY, argv, env, identity=argv[1:], fingerprint=fingerprint, cwd=paths.ROOT)
    # Judged by the relay itself (its "listening" line, then the port), not by its pid file or by a port
    # that another checkout's relay may be holding.
    try:
        relay.wait_started(pid, log, since, listen)
    except relay.RelayFailed as err:
        raise FunctionsError(f"the relay to the API server did not start: {err} (log {log})") from None


def _ensure_runtime(function: BuiltinFunction, netns: fnhost.NetnsHost, kubeconfig: Path) -> None:
    source_dir = RUN / function.name  # as Kubeless mounts spec.function at /kubeless/<module>.py
    source_dir.mkdir(parents=True, exist_ok=True)
    source_file = source_dir / f"{function.module}.py"
    if not source_file.exists() or source_file.read_text() != function.source:
        source_file.write_text(function.source)
    settings = {"FUNC_TIMEOUT": f"{function.timeout:g}", "FUNC_RUNTIME": "python3.11", "FUNC_NAME": function.name,
                "FUNC_WORKERS": str(WORKERS), "KF_RUNTIME_KUBECONFIG": str(kubeconfig)}
    command = fnhost.runtime_command(source_dir, function.module, "handler", host=netns.address, port=function.port,
                                     env=settings, prefix=netns.exec_prefix)
    identity = command.argv[len(netns.exec_prefix) + 1:]  # `-m kfshell.runtime --host A --port P`
    fingerprint = _fingerprint(command.argv, settings, function.checksum, _kfshell_digest(),
                               hashlib.sha256(kubeconfig.read_bytes()).hexdigest(), _netns_id(netns))
    if not _keep_or_stop(function.name, fingerprint):
        PROCESSES.start(function.name, command.argv, command.env, identity=identity, fingerprint=fingerprint,
                        cwd=paths.ROOT)


def _wait_serving(builtins: Sequence[BuiltinFunction], netns: fnhost.NetnsHost) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    for function in builtins:
        while not (_healthy(netns.address, function.port) and _answers(function.name)):
            log = f"log {PROCESSES.log(function.name)}:\n{PROCESSES.tail(function.name)}"
            if PROCESSES.pid(function.name) is None:
                raise FunctionsError(f"function {function.name} exited; {log}")
            if time.monotonic() > deadline:
                raise FunctionsError(f"timed out after {STARTUP_TIMEOUT:g}s waiting for function {function.name} "
                                     f"to answer through the service proxy; {log}")
            time.sleep(0.1)


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _kfshell_digest() -> str:
    """A digest of the kfshell code a runtime imports: changing it restarts the runtimes, as a new image would."""
    digest = hashlib.sha256()
    package = paths.ROOT / "kfshell"
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _netns_id(netns: fnhost.NetnsHost) -> int:
    """The network namespace's inode: a recreated namespace means its processes must restart."""
    return os.stat(f"/run/netns/{netns.name}").st_ino


def _keep_or_stop(name: str, fingerprint: str) -> bool:
    """True when `name` runs with these settings; otherwise stop whatever runs under that name."""
    if PROCESSES.running_with(name, fingerprint):
        return True
    PROCESSES.stop(name)
    return False


def stop_processes() -> list[str]:
    """Stop every runtime and the relay (by their pid files); `python -m devcluster down` may call this."""
    names = [name for name in PROCESSES.names() if name != RELAY] + [RELAY]
    return [name for name in names if PROCESSES.stop(name)]


# --- checks ---


def _get(path: str) -> dict[str, Any] | None:
    """GET as admin; the JSON object, or None when it is not there (or the API server is not)."""
    status, body = cluster.api_get(path, timeout=5.0)
    return json.loads(body) if status == 200 else None


def _answers(name: str) -> bool:
    """GET /healthz through the API server's service proxy, as a caller's request goes."""
    path = f"/api/v1/namespaces/{NAMESPACE}/services/{name}:{fnhost.PORT_NAME}/proxy/healthz"
    return cluster.api_get(path, timeout=5.0)[0] == 200


def _healthy(address: str, port: int) -> bool:
    """The runtime itself answers /healthz (straight to it, no proxy from the environment)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{address}:{port}/healthz", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _port_open(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((address, port)) == 0


# --- status and down ---


def status() -> Report:
    return _report(builtin_functions())


def _report(builtins: Sequence[BuiltinFunction]) -> Report:
    cluster_up = cluster.is_up()
    rows = []
    for function in builtins:
        deployed = "unknown"
        if cluster_up:
            deployed = "missing"
            obj = _get(f"/apis/kubeless.io/v1beta1/namespaces/{NAMESPACE}/functions/{function.name}")
            if obj is not None:
                deployed = "current" if (obj.get("spec") or {}).get("checksum") == function.checksum else "stale"
        rows.append(FunctionStatus(function.name, function.subcommand, PROCESSES.pid(function.name), deployed,
                                   cluster_up and _answers(function.name)))
    return Report(relay_pid=PROCESSES.pid(RELAY), host_up=host().exists(), functions=rows)


def down() -> list[str]:
    """Stop the processes, remove the cluster objects `up` made (when the cluster is up) and the host."""
    with _exclusive():
        stopped = stop_processes()
        if cluster.is_up():
            cluster.kubectl("delete", "-n", NAMESPACE, "pods,services,functions.kubeless.io", "-l", SELECTOR,
                            "--grace-period=0", "--force", "--wait=false", "--ignore-not-found")
            cluster.kubectl("delete", "node", HOST_NAME, "--wait=false", "--ignore-not-found")
            cluster.kubectl("delete", "-f", str(RBAC), "--wait=false", "--ignore-not-found")
        host().delete()
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
            stopped = down()
            print(f"devcluster: functions down; stopped {', '.join(stopped) or 'nothing (not running)'}",
                  file=sys.stderr)
            return 0
        report = status()
        print(f"{'relay':12} {report.relay_pid or 'stopped'}")
        print(f"{'host':12} {HOST_NAME} {host().address} {'up' if report.host_up else 'absent'}")
        print(f"{'FUNCTION':12} {'SUBCOMMAND':12} {'PID':8} {'DEPLOYED':9} ENDPOINT")
        for row in report.functions:
            print(f"{row.name:12} {row.subcommand:12} {str(row.pid or 'stopped'):8} {row.deployed:9} "
                  f"{'answers' if row.answers else 'no answer'}")
        return 0 if report.ok else 1
    except (FunctionsError, fnhost.HostError, cluster.ClusterError) as err:
        print(f"devcluster: functions {action}: {err}", file=sys.stderr)
        return 1
