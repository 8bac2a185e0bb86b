"""What the seed applies for the controllers, made at seed time from the upstream files in the Go module cache.

Nothing upstream is committed here: CRDs, ClusterRoles, webhook configurations, runtimes and KServe's
ConfigMap are read from the module each controller is built from (the version its go.mod pins) and changed
only where running out of cluster needs it (names, namespaces, webhook URLs, caBundle, deployment mode).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .. import build, paths
from . import JOBSET, KSERVE, NAMESPACE, NOTEBOOK, TRAINER, Controller

Manifest = dict[str, Any]
FIELD_MANAGER = "kf-devcluster-controllers"
ROLE_PREFIX = "kf-devcluster:"  # the ClusterRoles and bindings made for the controllers' service accounts

# JobSet's pod webhooks (mpod/vpod) apply to every pod with failurePolicy Fail and only serve exclusive
# placement: not registered.
SKIPPED_WEBHOOKS = {"mpod.kb.io", "vpod.kb.io"}


@cache
def module_dir(controller: Controller) -> Path:
    """The upstream module's directory in the Go module cache, at the version the controller's go.mod selects."""
    proc = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", controller.upstream], cwd=controller.module,
                          capture_output=True, text=True, env=dict(os.environ, **build.GO_ENV))
    directory = proc.stdout.strip()
    if proc.returncode != 0 or not directory:  # not downloaded yet: download it (no compile)
        proc = subprocess.run(["go", "mod", "download", "-json", controller.upstream], cwd=controller.module,
                              capture_output=True, text=True, env=dict(os.environ, **build.GO_ENV), check=True)
        directory = json.loads(proc.stdout)["Dir"]
    return Path(directory)


def _load(controller: Controller, *relative: str) -> list[Manifest]:
    docs: list[Manifest] = []
    for name in relative:
        text = (module_dir(controller) / name).read_text()
        docs += [d for d in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d]
    return docs


def crd_files() -> list[Path]:
    """Trainer's, JobSet's and KServe's CRD files (the notebook CRD is the seed's own), handed to kubectl as they are.

    Not parsed here: KServe's InferenceService CRD alone is 2 MB of YAML, seconds of pure-Python parsing.
    """
    trainer = [f"manifests/base/crds/trainer.kubeflow.org_{kind}.yaml"
               for kind in ("trainjobs", "trainingruntimes", "clustertrainingruntimes")]
    kserve = [f"config/crd/full/serving.kserve.io_{kind}.yaml" for kind in (
        "inferenceservices", "trainedmodels", "clusterservingruntimes", "servingruntimes", "inferencegraphs")]
    kserve.append("config/crd/full/clusterstoragecontainer/serving.kserve.io_clusterstoragecontainers.yaml")
    return ([module_dir(TRAINER) / f for f in trainer]
            + [module_dir(JOBSET) / "config/components/crd/bases/jobset.x-k8s.io_jobsets.yaml"]
            + [module_dir(KSERVE) / f for f in kserve])


def crd_name(path: Path) -> str:
    """controller-gen names its files <group>_<plural>.yaml; the CRD is <plural>.<group>."""
    group, plural = path.stem.split("_", 1)
    return f"{plural}.{group}"


def _notebook_role() -> Manifest:
    """The stand-in notebook controller's rights (the real one's kubebuilder markers, Istio left out)."""
    everything = ["get", "list", "watch", "create", "update", "patch", "delete"]
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "notebook"},
            "rules": [
                {"apiGroups": ["kubeflow.org"], "resources": ["notebooks", "notebooks/status", "notebooks/finalizers"],
                 "verbs": everything},
                {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": everything},
                {"apiGroups": [""], "resources": ["services"], "verbs": everything},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch", "create", "patch"]}]}


def rbac() -> list[Manifest]:
    """A service account per controller in kubeflow, its upstream ClusterRole (renamed) and a binding."""
    roles = {NOTEBOOK: [_notebook_role()],
             JOBSET: _load(JOBSET, "config/components/rbac/role.yaml"),
             TRAINER: _load(TRAINER, "manifests/base/rbac/role.yaml"),
             KSERVE: _load(KSERVE, "config/rbac/role.yaml")}
    docs: list[Manifest] = []
    for controller, found in roles.items():
        role = next(r for r in found if r["kind"] == "ClusterRole")
        name = ROLE_PREFIX + controller.name
        role["metadata"] = {"name": name, "labels": {"app.kubernetes.io/managed-by": "kf-devcluster"}}
        docs += [
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": controller.service_account, "namespace": NAMESPACE}},
            {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
             "metadata": {"name": token_secret(controller), "namespace": NAMESPACE,
                          "annotations": {"kubernetes.io/service-account.name": controller.service_account}}},
            role,
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
             "subjects": [{"kind": "ServiceAccount", "name": controller.service_account, "namespace": NAMESPACE}]},
        ]
    return docs


def token_secret(controller: Controller) -> str:
    return f"{controller.service_account}-token"


def webhooks(controller: Controller) -> list[Manifest]:
    """The controller's webhook configurations, pointing at its loopback port with the dev CA's caBundle."""
    files = {JOBSET: ["config/components/webhook/manifests.yaml"],
             TRAINER: ["manifests/base/webhook/manifests.yaml"],
             KSERVE: ["config/webhook/manifests.yaml"]}.get(controller, [])
    ca_bundle = base64.b64encode((paths.PKI / "ca.crt").read_bytes()).decode()
    docs = []
    for doc in _load(controller, *files):
        if doc["kind"] not in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            continue
        hooks = [h for h in doc.get("webhooks", []) if h["name"] not in SKIPPED_WEBHOOKS]
        for hook in hooks:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{controller.webhook_port}{path}", "caBundle": ca_bundle}
        # Upstream names such as `mutating-webhook-configuration` would collide between controllers.
        doc["metadata"] = {"name": f"{controller.name}-{doc['metadata']['name']}",
                           "labels": {"app.kubernetes.io/managed-by": "kf-devcluster"}}
        doc["webhooks"] = hooks
        docs.append(doc)
    return docs


def runtimes() -> list[Manifest]:
    """Trainer's built-in ClusterTrainingRuntimes and KServe's sklearn ClusterServingRuntime."""
    training = _load(TRAINER, *(f"manifests/base/runtimes/{name}" for name in (
        "torch_distributed.yaml", "deepspeed_distributed.yaml", "mlx_distributed.yaml", "jax_distributed.yaml",
        "xgboost_distributed.yaml")))
    serving = _load(KSERVE, "config/runtimes/kserve-sklearnserver.yaml")
    for runtime in serving:  # kustomize's images: stanza names the image; no image is ever pulled here
        for container in runtime["spec"]["containers"]:
            if container["image"] == "kserve-sklearnserver:replace":
                container["image"] = "kserve/sklearnserver:v0.20.0"
    return training + serving


def inferenceservice_config() -> Manifest:
    """KServe's ConfigMap in its namespace: Standard mode (Deployment, Service, HPA) and no Ingress objects."""
    config = next(d for d in _load(KSERVE, "config/configmap/inferenceservice.yaml") if d["kind"] == "ConfigMap")
    data = config["data"]
    data = {k: v for k, v in data.items() if not k.startswith("_")}  # the commented example block
    data["deploy"] = json.dumps({"defaultDeploymentMode": "Standard"})
    ingress = json.loads(data["ingress"])
    ingress.update(disableIngressCreation=True, ingressDomain="example.com")
    data["ingress"] = json.dumps(ingress)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inferenceservice-config",
                                                                 "namespace": NAMESPACE}, "data": data}


def dump(docs: list[Manifest]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)
