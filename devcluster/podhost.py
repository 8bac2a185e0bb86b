"""The dev cluster's node stand-in for function pods: a small kubelet for pods labelled created-by=kubeless.

KWOK plays every other pod (devcluster/kwok/stages.yaml leaves these out). For each function pod that
the scheduler has bound to a node, this process, `python -m devcluster.podhost` (started by
`python -m devcluster up`, pid file and log `.cache/devcluster/run/pod-host.*`):

- gives the pod a network namespace of its own joined to the host by a veth pair (fnhost.NetnsHost in
  10.251.N.0/24: the pod IP is 10.251.N.2, so the API server's service proxy reaches it through the
  Service's EndpointSlice as on a real cluster; the tests' own hosts use 10.250.N);
- makes its volumes under `.cache/devcluster/run/podhost/<pod uid>/volumes/`: emptyDir, configMap,
  secret, downwardAPI, projected (the service-account token by TokenRequest, bound to the pod and
  rewritten before it expires, with ca.crt and namespace), hostPath;
- runs the init containers one after the other, then the containers, each in a private mount and UTS
  namespace, chrooted into an overlay over the runtime image's unpacked rootfs
  (`.cache/images/kf-runtime/rootfs`, H2's `make image`) when it is there, else into a root made of the
  host's /usr, /etc and Python plus this source tree (kfshell on PYTHONPATH); each container's imageID
  in the pod's status says which (`rootfs://...` or `source://...`). The pod's env (literal values,
  fieldRef, resourceFieldRef, configMap and secret refs, $(VAR) expansion), its volume mounts, its
  user (runAsUser/runAsGroup/fsGroup, no_new_privs) and KUBERNETES_SERVICE_HOST/PORT = 10.96.0.1:443,
  which this process relays to the API server (10.96.0.1 is in its certificate);
- writes the pod's status: IPs, init container and container statuses, conditions, Ready only when the
  readiness probe answers; a failing container (init or not) is restarted with the kubelet's
  CrashLoopBackOff delays (10 s doubling to 5 min) unless restartPolicy says otherwise; an exec probe is
  not run (it counts as passing);
- appends the containers' output to the pod's log, `.cache/devcluster/run/pods/<ns>/<pod>/output.log`,
  which KWOK serves to `kubectl logs` (pod-workdirs made the Logs object);
- on deletion stops the processes (SIGTERM, SIGKILL after the grace period, at most 10 s), removes the
  namespace and the pod's files, then deletes the pod with grace 0 (KWOK's fallback stage deletes it
  only once the grace period has run out, so they do not fight).

On start it cleans up whatever a previous stand-in left (processes, network namespaces, files) and
runs the pods afresh. It acts as admin (the kubeconfig's kf-admin context). Needs root, iproute2,
util-linux (nsenter, unshare, setpriv) and overlayfs.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import detached, fnhost, paths

SELECTOR = "created-by=kubeless"
NAME = "pod-host"  # RUN/pod-host.pid, .json, .log
PROCESSES = detached.ProcessDir(paths.RUN)
STATE = paths.RUN / "podhost"  # one directory per pod uid
PODS_DIR = paths.RUN / "pods"  # pod-workdirs' per-pod directories, where KWOK reads each pod's log
SUBNET = "10.251"
NETNS_PREFIX = "kp"  # namespaces kp-fnhost-N, interfaces kphN / kpnN
SERVICE_HOST, SERVICE_PORT = "10.96.0.1", 443  # the `kubernetes` Service's IP, in the API server's certificate
IMAGES = paths.ROOT / ".cache" / "images" / "kf-runtime"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_ENTRYPOINT = ["python3", "-m", "kfshell.runtime"]
DEFAULT_UID = 1000  # the image's user `kf`
TICK = 0.5
BACKOFF_FIRST, BACKOFF_MAX = 10.0, 300.0
TOKEN_SECONDS = 3607  # what the API server gives a projected token by default


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} pod-host: {message}", file=sys.stderr, flush=True)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the root a container runs in ---


@dataclass(frozen=True)
class Root:
    kind: str  # "image" (the unpacked runtime image) or "source" (the host's Python and this tree)
    path: Path
    entrypoint: list[str]
    env: dict[str, str]

    @property
    def image_id(self) -> str:
        return f"{'rootfs' if self.kind == 'image' else 'source'}://{self.path}"


def current_root() -> Root:
    """The unpacked image when `make image` has made it, else the source tree (decided per container start)."""
    rootfs = IMAGES / "rootfs"
    if (rootfs / "usr" / "bin" / "python3").exists():
        entrypoint, env = DEFAULT_ENTRYPOINT, {"PATH": DEFAULT_PATH}
        config = _image_config()
        if config:
            entrypoint = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or []) or entrypoint
            env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item) or env
        return Root("image", rootfs.resolve(), entrypoint, env)  # `make image` swaps the link: keep this tree
    python_bin = str(Path(sys.executable).parent)
    return Root("source", paths.ROOT, DEFAULT_ENTRYPOINT,
                {"PATH": f"{python_bin}:{DEFAULT_PATH}", "PYTHONPATH": str(paths.ROOT), "PYTHONDONTWRITEBYTECODE": "1"})


def _image_config() -> dict[str, Any] | None:
    """The OCI image's config (Entrypoint, Env), if the OCI layout is there."""
    layout = IMAGES / "oci"
    try:
        index = json.loads((layout / "index.json").read_text())

        def blob(digest: str) -> dict[str, Any]:
            algorithm, value = digest.split(":", 1)
            return json.loads((layout / "blobs" / algorithm / value).read_text())

        manifest = blob(index["manifests"][0]["digest"])
        if "manifests" in manifest:  # an index inside the index
            manifest = blob(manifest["manifests"][0]["digest"])
        return blob(manifest["config"]["digest"]).get("config") or {}
    except (OSError, ValueError, KeyError, IndexError):
        return None


def resolve_inside(lower: Path, path: str) -> str:
    """`path` with the symlinks of the root `lower` followed inside it (Debian's /var/run -> /run is absolute:
    followed on the host it would make the mount point on the host)."""
    parts = [p for p in path.split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        if part == ".":
            continue
        candidate = lower.joinpath(*done, part)
        if candidate.is_symlink() and hops < 40:
            hops += 1
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(part)
    return "/" + "/".join(done)


# --- small helpers ---


def parse_quantity(text: str) -> float:
    """A Kubernetes quantity (128Mi, 0.5, 500m, 1G) as a number."""
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(text).strip())
    if not match:
        raise ValueError(f"not a quantity: {text!r}")
    number, suffix = float(match.group(1)), match.group(2)
    binary = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
    decimal = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    if suffix in binary:
        return number * binary[suffix]
    if suffix in decimal:
        return number * decimal[suffix]
    raise ValueError(f"not a quantity: {text!r}")


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """$(VAR) from the env so far, $$ for a literal $; an unknown $(VAR) stays as it is (as the kubelet does)."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR.sub(one, text)


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """A downward-API fieldRef's value."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    simple = {
        "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"), "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"), "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"), "status.podIP": status.get("podIP"),
        "status.hostIPs": ",".join(i["ip"] for i in status.get("hostIPs") or []),
        "status.podIPs": ",".join(i["ip"] for i in status.get("podIPs") or []),
    }
    if path in simple:
        return str(simple[path] or "")
    if path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    raise ValueError(f"unsupported fieldRef {path}")


def resource_value(container: Mapping[str, Any], ref: Mapping[str, Any]) -> str:
    """A resourceFieldRef: the container's limit or request in units of `divisor` (the node's size if unset)."""
    kind, _, name = ref["resource"].partition(".")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(name)
    if raw is None:
        raw = {"cpu": "64", "memory": "256Gi", "ephemeral-storage": "100Gi"}.get(name, "0")  # the node's allocatable
    return str(math.ceil(parse_quantity(raw) / parse_quantity(ref.get("divisor") or "1")))


def _write_file(path: Path, data: bytes, mode: int, gid: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    if gid is not None:
        os.chown(tmp, 0, gid)
    tmp.replace(path)  # a bind-mounted directory sees the new file at once


class SetupError(Exception):
    """The pod cannot start yet (a ConfigMap missing, a bad field); the message goes into its status."""

    def __init__(self, message: str, reason: str = "CreateContainerConfigError") -> None:
        super().__init__(message)
        self.reason = reason


# --- one container's run ---


@dataclass
class Run:
    spec: dict[str, Any]
    init: bool
    proc: subprocess.Popen[bytes] | None = None
    root: Root | None = None
    started_at: str | None = None
    restarts: int = 0
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {"reason": "PodInitializing"}})
    last_state: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    done: bool = False  # terminated for good (init: succeeded; restartPolicy says no restart)
    next_start: float = 0.0
    backoff: float = 0.0
    started_mono: float = 0.0
    live_failures: int = 0
    next_probe: float = 0.0
    next_live: float = 0.0
    serial: int = 0

    @property
    def name(self) -> str:
        return self.spec["name"]


def _failed(run: Run) -> bool:
    return run.done and run.state.get("terminated", {}).get("exitCode", 0) != 0


class PodWorker:
    """Plays the kubelet for one pod, in its own thread, until the pod is deleted or the stand-in stops."""

    def __init__(self, host: PodHost, pod: dict[str, Any]) -> None:
        self.host = host
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.namespace: str = pod["metadata"]["namespace"]
        self.name: str = pod["metadata"]["name"]
        self.dir = STATE / self.uid
        self.netns: fnhost.NetnsHost | None = None
        self.index: int | None = None  # the N of its 10.251.N.0/24, once allocated
        self.inits = [Run(c, True) for c in pod["spec"].get("initContainers") or []]
        self.mains = [Run(c, False) for c in pod["spec"].get("containers") or []]
        self.stopping = threading.Event()
        self.gone = False  # the pod object is deleted already
        self.shutdown_only = False  # the stand-in stops: leave the pod object alone
        self.conditions: dict[str, dict[str, Any]] = {}
        self.start_time = now()
        self.published: str | None = None
        self.setup_error: SetupError | None = None
        self.token_refresh_at = 0.0
        self.token_sources: list[tuple[Path, dict[str, Any], int, int | None]] = []
        self.thread = threading.Thread(target=self._main, name=f"pod {self.namespace}/{self.name}", daemon=True)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def update(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self.stopping.set()

    def stop(self, gone: bool = False, shutdown: bool = False) -> None:
        self.gone = self.gone or gone
        self.shutdown_only = shutdown
        self.stopping.set()

    # --- the loop ---

    def _main(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    self._tick()
                except SetupError as err:
                    if self.setup_error is None or str(self.setup_error) != str(err):
                        log(f"{self.key}: {err}")
                    self.setup_error = err
                    self._publish()
                    self.stopping.wait(2.0)
                    continue
                except Exception as err:  # keep playing the pod; say what went wrong
                    log(f"{self.key}: {type(err).__name__}: {err}")
                    self.stopping.wait(2.0)
                    continue
                self.stopping.wait(TICK)
        finally:
            self._teardown()

    def _tick(self) -> None:
        if self.netns is None:
            self._setup()
        self.setup_error = None
        if time.time() >= self.token_refresh_at and self.token_sources:
            self._write_tokens()
        clock = time.monotonic()
        pending_init = next((r for r in self.inits if not r.done), None)
        if pending_init is not None:
            self._advance(pending_init, clock)
        elif not any(_failed(r) for r in self.inits):  # an init container failed for good: the pod failed
            for run in self.mains:
                self._advance(run, clock)
                self._probe(run, clock)
        self._publish()

    def _advance(self, run: Run, clock: float) -> None:
        """Start, notice the exit of, or restart one container."""
        if run.proc is not None:
            code = run.proc.poll()
            if code is None:
                if run.backoff and clock - run.started_mono > 600:
                    run.backoff = 0.0  # ran for 10 minutes: the next failure starts the delays over
                return
            self._exited(run, code)
        if run.done or clock < run.next_start:
            return
        self._start(run)

    def _exited(self, run: Run, code: int) -> None:
        if code < 0:
            code = 128 - code  # killed by signal N: 128+N, as a container runtime reports it
        message = self._termination_message(run, code)
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                      "startedAt": run.started_at, "finishedAt": now(), "containerID": self._container_id(run)}
        if message:
            terminated["message"] = message
        run.proc = None
        run.ready = False
        policy = self.pod["spec"].get("restartPolicy") or "Always"
        if run.init:
            retry = code != 0 and policy != "Never"
            run.done = code == 0 or policy == "Never"
        else:
            retry = policy == "Always" or (policy == "OnFailure" and code != 0)
            run.done = not retry
        log(f"{self.key}: container {run.name} exited {code}" + (f": {message}" if message else ""))
        if retry:
            run.backoff = min(BACKOFF_MAX, run.backoff * 2) if run.backoff else BACKOFF_FIRST
            run.next_start = time.monotonic() + run.backoff
            run.last_state = {"terminated": terminated}
            run.state = {"waiting": {"reason": "CrashLoopBackOff", "message": (
                f"back-off {run.backoff:g}s restarting failed container={run.name} pod={self.name}")}}
        else:
            run.state = {"terminated": terminated}

    def _termination_message(self, run: Run, code: int) -> str:
        path = self.dir / "containers" / run.name / "termination-log"
        try:
            text = path.read_text(errors="replace").strip()[-4096:]
        except OSError:
            text = ""
        if not text and code != 0 and run.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            text = "\n".join(self._log_tail(run, 80))[-2048:]
        return text

    def _log_tail(self, run: Run, lines: int) -> list[str]:
        try:
            return [line.split(" ", 3)[3] for line in self._log_path().read_text(errors="replace").splitlines()[-lines:]
                    if line.count(" ") >= 3]
        except OSError:
            return []

    # --- probes ---

    def _probe(self, run: Run, clock: float) -> None:
        if run.proc is None:
            return
        readiness, liveness = run.spec.get("readinessProbe"), run.spec.get("livenessProbe")
        since = clock - run.started_mono
        if readiness is None:
            run.ready = True
        elif clock >= run.next_probe and since >= float(readiness.get("initialDelaySeconds") or 0):
            # Probed every TICK until Ready, then at the probe's period: callers wait less than on a kubelet.
            run.ready = self._check(run, readiness)
            run.next_probe = clock + (float(readiness.get("periodSeconds") or 10) if run.ready else TICK)
        if liveness is not None and clock >= run.next_live and since >= float(liveness.get("initialDelaySeconds") or 0):
            run.next_live = clock + float(liveness.get("periodSeconds") or 10)
            if self._check(run, liveness):
                run.live_failures = 0
            else:
                run.live_failures += 1
                if run.live_failures >= int(liveness.get("failureThreshold") or 3):
                    log(f"{self.key}: container {run.name} failed its liveness probe; restarting it")
                    run.live_failures = 0
                    self._kill(run, float(liveness.get("terminationGracePeriodSeconds") or 5))

    def _check(self, run: Run, probe: Mapping[str, Any]) -> bool:
        timeout = float(probe.get("timeoutSeconds") or 1)
        address = self.netns.address if self.netns else "127.0.0.1"
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = self._port(run, get.get("port"))
            scheme = (get.get("scheme") or "HTTP").lower()
            url = f"{scheme}://{get.get('host') or address}:{port}{get.get('path') or '/'}"
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            request = urllib.request.Request(url, headers={h["name"]: h["value"] for h in get.get("httpHeaders") or []})
            try:
                with opener.open(request, timeout=timeout) as resp:
                    return 200 <= resp.status < 400
            except (urllib.error.URLError, OSError, ValueError):
                return False
        if "tcpSocket" in probe:
            import socket

            with socket.socket() as sock:
                sock.settimeout(timeout)
                return sock.connect_ex((probe["tcpSocket"].get("host") or address,
                                        self._port(run, probe["tcpSocket"].get("port")))) == 0
        return True  # exec and grpc probes are not run here

    @staticmethod
    def _port(run: Run, port: Any) -> int:
        if isinstance(port, str) and not port.isdigit():
            for item in run.spec.get("ports") or []:
                if item.get("name") == port:
                    return int(item["containerPort"])
            raise SetupError(f"container {run.name}: no port named {port}")
        return int(port)

    # --- setting the pod up ---

    def _setup(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._make_volumes()
        with contextlib.suppress(OSError):  # pod-workdirs seeds each pod's log with a line about KWOK: not ours
            self._log_path().parent.mkdir(parents=True, exist_ok=True)
            if not self._log_path().exists() or "is played by KWOK" in self._log_path().read_text()[:300]:
                self._log_path().write_text("")
        netns = fnhost.NetnsHost(self.host.allocate(self), subnet=SUBNET, prefix=NETNS_PREFIX)
        netns.create()
        self._record({"netns": netns.name, "index": netns.index})
        try:
            fnhost._ip("-n", netns.name, "route", "add", "default", "via", netns.gateway)
        except fnhost.HostError:
            netns.delete()
            raise
        self.netns = netns
        (self.dir / "hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                                       f"{netns.address}\t{self.name}\n")
        log(f"{self.key}: pod IP {netns.address} (network namespace {netns.name})")

    def _record(self, values: Mapping[str, Any]) -> None:
        """What a later stand-in needs to clean up after this one: the namespace and the process groups."""
        path = self.dir / "state.json"
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            state = {}
        state.update(values)
        path.write_text(json.dumps(state))

    def _view(self) -> dict[str, Any]:
        """The pod with the IPs this stand-in gives it, before its status says so (for the downward API)."""
        status = dict(self.pod.get("status") or {})
        host_ip = self.host.host_ip(self.pod["spec"].get("nodeName", ""))
        status.update(hostIP=host_ip, hostIPs=[{"ip": host_ip}])
        if self.netns is not None:
            status.update(podIP=self.netns.address, podIPs=[{"ip": self.netns.address}])
        return {**self.pod, "status": status}

    def _security(self, container: Mapping[str, Any]) -> tuple[int, int, list[int]]:
        pod_sc = self.pod["spec"].get("securityContext") or {}
        sc = container.get("securityContext") or {}
        uid = sc.get("runAsUser", pod_sc.get("runAsUser", DEFAULT_UID))
        gid = sc.get("runAsGroup", pod_sc.get("runAsGroup", uid))
        if (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) and uid == 0):
            raise SetupError(f"container {container['name']} has runAsNonRoot and would run as root (uid 0)")
        groups = [g for g in [pod_sc.get("fsGroup"), *(pod_sc.get("supplementalGroups") or [])] if g is not None]
        return int(uid), int(gid), [int(g) for g in groups]

    def _fs_group(self) -> int | None:
        group = (self.pod["spec"].get("securityContext") or {}).get("fsGroup")
        return int(group) if group is not None else None

    def _make_volumes(self) -> None:
        gid = self._fs_group()
        self.token_sources = []
        for volume in self.pod["spec"].get("volumes") or []:
            target = self.dir / "volumes" / volume["name"]
            if "hostPath" in volume:
                continue
            target.mkdir(parents=True, exist_ok=True)
            if "emptyDir" in volume:
                os.chmod(target, 0o777)  # as the kubelet makes an emptyDir: any user may write
                continue
            default = int(self._source(volume).get("defaultMode") or 0o644)
            if "configMap" in volume:
                source = volume["configMap"]
                self._items(target, self._object_data("configmaps", source), source, default, gid)
            elif "secret" in volume:
                source = {**volume["secret"], "name": volume["secret"].get("secretName")}
                self._items(target, self._object_data("secrets", source), source, default, gid)
            elif "downwardAPI" in volume:
                self._downward(target, volume["downwardAPI"].get("items") or [], default, gid)
            elif "projected" in volume:
                for source in volume["projected"].get("sources") or []:
                    if "serviceAccountToken" in source:
                        token = source["serviceAccountToken"]
                        mode = default
                        self.token_sources.append((target / token["path"], token, mode, gid))
                    elif "configMap" in source:
                        self._items(target, self._object_data("configmaps", source["configMap"]), source["configMap"],
                                    default, gid)
                    elif "secret" in source:
                        self._items(target, self._object_data("secrets", source["secret"]), source["secret"],
                                    default, gid)
                    elif "downwardAPI" in source:
                        self._downward(target, source["downwardAPI"].get("items") or [], default, gid)
            else:
                raise SetupError(f"volume {volume['name']}: this stand-in supports emptyDir, configMap, secret, "
                                 f"downwardAPI, projected and hostPath volumes", reason="UnsupportedVolume")
        if self.token_sources:
            self._write_tokens()

    @staticmethod
    def _source(volume: Mapping[str, Any]) -> Mapping[str, Any]:
        for kind in ("configMap", "secret", "downwardAPI", "projected"):
            if kind in volume:
                return volume[kind]
        return {}

    def _object_data(self, kind: str, source: Mapping[str, Any]) -> dict[str, bytes] | None:
        from kfshell.rest import ApiError

        try:
            obj = self.host.api.request_json("GET", f"/api/v1/namespaces/{self.namespace}/{kind}/{source['name']}")
        except ApiError as err:
            if err.status == 404 and source.get("optional"):
                return None
            raise SetupError(f"{kind[:-1]} {source['name']!r} not found" if err.status == 404 else
                             f"reading {kind[:-1]} {source['name']!r}: {err}") from None
        if kind == "secrets":
            return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return data

    @staticmethod
    def _items(target: Path, data: dict[str, bytes] | None, source: Mapping[str, Any], default: int,
               gid: int | None) -> None:
        if data is None:
            return
        items = source.get("items")
        if items is None:
            items = [{"key": key, "path": key} for key in data]
        for item in items:
            if item["key"] not in data:
                if source.get("optional"):
                    continue
                raise SetupError(f"key {item['key']!r} not found in {source.get('name')!r}")
            _write_file(target / item["path"], data[item["key"]], int(item.get("mode") or default), gid)

    def _downward(self, target: Path, items: list[dict[str, Any]], default: int, gid: int | None) -> None:
        for item in items:
            if "fieldRef" in item:
                value = field_value(self._view(), item["fieldRef"]["fieldPath"])
            else:
                container = next((c for c in self.pod["spec"]["containers"]
                                  if c["name"] == item["resourceFieldRef"].get("containerName")),
                                 self.pod["spec"]["containers"][0])
                value = resource_value(container, item["resourceFieldRef"])
            _write_file(target / item["path"], value.encode(), int(item.get("mode") or default), gid)

    def _write_tokens(self) -> None:
        """TokenRequests for the pod's service account, bound to the pod; again at 80% of their life."""
        account = self.pod["spec"].get("serviceAccountName") or "default"
        lifetime = TOKEN_SECONDS
        for path, source, mode, gid in self.token_sources:
            seconds = int(source.get("expirationSeconds") or TOKEN_SECONDS)
            spec: dict[str, Any] = {"expirationSeconds": seconds,
                                    "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.name,
                                                       "uid": self.uid}}
            if source.get("audience"):
                spec["audiences"] = [source["audience"]]
            from kfshell.rest import ApiError

            try:
                answer = self.host.api.request_json(
                    "POST", f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token",
                    body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
            except ApiError as err:
                raise SetupError(f"no token for service account {account!r}: {err}") from None
            _write_file(path, answer["status"]["token"].encode(), mode, gid)
            lifetime = min(lifetime, seconds)
        self.token_refresh_at = time.time() + 0.8 * lifetime

    # --- starting a container ---

    def _env(self, container: Mapping[str, Any], root: Root) -> dict[str, str]:
        env: dict[str, str] = {
            **root.env,
            "HOSTNAME": self.name,
            "KUBERNETES_SERVICE_HOST": SERVICE_HOST, "KUBERNETES_SERVICE_PORT": str(SERVICE_PORT),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(SERVICE_PORT),
            "KUBERNETES_PORT": f"tcp://{SERVICE_HOST}:{SERVICE_PORT}",
            "KUBERNETES_PORT_443_TCP": f"tcp://{SERVICE_HOST}:{SERVICE_PORT}",
            "KUBERNETES_PORT_443_TCP_PROTO": "tcp", "KUBERNETES_PORT_443_TCP_PORT": str(SERVICE_PORT),
            "KUBERNETES_PORT_443_TCP_ADDR": SERVICE_HOST,
        }
        for source in container.get("envFrom") or []:
            ref = source.get("configMapRef") or source.get("secretRef") or {}
            kind = "configmaps" if "configMapRef" in source else "secrets"
            data = self._object_data(kind, ref) or {}
            env.update({source.get("prefix", "") + k: v.decode(errors="replace") for k, v in data.items()})
        for item in container.get("env") or []:
            if "valueFrom" not in item:
                env[item["name"]] = expand(str(item.get("value", "")), env)
                continue
            source = item["valueFrom"]
            if "fieldRef" in source:
                env[item["name"]] = field_value(self._view(), source["fieldRef"]["fieldPath"])
            elif "resourceFieldRef" in source:
                named = source["resourceFieldRef"].get("containerName")
                target = next((c for c in self.pod["spec"]["containers"] if c["name"] == named), container)
                env[item["name"]] = resource_value(target, source["resourceFieldRef"])
            else:
                ref = source.get("configMapKeyRef") or source.get("secretKeyRef") or {}
                data = self._object_data("configmaps" if "configMapKeyRef" in source else "secrets", ref) or {}
                if ref.get("key") in data:
                    env[item["name"]] = data[ref["key"]].decode(errors="replace")
                elif not ref.get("optional"):
                    raise SetupError(f"env {item['name']}: key {ref.get('key')!r} not found in {ref.get('name')!r}")
        return env

    def _mounts(self, container: Mapping[str, Any], run_dir: Path) -> list[tuple[Path, str, bool]]:
        """(host source, path in the container, read-only) for each volume mount, the termination log and hosts."""
        volumes = {v["name"]: v for v in self.pod["spec"].get("volumes") or []}
        mounts: list[tuple[Path, str, bool]] = []
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount["name"])
            if volume is None:
                raise SetupError(f"container {container['name']}: volume {mount['name']!r} not found")
            source = Path(volume["hostPath"]["path"]) if "hostPath" in volume else self.dir / "volumes" / mount["name"]
            if mount.get("subPath"):
                source = source / mount["subPath"]
                if not source.exists():
                    source.mkdir(parents=True)
                    os.chmod(source, 0o777)
            read_only = bool(mount.get("readOnly")) or any(k in volume for k in ("configMap", "secret", "projected",
                                                                               "downwardAPI"))
            mounts.append((source, mount["mountPath"], read_only))
        mounts.append((run_dir / "termination-log", container.get("terminationMessagePath") or "/dev/termination-log",
                       False))
        mounts.append((self.dir / "hosts", "/etc/hosts", True))
        return mounts

    def _start(self, run: Run) -> None:
        container = run.spec
        root = current_root()
        uid, gid, groups = self._security(container)
        env = self._env(container, root)
        run.serial += 1
        run_dir = self.dir / "containers" / container["name"]
        if run_dir.exists():
            shutil.rmtree(run_dir)  # a restarted container starts from a fresh root, as from its image
        for sub in ("upper", "work", "root"):
            (run_dir / sub).mkdir(parents=True)
        (run_dir / "termination-log").write_bytes(b"")
        os.chown(run_dir / "termination-log", uid, gid)
        mounts = self._mounts(container, run_dir)
        argv = [expand(a, env) for a in (container.get("command") or root.entrypoint)]
        argv += [expand(a, env) for a in container.get("args") or []]
        workdir = container.get("workingDir") or "/"
        script = container_script(root, run_dir, mounts, argv, env, workdir, uid, gid, groups, self.name,
                                  no_new_privs=(container.get("securityContext") or {}).get(
                                      "allowPrivilegeEscalation") is False or uid != 0)
        assert self.netns is not None
        if not run.init and run.serial > 1:
            with contextlib.suppress(OSError):
                self._log_path().replace(self._log_path().with_name("previous.log"))
        proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.netns.name}", "unshare", "--mount", "--uts", "--propagation",
             "private", "sh", "-ec", script],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            env={"PATH": DEFAULT_PATH}, cwd="/")
        if run.serial > 1:
            run.restarts += 1
        run.proc, run.root = proc, root
        run.started_at, run.started_mono = now(), time.monotonic()
        run.state = {"running": {"startedAt": run.started_at}}
        run.ready = False
        run.next_probe = run.next_live = 0.0
        run.live_failures = 0
        self._record({"pgids": [r.proc.pid for r in self.inits + self.mains if r.proc is not None]})
        for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
            threading.Thread(target=self._pump, args=(stream, name), daemon=True).start()
        origin = "the image rootfs" if root.kind == "image" else "the source tree"
        log(f"{self.key}: started container {run.name} (pid {proc.pid}, from {origin} {root.path}): {' '.join(argv)}")

    def _log_path(self) -> Path:
        return PODS_DIR / self.namespace / self.name / "output.log"

    def _pump(self, stream: Any, name: str) -> None:
        """The container's output into the pod's log, in the CRI format KWOK serves."""
        path = self._log_path()
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a") as out:
                    out.write(f"{stamp} {name} F {line}\n")
        stream.close()

    def _container_id(self, run: Run) -> str:
        return f"podhost://{self.uid}/{run.name}/{run.serial}"

    # --- status ---

    def _condition(self, kind: str, ok: bool, reason: str | None = None, message: str | None = None) -> dict[str, Any]:
        status = "True" if ok else "False"
        old = self.conditions.get(kind)
        condition = {"type": kind, "status": status,
                     "lastTransitionTime": old["lastTransitionTime"] if old and old["status"] == status else now()}
        if reason and not ok:
            condition["reason"] = reason
        if message and not ok:
            condition["message"] = message
        self.conditions[kind] = condition
        return condition

    def _status_of(self, run: Run) -> dict[str, Any]:
        state = run.state
        if self.setup_error is not None and run.proc is None and "waiting" in state:
            state = {"waiting": {"reason": self.setup_error.reason, "message": str(self.setup_error)}}
        status: dict[str, Any] = {
            "name": run.name, "image": run.spec.get("image", ""),
            "imageID": (run.root or current_root()).image_id,
            "ready": run.ready, "restartCount": run.restarts, "state": state, "lastState": run.last_state,
            "started": run.proc is not None,
        }
        if run.serial:
            status["containerID"] = self._container_id(run)
        return status

    def _publish(self) -> None:
        inits_done = all(r.done and "terminated" in r.state and r.state["terminated"]["exitCode"] == 0
                         for r in self.inits)
        ready = inits_done and bool(self.mains) and all(r.ready and r.proc is not None for r in self.mains)
        failed_init = next((r for r in self.inits if r.last_state or "terminated" in r.state and
                            r.state["terminated"]["exitCode"] != 0), None)
        phase = "Pending"
        if inits_done and any(r.proc is not None or r.restarts or r.last_state for r in self.mains):
            phase = "Running"
        if all(r.done for r in self.mains) and self.mains and all("terminated" in r.state for r in self.mains):
            phase = "Succeeded" if all(r.state["terminated"]["exitCode"] == 0 for r in self.mains) else "Failed"
        if any(_failed(r) for r in self.inits):
            phase = "Failed"
        not_ready = [r.name for r in self.mains if not r.ready]
        init_reason = None if inits_done else "ContainersNotInitialized"
        init_message = None
        if failed_init is not None and not inits_done:
            init_message = f"containers with incomplete status: [{failed_init.name}]"
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": [
                self._condition("PodScheduled", True),
                self._condition("Initialized", inits_done, init_reason, init_message),
                self._condition("ContainersReady", ready, "ContainersNotReady",
                                f"containers with unready status: [{' '.join(not_ready)}]"),
                self._condition("Ready", ready, "ContainersNotReady",
                                f"containers with unready status: [{' '.join(not_ready)}]"),
            ],
            "hostIP": self.host.host_ip(self.pod["spec"].get("nodeName", "")),
            "startTime": self.start_time,
            "containerStatuses": [self._status_of(r) for r in self.mains],
        }
        status["hostIPs"] = [{"ip": status["hostIP"]}]
        if self.inits:
            status["initContainerStatuses"] = [self._status_of(r) for r in self.inits]
        if self.netns is not None:
            status["podIP"] = self.netns.address
            status["podIPs"] = [{"ip": self.netns.address}]
        text = json.dumps(status, sort_keys=True)
        if text == self.published or self.stopping.is_set():
            return
        from kfshell.rest import ApiError

        try:
            self.host.api.request_json("PATCH", f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status",
                                       body={"status": status},
                                       headers={"Content-Type": "application/merge-patch+json"})
            self.published = text
        except ApiError as err:
            if err.status == 404:
                self.stop(gone=True)
            else:
                log(f"{self.key}: status update failed: {err}")

    # --- stopping ---

    def _kill(self, run: Run, grace: float) -> None:
        proc = run.proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        # workers the runtime started may linger a moment in the group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def _teardown(self) -> None:
        grace = float(self.pod["metadata"].get("deletionGracePeriodSeconds")
                      or self.pod["spec"].get("terminationGracePeriodSeconds") or 30)
        for run in self.mains + self.inits:
            self._kill(run, min(grace, 10.0))
        if self.netns is not None:
            self.netns.delete()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.shutdown_only:
            log(f"{self.key}: stopped (the stand-in is stopping)")
            return
        if not self.gone:
            from kfshell.rest import ApiError

            try:
                self.host.api.request_json(
                    "DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{self.name}",
                    body={"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                          "preconditions": {"uid": self.uid}})
            except ApiError as err:
                if err.status not in (404, 409):
                    log(f"{self.key}: deleting the pod failed: {err}")
        log(f"{self.key}: stopped and removed")
        self.host.forget(self)


def container_script(root: Root, run_dir: Path, mounts: list[tuple[Path, str, bool]], argv: list[str],
                     env: Mapping[str, str], workdir: str, uid: int, gid: int, groups: list[int], hostname: str,
                     *, no_new_privs: bool) -> str:
    """The shell script that, in a fresh mount and UTS namespace, builds the container's root and execs it."""
    q = shlex.quote
    r = run_dir / "root"
    lines = ["set -e", f"hostname {q(hostname[:63])}"]
    if root.kind == "image":
        lower = root.path
        lines.append(f"mount -t overlay overlay -o lowerdir={q(str(root.path))},upperdir={q(str(run_dir / 'upper'))},"
                     f"workdir={q(str(run_dir / 'work'))} {q(str(r))}")
    else:
        lower = Path("/")
        lines.append(f"mount -t tmpfs -o mode=755 tmpfs {q(str(r))}")
        for name in ("usr", "etc", "opt"):
            host = Path("/") / name
            if host.is_dir() and not host.is_symlink():
                lines.append(f"mkdir -p {q(str(r / name))} && mount --rbind -o ro /{name} {q(str(r / name))}")
        for name in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
            host = Path("/") / name
            if host.is_symlink():
                lines.append(f"ln -s {q(os.readlink(host))} {q(str(r / name))}")
        extras = {os.path.realpath(sys.prefix), str(paths.ROOT)}
        for extra in sorted(extras):
            if not any(extra.startswith(f"/{n}/") for n in ("usr", "etc", "opt")):
                lines.append(f"mkdir -p {q(str(r) + extra)} && mount --rbind -o ro {q(extra)} {q(str(r) + extra)}")
        lines.append(f"mkdir -p {q(str(r / 'tmp'))} {q(str(r / 'var/tmp'))} && chmod 1777 {q(str(r / 'tmp'))} "
                     f"{q(str(r / 'var/tmp'))}")
    lines += [
        f"mkdir -p {q(str(r / 'proc'))} && mount -t proc proc {q(str(r / 'proc'))}",
        f"mkdir -p {q(str(r / 'dev'))} && mount -t tmpfs -o mode=755,nosuid tmpfs {q(str(r / 'dev'))}",
    ]
    for device in ("null", "zero", "full", "random", "urandom", "tty"):
        lines.append(f"touch {q(str(r / 'dev' / device))} && mount --bind /dev/{device} {q(str(r / 'dev' / device))}")
    lines += [
        f"mkdir -p {q(str(r / 'dev/shm'))} && mount -t tmpfs -o mode=1777 tmpfs {q(str(r / 'dev/shm'))}",
        f"ln -s /proc/self/fd {q(str(r / 'dev/fd'))}",
        *(f"ln -s /proc/self/fd/{n} {q(str(r / 'dev' / s))}" for n, s in enumerate(("stdin", "stdout", "stderr"))),
    ]
    bound = ("/usr/", "/etc/", "/opt/")  # the source root's only directories from the host; the rest is tmpfs
    for source, target, read_only in mounts:
        if root.kind == "image" or target.startswith(bound):
            target = resolve_inside(lower, target)
        inside = str(r) + target
        if source.is_dir():
            lines.append(f"mkdir -p {q(inside)}")
        else:
            lines.append(f"[ -e {q(inside)} ] || {{ mkdir -p {q(os.path.dirname(inside))} && touch {q(inside)}; }}")
        lines.append(f"mount --bind {q(str(source))} {q(inside)}")
        if read_only:
            lines.append(f"mount -o remount,bind,ro {q(inside)}")
    user = [f"--userspec={uid}:{gid}"] + ([f"--groups={','.join(str(g) for g in groups)}"] if groups else [])
    command = (["setpriv", "--no-new-privs"] if no_new_privs else []) + [
        "chroot", *user, str(r), "env", "-i", "-C", workdir, *(f"{k}={v}" for k, v in env.items()), *argv]
    lines.append("exec " + " ".join(q(part) for part in command))
    return "\n".join(lines)


# --- the process: watch pods, one worker each ---


class PodHost:
    """Watches function pods and keeps one PodWorker per pod uid."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.workers: dict[str, PodWorker] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._node_ips: dict[str, str] = {}

    def host_ip(self, node: str) -> str:
        if node not in self._node_ips:
            try:
                obj = self.api.request_json("GET", f"/api/v1/nodes/{node}")
                addresses = (obj.get("status") or {}).get("addresses") or []
                self._node_ips[node] = next((a["address"] for a in addresses if a["type"] == "InternalIP"), "127.0.0.1")
            except Exception:
                return "127.0.0.1"
        return self._node_ips[node]

    def allocate(self, worker: PodWorker) -> int:
        """The N of the pod's 10.251.N.0/24: the one its status already names (a restarted stand-in keeps each
        pod's IP), else the lowest that no pod we know of names or holds."""
        with self.lock:
            def named(pod: Mapping[str, Any]) -> int | None:
                ip = (pod.get("status") or {}).get("podIP") or ""
                return int(ip.split(".")[2]) if ip.startswith(f"{SUBNET}.") else None

            others = [w for w in self.workers.values() if w is not worker]
            taken = {w.index for w in others if w.index is not None}
            taken |= {n for w in others if (n := named(w.pod)) is not None}
            own = named(worker.pod)
            if own is None or own in taken:
                own = next((n for n in range(1, 255) if n not in taken), None)
            if own is None:
                raise SetupError(f"no free {SUBNET}.N.0/24 for another pod (254 at most)", reason="NoPodIP")
            worker.index = own
            return own

    def forget(self, worker: PodWorker) -> None:
        with self.lock:
            if self.workers.get(worker.uid) is worker:
                del self.workers[worker.uid]

    def handle(self, kind: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            worker = self.workers.get(uid)
            if kind == "DELETED":
                if worker is not None:
                    worker.stop(gone=True)
                return
            if worker is not None:
                worker.update(pod)
                return
            if not pod["spec"].get("nodeName"):
                return  # not scheduled yet
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
            if pod["metadata"].get("deletionTimestamp"):
                worker.stopping.set()  # never started: only the cleanup and the final delete
            worker.thread.start()

    def sync(self, pods: list[dict[str, Any]]) -> None:
        """After a (re)list: pods no longer there are gone."""
        present = {p["metadata"]["uid"] for p in pods}
        with self.lock:
            stale = [w for uid, w in self.workers.items() if uid not in present]
        for worker in stale:
            worker.stop(gone=True)
        for pod in pods:
            self.handle("ADDED", pod)

    def run(self) -> None:
        from kfshell.rest import ApiError

        resource_version = None
        while not self.stopping.is_set():
            try:
                if resource_version is None:
                    listing = self.api.request_json("GET", "/api/v1/pods", query={"labelSelector": SELECTOR})
                    self.sync(listing.get("items") or [])
                    resource_version = listing["metadata"]["resourceVersion"]
                for kind, obj in self._watch(resource_version):
                    if kind == "ERROR":
                        resource_version = None  # 410 Gone or another error: list again
                        break
                    resource_version = obj["metadata"].get("resourceVersion", resource_version)
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        self.handle(kind, obj)
            except (ApiError, OSError, ValueError) as err:
                if self.stopping.is_set():
                    break
                log(f"watching pods: {err}; again in 2s")
                resource_version = None
                self.stopping.wait(2.0)
            except Exception as err:  # the transport's own errors (kfshell.errors) among them
                if self.stopping.is_set():
                    break
                log(f"watching pods: {type(err).__name__}: {err}; again in 2s")
                resource_version = None
                self.stopping.wait(2.0)

    def _watch(self, resource_version: str) -> Iterator[tuple[str, dict[str, Any]]]:
        response = self.api.stream("GET", "/api/v1/pods", query={
            "labelSelector": SELECTOR, "watch": "1", "resourceVersion": resource_version,
            "allowWatchBookmarks": "true", "timeoutSeconds": "300"}, timeout=330)
        self._response = response
        buffer = b""
        for chunk in response.stream():
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    event = json.loads(line)
                    yield event["type"], event["object"]

    def shutdown(self) -> None:
        self.stopping.set()
        with contextlib.suppress(Exception):
            self._response.shutdown()
        with self.lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.stop(shutdown=True)
        for worker in workers:
            worker.thread.join(15)


def clean_up_leftovers() -> None:
    """Kill what an earlier stand-in's pods left running, and remove their namespaces and files."""
    for state_file in STATE.glob("*/state.json"):
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            state = {}
        for pgid in state.get("pgids") or []:
            if _ours(pgid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    for name in netns:
        match = re.fullmatch(rf"{NETNS_PREFIX}-fnhost-(\d+)", name)
        if match:
            fnhost.NetnsHost(int(match.group(1)), subnet=SUBNET, prefix=NETNS_PREFIX).delete()
    shutil.rmtree(STATE, ignore_errors=True)


def _ours(pid: int) -> bool:
    """A process of one of our containers: chrooted under STATE, or still the nsenter/sh that builds one."""
    try:
        root = os.readlink(f"/proc/{pid}/root")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return root.startswith(str(STATE)) or str(STATE).encode() in cmdline


def ensure_service_address() -> None:
    """10.96.0.1 on the host's loopback interface (this kernel has no dummy interfaces): a pod's packets to it,
    routed out of its namespace, are delivered here, to the relay."""
    present = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
    if f" {SERVICE_HOST}/32 " not in present:
        fnhost._ip("addr", "add", f"{SERVICE_HOST}/32", "dev", "lo")


# --- started and stopped by the dev cluster ---


def _argv() -> list[str]:
    return [sys.executable, "-m", "devcluster.podhost", "--kubeconfig", str(paths.KUBECONFIG), "--context", "kf-admin"]


def fingerprint() -> str:
    """The stand-in's code: `up` restarts it when this changes."""
    import hashlib

    digest = hashlib.sha256()
    for name in ("podhost.py", "fnhost.py", "relay.py"):
        digest.update((paths.SOURCE / name).read_bytes())
    return digest.hexdigest()


def pid() -> int | None:
    return PROCESSES.pid(NAME)


def ensure_running() -> bool:
    """Start the stand-in unless it runs with this code; True when it (re)started."""
    argv = _argv()
    if PROCESSES.running_with(NAME, fingerprint()):
        return False
    PROCESSES.stop(NAME, grace=30)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(paths.ROOT), os.environ.get("PYTHONPATH")]))}
    PROCESSES.start(NAME, argv, env, identity=argv[1:], fingerprint=fingerprint(), cwd=paths.ROOT)
    return True


def stop() -> bool:
    return PROCESSES.stop(NAME, grace=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster.podhost", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", default=str(paths.KUBECONFIG))
    parser.add_argument("--context", default="kf-admin")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("pod-host: needs root (network namespaces, mounts, chroot)", file=sys.stderr)
        return 1
    from kfshell.clients import api_client
    from kfshell.kubeconfig import load_kubeconfig

    from .relay import TcpRelay

    api = api_client(load_kubeconfig(args.kubeconfig), args.context, read_timeout=30)
    clean_up_leftovers()
    ensure_service_address()
    server = api.server.split("//", 1)[1]
    host, _, port = server.rpartition(":")
    relay = TcpRelay((SERVICE_HOST, SERVICE_PORT), (host, int(port)))
    log(f"relay {SERVICE_HOST}:{SERVICE_PORT} -> {host}:{port}; watching pods with {SELECTOR}; "
        f"containers run from {current_root().image_id}")
    podhost = PodHost(api)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=podhost.shutdown, daemon=True).start())
    signal.signal(signal.SIGINT, lambda *_: threading.Thread(target=podhost.shutdown, daemon=True).start())
    watcher = threading.Thread(target=podhost.run, daemon=True)
    watcher.start()
    while not podhost.stopping.wait(1.0):
        pass
    # shutdown() runs in its own thread: wait for it to stop the pods
    deadline = time.monotonic() + 20
    while any(w.thread.is_alive() for w in list(podhost.workers.values())) and time.monotonic() < deadline:
        time.sleep(0.1)
    relay.close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
