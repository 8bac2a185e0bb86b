"""kf's own function controller (kfshell.fncontroller) as a dev-cluster process beside the Kubeflow controllers.

It acts as service account kf-function-controller in kf-system with exactly the RBAC of
kfshell/fncontroller/deploy.yaml (its ServiceAccount, ClusterRole and binding are applied; its Deployment is
not: here the controller is a process, run from the source tree). The process is
.cache/devcluster/bin/kf-function-controller, a launcher script for this checkout's Python, so the dev cluster's
pid checks recognise it as they do the Go binaries; its log is .cache/devcluster/run/kf-function-controller.log.

It reconciles every Function, as in a real cluster: the pods it asks for are run by the node stand-in
(devcluster/podhost.py). SELECTOR (`--selector`, a label selector on Functions) can narrow that, e.g. to
OPT_IN_LABEL=true, which the tests' helpers still put on their Functions (it was needed while an older harness
served the other Functions with Services of their names).

`up` (re)starts it when it is not running or when what it runs changed: its arguments or its source
(kfshell/fncontroller and the REST client it uses), as build.py rebuilds a Go binary whose sources changed.
"""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .. import cluster, fnhost, paths, processes

NAME = "kf-function-controller"
NAMESPACE = "kf-system"
SERVICE_ACCOUNT = "kf-function-controller"
TOKEN_SECRET = f"{SERVICE_ACCOUNT}-token"
FIELD_MANAGER = "kf-devcluster-controllers"
HEALTH_PORT = 18085  # /healthz and /readyz on 127.0.0.1
OPT_IN_LABEL = "kf.kubeflow.org/function-controller"
SELECTOR: str | None = None  # every Function
IMAGE = "kf-runtime:0.1.0"
READY_TIMEOUT = 60.0


def deploy_documents() -> list[dict[str, Any]]:
    """deploy.yaml's documents, as `kf admin install` reads them (a package resource)."""
    text = resources.files("kfshell.fncontroller").joinpath("deploy.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


def rbac() -> list[dict[str, Any]]:
    """The namespace, deploy.yaml's account, role and binding (not its Deployment) and a long-lived token."""
    docs: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    for doc in deploy_documents():
        if doc["kind"] == "Deployment":
            continue
        if doc["kind"] == "ServiceAccount":
            doc["metadata"]["namespace"] = NAMESPACE
        docs.append(doc)
    docs.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                 "metadata": {"name": TOKEN_SECRET, "namespace": NAMESPACE,
                              "annotations": {"kubernetes.io/service-account.name": SERVICE_ACCOUNT}}})
    return docs


def prepare() -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}", "-f", "-",
                    input_text=yaml.safe_dump_all(rbac(), sort_keys=False))


def _home() -> Path:
    home = paths.RUN / "controllers" / NAME
    home.mkdir(parents=True, exist_ok=True)
    return home


def _token() -> str:
    return cluster.secret_token(NAMESPACE, TOKEN_SECRET)


def _launcher() -> Path:
    """bin/kf-function-controller: this Python running the controller from this source tree."""
    launcher = paths.BIN / NAME
    text = (f"#!{sys.executable}\n"
            "# Written by devcluster/controllers/fncontroller.py: kf's function controller from the source tree.\n"
            f"import sys\nsys.path.insert(0, {str(paths.ROOT)!r})\n"
            "from kfshell.fncontroller.__main__ import main\nsys.exit(main())\n")
    paths.BIN.mkdir(parents=True, exist_ok=True)
    if not launcher.exists() or launcher.read_text() != text:
        launcher.write_text(text)
        launcher.chmod(0o755)
    return launcher


def _args() -> list[str]:
    args = [f"--kubeconfig={_home() / 'kubeconfig'}", f"--image={IMAGE}", f"--health-bind=127.0.0.1:{HEALTH_PORT}"]
    return args + ([f"--selector={SELECTOR}"] if SELECTOR else [])


def _write_kubeconfig() -> None:
    config = _home() / "kubeconfig"
    credentials = fnhost.function_kubeconfig(paths.SERVER, (paths.PKI / "ca.crt").read_bytes(), _token(), NAMESPACE)
    config.write_text(yaml.safe_dump(credentials, sort_keys=False))
    config.chmod(0o600)


def fingerprint() -> str:
    """What the running process was started from: its arguments and the source it runs."""
    digest = hashlib.sha256(json.dumps(_args()).encode())
    kfshell = paths.ROOT / "kfshell"
    for path in sorted((kfshell / "fncontroller").glob("*.py")) + [
            kfshell / name for name in ("rest.py", "transport.py", "clients.py", "kubeconfig.py", "proxies.py")]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _started_from() -> Path:
    return _home() / "fingerprint"


def _ready() -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{HEALTH_PORT}/readyz", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def up() -> bool:
    """Start it unless it runs as it should; wait until its informers have listed. True when it was started."""
    started = False
    if not running():
        processes.stop(NAME)  # an older one, started from other source or arguments
        _launcher()
        _write_kubeconfig()
        wanted = fingerprint()
        processes.start(NAME, _args())
        _started_from().write_text(wanted)
        started = True
    cluster.wait_for(f"{NAME} to be ready", _ready, READY_TIMEOUT, NAME)
    return started


def running() -> bool:
    """It runs, started from the arguments and source it would be started from now."""
    if processes.running_pid(NAME) is None:
        return False
    try:
        return _started_from().read_text() == fingerprint()
    except FileNotFoundError:
        return False


def pid() -> int | None:
    return processes.running_pid(NAME)


def down() -> bool:
    return processes.stop(NAME)
