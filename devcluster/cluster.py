"""Bring the dev cluster up, check it, and take it down."""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from . import kubeconfig, paths, pki, podhost, processes
from .build import COMPONENTS  # start order; `down` stops them in reverse


class ClusterError(RuntimeError):
    """The cluster could not be brought up; the message says which component and where its log is."""


def _log_tail(name: str, lines: int = 15) -> str:
    try:
        text = processes.log_file(name).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text[-lines:])


def wait_for(what: str, check, timeout: float, component: str) -> None:
    """Poll check() until true; fail naming the component and its log tail if it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if processes.running_pid(component) is None:
            raise ClusterError(f"{component} exited while waiting for {what}; log "
                               f"{processes.log_file(component)}:\n{_log_tail(component)}")
        if check():
            return
        time.sleep(0.1)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}; log "
                       f"{processes.log_file(component)}:\n{_log_tail(component)}")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _admin_ssl() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(paths.PKI / "ca.crt"))
    context.load_cert_chain(str(paths.PKI / "admin.crt"), str(paths.PKI / "admin.key"))
    return context


def api_get(path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET a path from the API server as admin; (status, body), status 0 when unreachable."""
    try:
        with urllib.request.urlopen(paths.SERVER + path, context=_admin_ssl(), timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (OSError, ssl.SSLError):
        return 0, b""


def secret_token(namespace: str, secret: str, timeout: float = 30.0) -> str:
    """A service account's long-lived token, once the token controller has filled in its Secret."""
    import base64

    path = f"/api/v1/namespaces/{namespace}/secrets/{secret}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = api_get(path)
        token = (json.loads(body).get("data") or {}).get("token") if status == 200 else None
        if token:
            return base64.b64decode(token).decode()
        time.sleep(0.2)
    raise ClusterError(f"no token in Secret {namespace}/{secret} after {timeout:g}s: "
                       "is kube-controller-manager running? (python -m devcluster status)")


def _ready() -> bool:
    return api_get("/readyz")[0] == 200


def _node_ready() -> bool:
    status, body = api_get(f"/api/v1/nodes/{paths.NODE_NAME}")
    if status != 200:
        return False
    conditions = json.loads(body).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def kubectl(*args: str, input_text: str | None = None) -> str:
    """Run the built kubectl as admin; raise ClusterError with its message on failure."""
    proc = subprocess.run([str(paths.KUBECTL), "--kubeconfig", str(paths.KUBECONFIG), "--context", "kf-admin",
                           *args], input=input_text, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def is_up(with_controllers: bool = True) -> bool:
    """Every control-plane process (and, with_controllers, every Kubeflow controller) runs, and /readyz answers."""
    from .controllers import run as controllers

    return (all(processes.running_pid(c) for c in COMPONENTS) and (not with_controllers or controllers.running())
            and _ready())


def _current() -> bool:
    """KWOK runs with today's configuration (its stages) and the pod stand-in with today's code."""
    return _kwok_current() and podhost.PROCESSES.running_with(podhost.NAME, podhost.fingerprint())


def _kwok_digest() -> str:
    import hashlib

    return hashlib.sha256(_kwok_config().read_bytes()).hexdigest()


def _kwok_current() -> bool:
    try:
        return (paths.RUN / "kwok.digest").read_text() == _kwok_digest()
    except FileNotFoundError:
        return False


def _apiserver_args() -> list[str]:
    p = paths.PKI
    return [
        f"--etcd-servers={paths.ETCD_CLIENT}",
        "--bind-address=127.0.0.1", f"--secure-port={paths.API_PORT}",
        "--advertise-address=127.0.0.1",
        # No real kubernetes Service endpoint: a loopback address may not be an endpoint.
        "--endpoint-reconciler-type=none",
        f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
        f"--client-ca-file={p / 'ca.crt'}", f"--token-auth-file={p / 'tokens.csv'}",
        "--authorization-mode=Node,RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={p / 'sa.pub'}", f"--service-account-signing-key-file={p / 'sa.key'}",
        f"--service-cluster-ip-range={paths.SERVICE_CIDR}",
        f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ]


def _controller_manager_args() -> list[str]:
    p = paths.PKI
    cfg = str(p / "controller-manager.kubeconfig")
    return [
        f"--kubeconfig={cfg}", f"--authentication-kubeconfig={cfg}", f"--authorization-kubeconfig={cfg}",
        "--bind-address=127.0.0.1", "--leader-elect=false",
        f"--service-account-private-key-file={p / 'sa.key'}", f"--root-ca-file={p / 'ca.crt'}",
        "--use-service-account-credentials=true",
        f"--cluster-signing-cert-file={p / 'ca.crt'}", f"--cluster-signing-key-file={p / 'ca.key'}",
        f"--service-cluster-ip-range={paths.SERVICE_CIDR}",
        # Fast namespace deletion and garbage collection matter more here than apiserver load.
        "--concurrent-namespace-syncs=4", "--concurrent-gc-syncs=10",
        "--v=1",
    ]


def _scheduler_args() -> list[str]:
    cfg = str(paths.PKI / "scheduler.kubeconfig")
    return [f"--kubeconfig={cfg}", f"--authentication-kubeconfig={cfg}", f"--authorization-kubeconfig={cfg}",
            "--bind-address=127.0.0.1", "--leader-elect=false", "--v=1"]


def _pods_dir() -> Path:
    """Exec'd commands run in <this>/<namespace>/<pod> (or here, before the pod's own Exec exists)."""
    pods_dir = paths.RUN / "pods"
    pods_dir.mkdir(parents=True, exist_ok=True)
    return pods_dir


def _kwok_config() -> Path:
    """KWOK's configuration: options, the stages in devcluster/kwok/, and exec/logs run locally."""
    pods_dir = _pods_dir()
    log = paths.RUN / "pod-output.log"
    if not log.exists():
        # KWOK reads logs in the CRI format: timestamp, stream, tag (F = full line), message.
        log.write_text("".join(f"2026-01-01T00:00:0{i}.000000000Z stdout F {line}\n" for i, line in enumerate((
            "kf dev cluster: this pod is played by KWOK",
            "its log is a file on the host: .cache/devcluster/run/pod-output.log"))))
    docs = [
        {"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokConfiguration",
         "options": {"cidr": paths.POD_CIDR, "nodeIP": "127.0.0.1", "nodePort": paths.KWOK_PORT,
                     "serverAddress": f"127.0.0.1:{paths.KWOK_PORT}", "manageAllNodes": True,
                     "nodeLeaseDurationSeconds": 40, "nodeLeaseParallelism": 4,
                     "podPlayStageParallelism": 4, "nodePlayStageParallelism": 4,
                     "podsOnNodeSyncParallelism": 4, "enableDebuggingHandlers": True,
                     # Per-pod Exec objects (made by pod-workdirs) give each pod its own directory.
                     "enableCRDs": ["Exec"]}},
        {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterExec", "metadata": {"name": "kf-local-exec"},
         "spec": {"execs": [{"local": {"workDir": str(pods_dir),
                                       "envs": [{"name": "KF_DEVCLUSTER", "value": "1"}]}}]}},
        {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterLogs", "metadata": {"name": "kf-file-logs"},
         "spec": {"logs": [{"logsFile": str(log), "follow": True}]}},
        {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterAttach", "metadata": {"name": "kf-file-attach"},
         "spec": {"attaches": [{"logsFile": str(log)}]}},
    ]
    stages = (paths.SOURCE / "kwok" / "stages.yaml").read_text()
    path = paths.RUN / "kwok.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False) + "---\n" + stages)
    return path


def _kwok_args() -> list[str]:
    cfg = str(paths.PKI / "kwok.kubeconfig")
    return [f"--kubeconfig={cfg}", f"--config={_kwok_config()}"]


def _node_manifest() -> str:
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": paths.NODE_NAME,
                         "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                         "labels": {"kubernetes.io/hostname": paths.NODE_NAME, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "type": "kwok"}}}
    return json.dumps(node)


# Seed files numbered below this go before the controllers start (namespaces, RBAC); the rest after,
# since objects in them (alice's TrainJob) pass through the controllers' webhooks.
CONTROLLERS_STEP = "25"


def seed() -> None:
    """Apply the CRDs, the numbered files, start the controllers, their runtimes, then the rest (file-name order)."""
    from .controllers import run as controllers

    crds = paths.SEED / "crds"
    if crds.is_dir():
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds))
    manifests = sorted(paths.SEED.glob("*.yaml"))
    for manifest in (m for m in manifests if m.name < CONTROLLERS_STEP):
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    controllers.prepare()  # their CRDs (waits for every CRD to be Established), accounts, RBAC, ConfigMap
    controllers.up()
    controllers.apply_runtimes()
    for manifest in (m for m in manifests if m.name >= CONTROLLERS_STEP):
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))


@contextlib.contextmanager
def _exclusive():
    """Serialise up/down across processes: concurrent test sessions must not restart each other's cluster."""
    paths.CACHE.mkdir(parents=True, exist_ok=True)
    with open(paths.CACHE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(do_seed: bool = True) -> float:
    """Bring the cluster up (at once if it already is); returns the seconds it took."""
    with _exclusive():
        return _up(do_seed)


def _up(do_seed: bool) -> float:
    """Start each component that is not running, in order, then seed (which starts the controllers)."""
    started = time.monotonic()
    if is_up(with_controllers=do_seed):
        kubeconfig.ensure_users()  # a cluster started by an older launcher may lack newer contexts
        if _current():
            return 0.0
        # Only KWOK's stages or the pod stand-in's code changed: restart those, no reseed.
        if not _kwok_current():
            processes.stop("kwok")
            _start_kwok()
            wait_for("the node to be Ready", _node_ready, 60, "kwok")
        podhost.ensure_running()
        return time.monotonic() - started
    if processes.running_pid("kwok") is not None and not _kwok_current():
        # KWOK reads its stages only at start: a changed kwok/stages.yaml needs a new KWOK. Pods keep their
        # status meanwhile; only pods changing state wait for it.
        processes.stop("kwok")
    pki.ensure(paths.PKI)
    for stem in ("controller-manager", "scheduler", "kwok"):
        kubeconfig.write_component(stem)
    kubeconfig.write_users()
    paths.ETCD_DATA.mkdir(parents=True, exist_ok=True)

    def needed(name: str) -> bool:
        return processes.running_pid(name) is None

    if needed("etcd"):
        processes.start("etcd", [f"--data-dir={paths.ETCD_DATA}", f"--listen-client-url={paths.ETCD_CLIENT}",
                                 f"--listen-peer-url={paths.ETCD_PEER}"])
    wait_for("etcd", lambda: _port_open("127.0.0.1", int(paths.ETCD_CLIENT.rsplit(":", 1)[1])), 30, "etcd")
    if needed("kube-apiserver"):
        processes.start("kube-apiserver", _apiserver_args())
    wait_for("the API server to be ready", _ready, 90, "kube-apiserver")
    if needed("kube-controller-manager"):
        processes.start("kube-controller-manager", _controller_manager_args())
    if needed("kube-scheduler"):
        processes.start("kube-scheduler", _scheduler_args())
    if needed("kwok"):
        _start_kwok()
    if needed("pod-workdirs"):
        processes.start("pod-workdirs", [f"--kubeconfig={paths.PKI / 'kwok.kubeconfig'}", f"--root={_pods_dir()}"])
    kubectl("apply", "-f", "-", input_text=_node_manifest())
    wait_for("the node to be Ready", _node_ready, 60, "kwok")
    podhost.ensure_running()  # function pods (created-by=kubeless): KWOK leaves them to it
    if do_seed:
        seed()
    return time.monotonic() - started


def _start_kwok() -> None:
    """KWOK's CRDs, then KWOK with today's configuration, remembering which (a changed one restarts it)."""
    exec_crd = subprocess.run([str(paths.BINARY), "kwok-crd-exec"], capture_output=True, text=True, check=True)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input_text=exec_crd.stdout)
    kubectl("wait", "--for=condition=Established", "--timeout=30s", "crd/execs.kwok.x-k8s.io")
    processes.start("kwok", _kwok_args())
    (paths.RUN / "kwok.digest").write_text(_kwok_digest())


def down(wipe: bool = False) -> list[str]:
    """Stop every process `up` started (by pid); with wipe, remove etcd data, keys and kubeconfig."""
    with _exclusive():
        return _down(wipe)


def _down(wipe: bool) -> list[str]:
    from . import functions  # functions builds on this module

    # The function runtimes and their relay first: left running without pid files, they hold their ports.
    from .controllers import run as controllers

    function_processes = functions.stop_processes()
    if wipe:
        functions.legacy_host().delete()
    # The pod stand-in stops its pods' processes and removes their namespaces; the pod objects stay.
    stopped = [podhost.NAME] if podhost.stop() else []
    stopped += controllers.down() + [name for name in reversed(COMPONENTS) if processes.stop(name)]
    if wipe:
        for path in (paths.ETCD_DATA, paths.PKI, paths.RUN):
            shutil.rmtree(path, ignore_errors=True)
        paths.KUBECONFIG.unlink(missing_ok=True)
    return stopped + function_processes


def status() -> dict[str, object]:
    """Each component's pid (or None) and whether the API server answers."""
    from .controllers import run as controllers

    report: dict[str, object] = {name: processes.running_pid(name) for name in COMPONENTS}
    report[podhost.NAME] = podhost.pid()
    report.update(controllers.status())
    report["apiserver-ready"] = _ready() if report["kube-apiserver"] else False
    report["kubeconfig"] = str(paths.KUBECONFIG)
    return report


def print_error(err: Exception) -> None:
    print(f"devcluster: {err}", file=sys.stderr)
