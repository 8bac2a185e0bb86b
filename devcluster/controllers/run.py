"""Start, check and stop the controllers: each with its own service account's kubeconfig, config and ports.
kf's function controller (fncontroller.py) starts last, once the Kubeflow controllers serve.

Out of cluster, the webhook servers get a certificate for 127.0.0.1 from the dev cluster's CA (the cert
rotators Trainer and JobSet ship need a kubelet-mounted Secret, so they are switched off), and the webhook
configurations are registered by URL once the controller answers its readiness probe.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import yaml

from .. import cluster, fnhost, paths, pki, processes
from . import CONTROLLERS, JOBSET, KSERVE, NAMESPACE, TRAINER, TRAINER_STATUS_PORT, Controller, fncontroller, manifests

READY_TIMEOUT = 90.0


def _home(controller: Controller) -> Path:
    """Its config, kubeconfig, TMPDIR and certificates: .cache/devcluster/run/controllers/<name>/."""
    home = paths.RUN / "controllers" / controller.name
    home.mkdir(parents=True, exist_ok=True)
    return home


def _cert_dir(controller: Controller) -> Path:
    # controller-runtime's default CertDir is $TMPDIR/k8s-webhook-server/serving-certs.
    return _home(controller) / "tmp" / "k8s-webhook-server" / "serving-certs"


def _wait_token(controller: Controller) -> str:
    return cluster.secret_token(NAMESPACE, manifests.token_secret(controller))


def _config(controller: Controller) -> list[str]:
    """Write the controller's files; return its arguments."""
    home = _home(controller)
    credentials = fnhost.function_kubeconfig(paths.SERVER, (paths.PKI / "ca.crt").read_bytes(),
                                             _wait_token(controller), NAMESPACE)
    config = _write(home / "kubeconfig", credentials)
    config.chmod(0o600)
    args = [f"--kubeconfig={config}"]
    if controller.webhook_port:
        certs = _cert_dir(controller)
        certs.mkdir(parents=True, exist_ok=True)
        for name in ("tls.crt", "tls.key"):
            shutil.copyfile(paths.PKI / f"webhook-{name}", certs / name)
    probe = f"127.0.0.1:{controller.probe_port}"
    if controller is JOBSET:
        cfg = {"apiVersion": "config.jobset.x-k8s.io/v1alpha1", "kind": "Configuration",
               "leaderElection": {"leaderElect": False}, "internalCertManagement": {"enable": False},
               "webhook": {"host": "127.0.0.1", "port": controller.webhook_port, "certDir": str(_cert_dir(controller))},
               "metrics": {"bindAddress": "0"}, "health": {"healthProbeBindAddress": probe}}
        args += [f"--config={_write(home / 'config.yaml', cfg)}", "--leader-elect=false",
                 "--metrics-bind-address=0", f"--health-probe-bind-address={probe}", "--zap-log-level=info"]
    elif controller is TRAINER:
        # Decoded with defaulting: certManagement.enable must be said false, or the rotator starts.
        cfg = {"apiVersion": "config.trainer.kubeflow.org/v1alpha1", "kind": "Configuration",
               "webhook": {"host": "127.0.0.1", "port": controller.webhook_port},
               "metrics": {"bindAddress": "0", "secureServing": False},
               "health": {"healthProbeBindAddress": probe},
               "certManagement": {"enable": False},
               "statusServer": {"port": TRAINER_STATUS_PORT}}
        args += [f"--config={_write(home / 'config.yaml', cfg)}"]
    elif controller is KSERVE:
        args += ["--metrics-addr=0", f"--health-probe-addr={probe}", f"--webhook-port={controller.webhook_port}",
                 "--leader-elect=false"]
    else:
        args += ["--metrics-addr=0", f"--probe-addr={probe}"]
    return args


def _write(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _env(controller: Controller) -> dict[str, str]:
    env = {"TMPDIR": str(_home(controller) / "tmp")}
    if controller is KSERVE:
        env["POD_NAMESPACE"] = NAMESPACE  # where it reads inferenceservice-config
    return env


def _ready(controller: Controller) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{controller.probe_port}/readyz", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def prepare() -> None:
    """What the controllers need before they start: their CRDs, service accounts, RBAC and KServe's ConfigMap."""
    pki.ensure_webhook_serving(paths.PKI)
    # CRDs under kubectl's own field manager, as the seed's: an apply then replaces an older schema whole.
    files = manifests.crd_files()
    cluster.kubectl("apply", "--server-side", "--force-conflicts", *(f"--filename={f}" for f in files))
    # Polled rather than `kubectl wait`, which fails on a CRD that has no status conditions yet.
    for name in [manifests.crd_name(f) for f in files] + _seed_crd_names():
        cluster.wait_for(f"CRD {name} to be established", lambda n=name: _established(n), 60, "kube-apiserver")
    cluster.kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={manifests.FIELD_MANAGER}",
                    "-f", "-", input_text=manifests.dump(manifests.rbac() + [manifests.inferenceservice_config()]))
    fncontroller.prepare()


def _seed_crd_names() -> list[str]:
    return [yaml.safe_load(f.read_text())["metadata"]["name"] for f in sorted((paths.SEED / "crds").glob("*.yaml"))]


def _established(name: str) -> bool:
    status, body = cluster.api_get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    conditions = (json.loads(body).get("status") or {}).get("conditions") or [] if status == 200 else []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def up() -> list[str]:
    """Start every controller that is not running, in order, and register its webhooks; return those started."""
    started = []
    for controller in CONTROLLERS:
        if processes.running_pid(controller.name) is None:
            processes.start(controller.name, _config(controller), env=_env(controller))
            started.append(controller.name)
        cluster.wait_for(f"{controller.name} to be ready", lambda c=controller: _ready(c), READY_TIMEOUT,
                         controller.name)
        hooks = manifests.webhooks(controller)
        if hooks:
            cluster.kubectl("apply", "--server-side", "--force-conflicts",
                            f"--field-manager={manifests.FIELD_MANAGER}", "-f", "-", input_text=manifests.dump(hooks))
    if fncontroller.up():
        started.append(fncontroller.NAME)
    return started


def apply_runtimes() -> None:
    """The ClusterTrainingRuntimes and the sklearn ClusterServingRuntime (their webhooks validate them)."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={manifests.FIELD_MANAGER}",
                    "-f", "-", input_text=manifests.dump(manifests.runtimes()))


def running() -> bool:
    return all(processes.running_pid(c.name) for c in CONTROLLERS) and fncontroller.running()


def status() -> dict[str, int | None]:
    return {**{c.name: processes.running_pid(c.name) for c in CONTROLLERS}, fncontroller.NAME: fncontroller.pid()}


def down() -> list[str]:
    """Stop the controllers (their webhook configurations stay, as a stopped controller's do in a cluster)."""
    stopped = [fncontroller.NAME] if fncontroller.down() else []
    return stopped + [c.name for c in reversed(CONTROLLERS) if processes.stop(c.name)]
