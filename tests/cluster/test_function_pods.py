"""Function pods on the dev cluster: the pod stand-in (devcluster/podhost.py) runs what the controller makes.

KWOK leaves pods labelled created-by=kubeless alone; the stand-in gives each a network namespace and a pod IP,
runs its init containers then its container, writes its status, and reaches the API server in-cluster style.
The first tests give it pods of the contract's shape made here (no controller needed); the rest go through the
function controller from `kf command add --scope namespace` to `command remove`, as a user would.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster import podhost
from tests.conftest import wait_for

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]

PROBE_SOURCE = '''import json, os, socket


def handler(event, context):
    from kfshell.clients import in_cluster_client

    api = in_cluster_client()
    version = api.request_json("GET", "/version")
    account = "/var/run/secrets/kubernetes.io/serviceaccount"
    return json.dumps({
        "uid": os.getuid(), "gid": os.getgid(), "pod_ip": os.environ.get("POD_IP"),
        "pod_name": os.environ.get("POD_NAME"), "hostname": socket.gethostname(),
        "service_host": os.environ.get("KUBERNETES_SERVICE_HOST"),
        "account_files": sorted(f for f in os.listdir(account) if not f.startswith(".")),
        "namespace_file": open(os.path.join(account, "namespace")).read(),
        "api_version": version.get("gitVersion"), "greeting": open("/kubeless/greeting").read(),
    })
'''


def proxy(_admin, namespace: str, service: str, path: str, method: str = "GET",
          body: str | None = None) -> tuple[int, str]:
    """A call through the API server's service proxy as admin, as kf makes it (status, body)."""
    import urllib.error
    import urllib.request

    from devcluster import cluster, paths

    url = f"{paths.SERVER}/api/v1/namespaces/{namespace}/services/{service}:http-function-port/proxy{path}"
    request = urllib.request.Request(url, data=body.encode() if body is not None else None, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=cluster._admin_ssl(), timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def function_pod(name: str, init_command: str) -> dict:
    """A pod as the function controller makes one: init container `prepare`, the runtime container, volumes."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"function": name, "created-by": "kubeless"}},
        "spec": {
            "securityContext": {"fsGroup": 1000},
            "volumes": [{"name": "install", "emptyDir": {}},
                        {"name": "source", "configMap": {"name": name}}],
            "initContainers": [{
                "name": "prepare", "image": "kf-runtime:0.1.0", "command": ["sh", "-c", init_command],
                "volumeMounts": [{"name": "install", "mountPath": "/kubeless"},
                                 {"name": "source", "mountPath": "/src", "readOnly": True}],
                "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "allowPrivilegeEscalation": False}}],
            "containers": [{
                "name": name, "image": "kf-runtime:0.1.0",
                "env": [{"name": "MOD_NAME", "value": "probe"}, {"name": "FUNC_HANDLER", "value": "handler"},
                        {"name": "FUNC_PORT", "value": "8080"}, {"name": "FUNC_TIMEOUT", "value": "30"},
                        {"name": "KUBELESS_INSTALL_VOLUME", "value": "/kubeless"},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                "volumeMounts": [{"name": "install", "mountPath": "/kubeless"}],
                "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True,
                                    "allowPrivilegeEscalation": False}}],
        },
    }


def service(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"function": name},
                     "ports": [{"name": "http-function-port", "port": 8080, "targetPort": 8080}]}}


def netns_names() -> set[str]:
    return set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())


def pod_processes(uid: str) -> list[int]:
    """Processes chrooted into the stand-in's directory for pod `uid`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if os.readlink(proc / "root").startswith(str(podhost.STATE / uid)):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_a_mount_under_an_absolute_symlink_of_the_image_lands_inside_the_containers_root(tmp_path: Path) -> None:
    """No cluster needed (root: a mount namespace). Debian's /var/run is `-> /run`: followed on the host, the
    service-account mount point would be made (and mounted over) on the host's /run."""
    image = tmp_path / "image"
    for d in ("run", "var", "usr/bin"):
        (image / d).mkdir(parents=True)
    (image / "var" / "run").symlink_to("/run")
    assert podhost.resolve_inside(image, "/var/run/secrets/kubernetes.io/serviceaccount") == (
        "/run/secrets/kubernetes.io/serviceaccount")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "token").write_text("t")
    run_dir = tmp_path / "run"
    for sub in ("root", "upper", "work"):
        (run_dir / sub).mkdir(parents=True)
    root = podhost.Root("image", image, ["true"], {})
    script = podhost.container_script(root, run_dir, [(secret, "/var/run/secrets/kubernetes.io/serviceaccount", True)],
                                      ["true"], {}, "/", 1000, 1000, [], "mounts", no_new_privs=True)
    # Build the root and look at it from inside the namespace, without running anything in it.
    probe = script.rsplit("\nexec ", 1)[0] + f"\ncat {run_dir}/root/run/secrets/kubernetes.io/serviceaccount/token"
    done = subprocess.run(["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-ec", probe],
                          capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "t"), done.stderr
    assert not Path("/run/secrets/kubernetes.io/serviceaccount").exists()


@pytest.fixture
def stand_in(devcluster: Path) -> None:
    if podhost.pid() is None:
        pytest.fail("the pod stand-in is not running: `python -m devcluster up` starts it", pytrace=False)


def test_a_function_pod_runs_in_its_own_network_namespace_and_answers_through_the_service_proxy(
        admin, namespace: str, stand_in: None) -> None:
    from kubernetes import client

    core = client.CoreV1Api(admin)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "probe"},
                                                  "data": {"probe.py": PROBE_SOURCE}})
    core.create_namespaced_service(namespace, service("probe"))
    core.create_namespaced_pod(namespace, function_pod(
        "probe", "cp /src/probe.py /kubeless/ && echo hello > /kubeless/greeting && echo prepared"))

    def ready() -> dict | None:
        pod = admin.sanitize_for_serialization(core.read_namespaced_pod("probe", namespace))
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions") or []}
        return pod if conditions.get("Ready") == "True" else None

    pod = wait_for(ready, timeout=90, interval=0.3, what="pod probe to be Ready")
    ip = pod["status"]["podIP"]
    assert ip.startswith(f"{podhost.SUBNET}.") and ip.endswith(".2")
    init = pod["status"]["initContainerStatuses"][0]
    assert init["state"]["terminated"]["exitCode"] == 0 and init["name"] == "prepare"
    main = pod["status"]["containerStatuses"][0]
    assert main["ready"] and "running" in main["state"] and main["restartCount"] == 0
    assert main["imageID"].split("://")[0] in ("rootfs", "source")

    wait_for(lambda: proxy(admin, namespace, "probe", "/healthz")[0] == 200, timeout=30,
             what="/healthz through the service proxy")
    status, text = proxy(admin, namespace, "probe", "/", "POST", "{}")
    assert status == 200, text
    seen = json.loads(text)
    assert (seen["uid"], seen["gid"]) == (1000, 1000)
    assert seen["pod_ip"] == ip and seen["pod_name"] == "probe" and seen["hostname"] == "probe"
    assert seen["service_host"] == podhost.SERVICE_HOST
    assert seen["account_files"] == ["ca.crt", "namespace", "token"]
    assert seen["namespace_file"] == namespace
    assert seen["api_version"].startswith("v1.")  # the API server, reached in-cluster style through 10.96.0.1
    assert seen["greeting"] == "hello\n"  # the init container's output, in the shared emptyDir

    logs = core.read_namespaced_pod_log("probe", namespace, container="probe")
    assert "prepared" in logs and "kf-runtime: serving probe.handler" in logs

    uid = pod["metadata"]["uid"]
    netns = {name for name in netns_names() if name.startswith(f"{podhost.NETNS_PREFIX}-")}
    assert pod_processes(uid)
    core.delete_namespaced_pod("probe", namespace)

    def gone() -> bool:
        try:
            core.read_namespaced_pod("probe", namespace)
            return False
        except client.ApiException as err:
            return err.status == 404

    wait_for(gone, timeout=30, what="the pod to be deleted")
    assert not pod_processes(uid)
    assert not (podhost.STATE / uid).exists()
    index = ip.split(".")[2]
    assert f"{podhost.NETNS_PREFIX}-fnhost-{index}" in netns
    assert f"{podhost.NETNS_PREFIX}-fnhost-{index}" not in netns_names()


def test_a_failing_init_container_is_reported_with_its_message_and_the_pod_is_never_ready(
        admin, namespace: str, stand_in: None) -> None:
    from kubernetes import client

    core = client.CoreV1Api(admin)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "bad"}, "data": {"probe.py": PROBE_SOURCE}})
    core.create_namespaced_service(namespace, service("bad"))
    core.create_namespaced_pod(namespace, function_pod(
        "bad", "echo 'checksum mismatch: the source is not what it claims' | tee /dev/termination-log; exit 2"))

    def failed() -> dict | None:
        pod = admin.sanitize_for_serialization(core.read_namespaced_pod("bad", namespace))
        init = (pod["status"].get("initContainerStatuses") or [{}])[0]
        terminated = (init.get("lastState") or {}).get("terminated") or (init.get("state") or {}).get("terminated")
        return pod if terminated else None

    pod = wait_for(failed, timeout=60, interval=0.3, what="the init container to fail")
    init = pod["status"]["initContainerStatuses"][0]
    terminated = (init.get("lastState") or {}).get("terminated") or init["state"]["terminated"]
    assert terminated["exitCode"] == 2
    assert terminated["message"] == "checksum mismatch: the source is not what it claims"
    assert init["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff"  # retried later, as a kubelet
    conditions = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conditions["Initialized"]["status"] == "False" and conditions["Ready"]["status"] == "False"
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
    assert "running" not in pod["status"]["containerStatuses"][0]["state"]
    assert proxy(admin, namespace, "bad", "/healthz")[0] == 503  # no ready endpoint: nothing serves


def test_a_container_that_exits_is_restarted_and_counted_and_its_previous_log_kept(
        admin, namespace: str, stand_in: None) -> None:
    from kubernetes import client

    core = client.CoreV1Api(admin)
    core.create_namespaced_pod(namespace, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "crash", "labels": {"function": "crash", "created-by": "kubeless"}},
        "spec": {"containers": [{"name": "crash", "image": "kf-runtime:0.1.0",
                                 "command": ["sh", "-c", "echo run; echo gave up >/dev/termination-log; exit 3"],
                                 "securityContext": {"runAsUser": 1000}}]}})

    def restarted() -> dict | None:
        pod = admin.sanitize_for_serialization(core.read_namespaced_pod("crash", namespace))
        statuses = pod["status"].get("containerStatuses") or [{}]
        return pod if statuses[0].get("restartCount", 0) >= 1 else None

    # The kubelet's CrashLoopBackOff: the first restart comes 10 s after the exit.
    pod = wait_for(restarted, timeout=60, interval=0.5, what="the container to be restarted")
    status = pod["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["lastState"]["terminated"]["message"] == "gave up"
    assert pod["status"]["phase"] == "Running"
    assert "running" in status["state"] or status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    previous = core.read_namespaced_pod_log("crash", namespace, previous=True)
    assert previous.splitlines() == ["run"]  # the exited run's output, as `kubectl logs --previous` shows it


# --- through the function controller ---


def controller_running() -> bool:
    try:
        from devcluster.controllers import fncontroller
        from devcluster.controllers import run as controllers

        return bool(controllers.status().get(fncontroller.NAME))
    except Exception:
        return False


def controller_label() -> dict[str, str]:
    from devcluster.controllers import fncontroller

    if fncontroller.SELECTOR is None:
        return {}
    key, _, value = fncontroller.SELECTOR.partition("=")
    return {key: value}


@pytest.fixture
def controller(devcluster: Path) -> None:
    if not controller_running():
        pytest.skip("the function controller is not running in the dev cluster (`python -m devcluster up`)")


HELLO = '''KF_COMMAND = {"name": "hello", "help": "greets", "timeout": 20}


def handler(event, context):
    return "hello REVISION"
'''


class Kf:
    """kf as alice, with a home of her own."""

    def __init__(self, kubeconfig: str, home: Path, namespace: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.namespace = namespace
        self.home = home
        self.env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=str(home), NO_COLOR="1", PAGER="cat",
                        XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"),
                        XDG_CACHE_HOME=str(home / "cache"))

    def __call__(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kfshell", "--context", "kf-alice", "-n", self.namespace, *argv],
                              env=self.env, capture_output=True, text=True, cwd=self.home, timeout=120)


def opt_in(admin, namespace: str, name: str) -> None:
    """While the dev cluster's controller takes only labelled Functions (devcluster/controllers/fncontroller.py:
    SELECTOR, until no test serves Functions by hand), label this one; nothing to do once it takes every one."""
    from kubernetes import client

    from devcluster.controllers import fncontroller

    if fncontroller.SELECTOR is not None:
        key, _, value = fncontroller.SELECTOR.partition("=")
        client.CustomObjectsApi(admin).patch_namespaced_custom_object(
            "kubeless.io", "v1beta1", namespace, "functions", name, {"metadata": {"labels": {key: value}}})


def function_status(admin, namespace: str, name: str) -> dict:
    from kubernetes import client

    try:
        return client.CustomObjectsApi(admin).get_namespaced_custom_object(
            "kubeless.io", "v1beta1", namespace, "functions", name)
    except client.ApiException as err:
        if err.status == 404:
            return {}
        raise


def is_ready(obj: dict) -> bool:
    status = obj.get("status") or {}
    return (status.get("observedGeneration", 0) >= obj.get("metadata", {}).get("generation", 1)
            and any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []))


def function_pods(admin, namespace: str, name: str) -> list[dict]:
    from kubernetes import client

    pods = client.CoreV1Api(admin).list_namespaced_pod(namespace, label_selector=f"function={name}")
    return [admin.sanitize_for_serialization(p) for p in pods.items]


def test_kf_command_add_runs_the_function_in_its_pod_upgrade_rolls_it_and_remove_removes_all_of_it(
        admin, kubeconfig: str, tmp_path: Path, namespace: str, stand_in: None, controller: None) -> None:
    from kubernetes import client

    alice = Kf(kubeconfig, tmp_path / "alice", namespace)
    (tmp_path / "hello.py").write_text(HELLO.replace("REVISION", "1"))
    added = alice("command", "add", "hello", str(tmp_path / "hello.py"), "--scope", "namespace")
    assert added.returncode == 0, added.stderr
    opt_in(admin, namespace, "hello")
    wait_for(lambda: is_ready(function_status(admin, namespace, "hello")), timeout=120, interval=0.5,
             what="Function hello to be Ready")
    first = function_pods(admin, namespace, "hello")
    assert len(first) == 1 and first[0]["status"]["podIP"].startswith(f"{podhost.SUBNET}.")
    done = alice("--dispatch", "kubeless", "hello")
    assert (done.returncode, done.stdout) == (0, "hello 1\n"), done.stderr

    (tmp_path / "hello.py").write_text(HELLO.replace("REVISION", "2"))
    upgraded = alice("command", "upgrade", "hello", str(tmp_path / "hello.py"))
    assert upgraded.returncode == 0, upgraded.stderr

    def second_serves() -> bool:
        if not is_ready(function_status(admin, namespace, "hello")):
            return False
        return alice("--dispatch", "kubeless", "hello").stdout == "hello 2\n"

    wait_for(second_serves, timeout=120, interval=1.0, what="the upgraded source to answer")
    old_uid = first[0]["metadata"]["uid"]
    wait_for(lambda: old_uid not in {p["metadata"]["uid"] for p in function_pods(admin, namespace, "hello")},
             timeout=60, what="the old pod to go (the Deployment rolled)")
    wait_for(lambda: not pod_processes(old_uid), timeout=30, what="the old pod's processes to stop")
    uids = [p["metadata"]["uid"] for p in function_pods(admin, namespace, "hello")]

    removed = alice("command", "remove", "hello", "--yes")
    assert removed.returncode == 0, removed.stderr
    apps, core = client.AppsV1Api(admin), client.CoreV1Api(admin)

    def all_gone() -> bool:
        return (not function_status(admin, namespace, "hello")
                and not apps.list_namespaced_deployment(namespace, label_selector="function=hello").items
                and not core.list_namespaced_service(namespace, label_selector="function=hello").items
                and not core.list_namespaced_config_map(namespace, label_selector="function=hello").items
                and not function_pods(admin, namespace, "hello"))

    wait_for(all_gone, timeout=90, interval=0.5, what="the Function and everything made from it to go")
    wait_for(lambda: not any(pod_processes(uid) for uid in uids) and not any(
        (podhost.STATE / uid).exists() for uid in uids), timeout=30, what="the pods' processes and files to go")


def tiny_wheel(directory: Path) -> Path:
    """A wheel of one module, `kftinydep` (VALUE = 42), written directly: building one needs no network."""
    name, version = "kftinydep", "0.1"
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": b"VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: kf-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()) + f"{dist}/RECORD,,\n"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry, data in {**files, f"{dist}/RECORD": record.encode()}.items():
            archive.writestr(entry, data)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def wheel_server(tmp_path: Path) -> Iterator[str]:
    """Serves a tiny wheel over HTTP on every host address: pods reach it at 10.96.0.1 (no index, no internet)."""
    wheel = tiny_wheel(tmp_path)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"kftinydep @ http://{podhost.SERVICE_HOST}:{server.server_address[1]}/{wheel.name}"
    finally:
        server.shutdown()
        server.server_close()


DEPS = '''KF_COMMAND = {"name": "deps", "help": "uses a dependency", "timeout": 20}


def handler(event, context):
    import kftinydep

    return "dep says %d" % kftinydep.VALUE
'''


def test_a_function_with_deps_gets_them_installed(admin, namespace: str, wheel_server: str, stand_in: None,
                                                  controller: None) -> None:
    from kubernetes import client

    from devcluster import fnhost

    function = fnhost.function_object("deps", "deps", DEPS, handler="deps.handler", labels=controller_label())
    function["spec"]["deps"] = wheel_server + "\n"
    client.CustomObjectsApi(admin).create_namespaced_custom_object("kubeless.io", "v1beta1", namespace,
                                                                   "functions", function)
    wait_for(lambda: is_ready(function_status(admin, namespace, "deps")), timeout=120, interval=0.5,
             what="Function deps to be Ready (pip installed its requirement)")
    status, text = proxy(admin, namespace, "deps", "/", "POST", "{}")
    assert (status, text) == (200, "dep says 42")


def test_a_function_whose_source_does_not_match_its_checksum_never_serves(admin, namespace: str, stand_in: None,
                                                                          controller: None) -> None:
    from kubernetes import client

    from devcluster import fnhost

    function = fnhost.function_object("tampered", "tampered", HELLO.replace("REVISION", "1"),
                                      handler="tampered.handler", labels=controller_label())
    function["spec"]["checksum"] = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    client.CustomObjectsApi(admin).create_namespaced_custom_object("kubeless.io", "v1beta1", namespace,
                                                                   "functions", function)

    def reported() -> dict | None:
        obj = function_status(admin, namespace, "tampered")
        ready = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)
        return ready if ready and ready["status"] == "False" and ready.get("reason") == "ChecksumMismatch" else None

    condition = wait_for(reported, timeout=60, interval=0.5, what="the controller to report ChecksumMismatch")
    assert "checksum" in condition["message"].lower()
    assert not function_pods(admin, namespace, "tampered")
    assert proxy(admin, namespace, "tampered", "/healthz")[0] in (404, 503)
