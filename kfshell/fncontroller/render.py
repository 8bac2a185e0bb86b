"""What a Function becomes, as plain dicts: its ConfigMap, Deployment and Service, and the status its Deployment
gives. Pure functions (no I/O), so every rule here is unit-tested.

The merges follow Kubeless's controller: `spec.deployment` is the base Deployment and ours is laid over it
(name, selector, labels, the first container's name, env, port, volume mount; a liveness probe and security
context only where it set none; the rollout strategy always maxUnavailable 0); `spec.service` replaces the
default Service spec field by field (Kubeless used it whole when it named ports). Two departures, both so that
server-side apply is well-formed and the source is always checked: entries keyed by name (env, volumes, init
containers, mounts, ports) are de-duplicated with ours winning, and the `prepare` init container always runs
(Kubeless skipped it for a container that named its own image).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

API_VERSION = "kubeless.io/v1beta1"
KIND = "Function"
DEFAULT_IMAGE = "kf-runtime:0.1.0"
DEFAULT_TIMEOUT = "180"  # seconds, Kubeless's default
PORT = 8080
PORT_NAME = "http-function-port"
INSTALL_DIR = "/kubeless"
SOURCE_DIR = "/src"
RUNTIME_USER = 1000
CHECKSUM_ANNOTATION = "kf.kubeflow.org/function-checksum"  # on the pod template: a new source rolls the pods
DEPS_ANNOTATION = "kf.kubeflow.org/function-deps-checksum"  # likewise for a new requirements.txt
PREPARE_COMMAND = ["python3", "-m", "kfshell.runtime.prepare"]
# Never copied from the Function onto its objects: kubectl's copy of the whole Function (source included).
UNCOPIED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})

# Ready condition reasons
READY = "Ready"
DEPLOYING = "Deploying"
CHECKSUM_MISMATCH = "ChecksumMismatch"
CONFLICT = "Conflict"
INVALID = "Invalid"
FAILED = "Failed"

Obj = dict[str, Any]
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # DNS-1035: what a Service name must be
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class InvalidFunction(ValueError):
    """The Function cannot be deployed as it is; the message says why (status reason Invalid)."""


class ChecksumMismatch(ValueError):
    """The source does not match spec.checksum (status reason ChecksumMismatch)."""


@dataclass(frozen=True)
class Source:
    """A Function's checked source: module and handler names, the decoded code, its sha256 and the deps."""

    module: str
    handler: str
    code: str  # "" for a url source: the prepare container downloads it
    checksum: str  # "sha256:<hex>" of the decoded code (a url source: spec.checksum, checked after download)
    deps: str
    url: str | None = None

    @property
    def file_name(self) -> str:
        return f"{self.module}.py"


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def check_source(function: Mapping[str, Any]) -> Source:
    """The Function's source, decoded and verified. Raises InvalidFunction or ChecksumMismatch."""
    name = str(meta(function).get("name") or "")
    if not _DNS_LABEL.match(name):
        raise InvalidFunction(f"the name {name!r} cannot name a Service (a DNS-1035 label of at most 63 "
                              "characters: lower-case letters, digits, '-', starting with a letter)")
    spec = function.get("spec") or {}
    runtime = str(spec.get("runtime") or "")
    if not runtime.startswith("python"):
        raise InvalidFunction(f"spec.runtime {runtime!r} is not served here: the runtime image runs Python "
                              "functions (python3.x)")
    handler = str(spec.get("handler") or "")
    module, _, entry = handler.partition(".")
    if not _MODULE.match(module) or not _MODULE.match(entry):
        raise InvalidFunction(f"spec.handler {handler!r} is not module.function (e.g. hello.handler)")
    content_type = str(spec.get("function-content-type") or "text")
    raw = str(spec.get("function") or "")
    if not raw:
        raise InvalidFunction("spec.function (the source) is empty")
    if content_type == "text":
        code = raw
    elif content_type == "url":
        # Kubeless's prepare container fetched the source; ours does, and checks it there: the controller
        # never fetches what a Function names (a controller with cluster rights reaching out on request).
        wanted = str(spec.get("checksum") or "")
        algorithm, _, digest = wanted.partition(":")
        if algorithm != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise InvalidFunction("a url source needs spec.checksum sha256:<hex> (checked after the download)")
        if not raw.startswith(("https://", "http://")):
            raise InvalidFunction(f"spec.function {raw[:80]!r} is not an http(s) URL (function-content-type is url)")
        return Source(module=module, handler=entry, code="", checksum=f"sha256:{digest.lower()}",
                      deps=str(spec.get("deps") or ""), url=raw)
    elif content_type == "base64":
        try:
            code = base64.b64decode(raw, validate=False).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidFunction("spec.function is not base64 of UTF-8 text "
                                  "(function-content-type is base64)") from None
    else:
        raise InvalidFunction(f"function-content-type {content_type!r} is not supported "
                              "(this controller takes text, base64 and url)")
    found = sha256(code)
    wanted = str(spec.get("checksum") or "")
    if wanted:
        algorithm, _, digest = wanted.partition(":")
        if algorithm != "sha256" or not digest:
            raise InvalidFunction(f"spec.checksum {wanted!r} is not sha256:<hex>")
        if digest.lower() != found.partition(":")[2]:
            raise ChecksumMismatch(f"the source's checksum is {found}, spec.checksum says {wanted}: "
                                   "not deployed")
    return Source(module=module, handler=entry, code=code, checksum=found, deps=str(spec.get("deps") or ""))


def owner_reference(function: Mapping[str, Any]) -> Obj:
    """Makes the Function the controller of an object, so deleting it lets the garbage collector remove them.

    No blockOwnerDeletion: setting it needs update rights on functions/finalizers where the
    OwnerReferencesPermissionEnforcement admission plugin runs, and background deletion does not use it."""
    return {"apiVersion": API_VERSION, "kind": KIND, "name": meta(function)["name"],
            "uid": meta(function)["uid"], "controller": True}


def owned_by(obj: Mapping[str, Any], function: Mapping[str, Any]) -> bool:
    """Whether `obj` is controlled by this Function (this incarnation: the same uid)."""
    uid = meta(function).get("uid")
    return any(ref.get("controller") and ref.get("uid") == uid for ref in meta(obj).get("ownerReferences") or [])


def labels(function: Mapping[str, Any]) -> dict[str, str]:
    """The labels of every object made for the Function: its own, then function=<name>, created-by=kubeless."""
    return {**(meta(function).get("labels") or {}), "function": meta(function)["name"], "created-by": "kubeless"}


def _annotations(function: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (meta(function).get("annotations") or {}).items() if k not in UNCOPIED_ANNOTATIONS}


def _object_meta(function: Mapping[str, Any]) -> Obj:
    return {"name": meta(function)["name"], "namespace": meta(function)["namespace"], "labels": labels(function),
            "ownerReferences": [owner_reference(function)]}


def configmap(function: Mapping[str, Any], source: Source) -> Obj:
    """`handler`, `<module>.py` (decoded) or `source-url` (for prepare to download) and `requirements.txt`,
    mounted at /src for the prepare container."""
    data = {"handler": f"{source.module}.{source.handler}", "requirements.txt": source.deps}
    if source.url:
        data["source-url"] = source.url
    else:
        data[source.file_name] = source.code
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _object_meta(function), "data": data}


def service_spec(function: Mapping[str, Any]) -> Obj:
    """ClusterIP, port 8080 `http-function-port`, selector function=<name>; spec.service laid over it."""
    spec: Obj = {"type": "ClusterIP", "selector": {"function": meta(function)["name"]},
                 "ports": [{"name": PORT_NAME, "port": PORT, "targetPort": PORT, "protocol": "TCP"}]}
    given = copy.deepcopy((function.get("spec") or {}).get("service") or {})
    if not given.get("ports"):
        given.pop("ports", None)
    spec.update({k: v for k, v in given.items() if v is not None})
    spec["ports"] = [{**port, "protocol": port.get("protocol") or "TCP"} for port in spec["ports"]]
    return spec


def service(function: Mapping[str, Any]) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _object_meta(function), "spec": service_spec(function)}


def function_port(function: Mapping[str, Any]) -> int:
    """The port the runtime listens on: the first Service port's target (its port when the target is named)."""
    first = service_spec(function)["ports"][0]
    target = first.get("targetPort")
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    return int(first.get("port") or PORT)


def _merged(entries: Iterable[Mapping[str, Any]] | None, ours: Iterable[Mapping[str, Any]], key: str) -> list[Obj]:
    """`entries` with ours laid over them by `key` (ours replace theirs in place, new ones go last)."""
    ours = [dict(o) for o in ours]
    by_key = {o[key]: o for o in ours}
    result = []
    for entry in entries or []:
        result.append(by_key.pop(entry.get(key), None) or dict(entry))
    result += [o for o in ours if o[key] in by_key]
    return result


def _volume_names(name: str) -> tuple[str, str]:
    """The install volume is `<name>`, the source volume `<name>-source` (shortened to stay a DNS label)."""
    return name, f"{name[:56]}-source"


def _probe(port: int, period: int) -> Obj:
    return {"httpGet": {"path": "/healthz", "port": port}, "initialDelaySeconds": 1, "periodSeconds": period,
            "failureThreshold": 3}


def _container_security() -> Obj:
    return {"runAsUser": RUNTIME_USER, "runAsGroup": RUNTIME_USER, "runAsNonRoot": True,
            "allowPrivilegeEscalation": False}


def deployment(function: Mapping[str, Any], source: Source, image: str = DEFAULT_IMAGE) -> Obj:
    """The function's Deployment: spec.deployment with ours laid over it (see the module's docstring)."""
    name = meta(function)["name"]
    spec = function.get("spec") or {}
    base: Obj = copy.deepcopy(spec.get("deployment") or {})
    base_meta = base.get("metadata") or {}
    own_labels = labels(function)
    annotations = _annotations(function)
    dspec: Obj = base.get("spec") or {}
    template: Obj = dspec.get("template") or {}
    tmeta: Obj = template.get("metadata") or {}
    pod: Obj = template.get("spec") or {}
    port = function_port(function)
    install_volume, source_volume = _volume_names(name)

    containers = [dict(c) for c in pod.get("containers") or []] or [{}]
    main = containers[0]
    main["name"] = name
    main["image"] = main.get("image") or image
    memory = ((main.get("resources") or {}).get("limits") or {}).get("memory")
    env = [
        {"name": "FUNC_HANDLER", "value": source.handler},
        {"name": "MOD_NAME", "value": source.module},
        {"name": "FUNC_TIMEOUT", "value": str(spec.get("timeout") or DEFAULT_TIMEOUT)},
        {"name": "FUNC_RUNTIME", "value": str(spec.get("runtime") or "")},
        {"name": "FUNC_MEMORY_LIMIT", "value": str(memory) if memory is not None else ""},
        {"name": "FUNC_PORT", "value": str(port)},
        {"name": "FUNC_NAME", "value": name},
        {"name": "KUBELESS_INSTALL_VOLUME", "value": INSTALL_DIR},
    ]
    main["env"] = _merged(main.get("env"), env, "name")
    main["ports"] = _merged(main.get("ports"), [{"containerPort": port, "protocol": "TCP"}], "containerPort")
    for entry in main["ports"]:
        entry.setdefault("protocol", "TCP")
    main["volumeMounts"] = _merged(main.get("volumeMounts"), [{"name": install_volume, "mountPath": INSTALL_DIR}],
                                   "mountPath")
    main.setdefault("livenessProbe", _probe(port, 30))
    main.setdefault("readinessProbe", _probe(port, 5))
    main["securityContext"] = {**_container_security(), **(main.get("securityContext") or {})}
    containers[0] = main

    prepare = {
        "name": "prepare", "image": image, "command": list(PREPARE_COMMAND),
        "env": [{"name": "MOD_NAME", "value": source.module},
                {"name": "FUNC_CHECKSUM", "value": source.checksum},
                {"name": "KUBELESS_SOURCE", "value": SOURCE_DIR},
                {"name": "KUBELESS_INSTALL_VOLUME", "value": INSTALL_DIR}],
        "volumeMounts": [{"name": install_volume, "mountPath": INSTALL_DIR},
                         {"name": source_volume, "mountPath": SOURCE_DIR, "readOnly": True}],
        "securityContext": _container_security(),
        # A crash that writes no termination message still says why: the end of its log becomes the message
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    init = [prepare] + [c for c in pod.get("initContainers") or [] if c.get("name") != "prepare"]
    volumes = _merged(pod.get("volumes"), [
        {"name": install_volume, "emptyDir": {}},
        {"name": source_volume, "configMap": {"name": name}},
    ], "name")

    template_annotations = {
        **(tmeta.get("annotations") or {}), **annotations,
        # Kubeless's: invite Prometheus to scrape the runtime's /metrics
        "prometheus.io/scrape": "true", "prometheus.io/path": "/metrics", "prometheus.io/port": str(port),
        CHECKSUM_ANNOTATION: source.checksum,
    }
    if source.deps:
        template_annotations[DEPS_ANNOTATION] = sha256(source.deps)
    pod_spec = {**pod, "containers": containers, "initContainers": init, "volumes": volumes,
                "securityContext": {"fsGroup": RUNTIME_USER, **(pod.get("securityContext") or {})}}
    result_spec: Obj = {k: v for k, v in dspec.items() if k not in ("selector", "template", "strategy")}
    if (spec.get("horizontalPodAutoscaler") or {}).get("spec"):
        result_spec.pop("replicas", None)  # the autoscaler sets them: applying a number would undo its work
    result_spec.update({
        "selector": {"matchLabels": {"function": name}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}},
        "template": {"metadata": {**{k: v for k, v in tmeta.items() if k not in ("labels", "annotations")},
                                  "labels": {**(tmeta.get("labels") or {}), **own_labels},
                                  "annotations": template_annotations},
                     "spec": pod_spec},
    })
    metadata = _object_meta(function)
    metadata["labels"] = {**(base_meta.get("labels") or {}), **own_labels}
    merged_annotations = {**(base_meta.get("annotations") or {}), **annotations}
    if merged_annotations:
        metadata["annotations"] = merged_annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": result_spec}


def autoscaler(function: Mapping[str, Any]) -> Obj | None:
    """The HorizontalPodAutoscaler spec.horizontalPodAutoscaler asks for (autoscaling/v2), or None.

    Kubeless made one when the embedded object named itself and a target, in autoscaling/v2beta1 (gone since
    Kubernetes 1.25): its metrics are converted; the target is always the Function's own Deployment."""
    given = (function.get("spec") or {}).get("horizontalPodAutoscaler") or {}
    spec = given.get("spec") or {}
    if not spec:
        return None
    name = meta(function)["name"]
    if not spec.get("maxReplicas"):
        raise InvalidFunction("spec.horizontalPodAutoscaler.spec.maxReplicas is not set")
    result: Obj = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                   "maxReplicas": int(spec["maxReplicas"])}
    if spec.get("minReplicas") is not None:
        result["minReplicas"] = int(spec["minReplicas"])
    metrics = [_v2_metric(m) for m in spec.get("metrics") or []]
    if metrics:
        result["metrics"] = metrics
    if spec.get("behavior"):
        result["behavior"] = spec["behavior"]
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _object_meta(function),
            "spec": result}


def _v2_metric(metric: Mapping[str, Any]) -> Obj:
    """One metric in autoscaling/v2's shape (from v2beta1's, which Kubeless wrote; v2's passes unchanged)."""
    kind = metric.get("type")
    if kind == "Resource":
        resource = metric.get("resource") or {}
        if "target" in resource:
            return dict(metric)
        if resource.get("targetAverageUtilization") is not None:
            target = {"type": "Utilization", "averageUtilization": int(resource["targetAverageUtilization"])}
        elif resource.get("targetAverageValue") is not None:
            target = {"type": "AverageValue", "averageValue": resource["targetAverageValue"]}
        else:
            raise InvalidFunction("a Resource metric of spec.horizontalPodAutoscaler has no target")
        return {"type": "Resource", "resource": {"name": resource.get("name"), "target": target}}
    if kind == "Pods":
        pods = metric.get("pods") or {}
        if "target" in pods:
            return dict(metric)
        return {"type": "Pods", "pods": {"metric": {"name": pods.get("metricName")},
                                         "target": {"type": "AverageValue",
                                                    "averageValue": pods.get("targetAverageValue")}}}
    if kind in ("Object", "External", "ContainerResource") and "target" in (metric.get(kind[0].lower() + kind[1:])
                                                                             or {}):
        return dict(metric)
    raise InvalidFunction(f"spec.horizontalPodAutoscaler: a {kind} metric in autoscaling/v2beta1's shape is not "
                          "supported (write it as autoscaling/v2)")


@dataclass(frozen=True)
class Readiness:
    """The Ready condition a Deployment gives: status True/False, reason, message, ready replicas."""

    ready: bool
    reason: str
    message: str
    ready_replicas: int


def readiness(deployment_obj: Mapping[str, Any] | None) -> Readiness:
    """Ready once the Deployment controller has seen the latest spec and every wanted replica is updated and
    ready with no old one left; Failed when its rollout exceeded the progress deadline or a ReplicaSet could
    not make pods; else Deploying."""
    if not deployment_obj:
        return Readiness(False, DEPLOYING, "the Deployment is not there yet", 0)
    spec = deployment_obj.get("spec") or {}
    status = deployment_obj.get("status") or {}
    wanted = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    counts = f"{ready}/{wanted} replicas ready"
    if int(status.get("observedGeneration") or 0) < int(meta(deployment_obj).get("generation") or 0):
        return Readiness(False, DEPLOYING, f"the Deployment controller has not seen the latest spec yet; {counts}",
                         ready)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return Readiness(False, FAILED, f"{condition.get('reason')}: {condition.get('message')}", ready)
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return Readiness(False, FAILED, f"the rollout stalled: {condition.get('message')}; {counts}", ready)
    if updated >= wanted and ready >= wanted and available >= wanted and total <= updated:
        return Readiness(True, READY, counts, ready)
    old = total - updated
    return Readiness(False, DEPLOYING, counts + (f", {old} old replica(s) still running" if old > 0 else ""), ready)


def status(function: Mapping[str, Any], ready: bool, reason: str, message: str, ready_replicas: int,
           now: str) -> Obj:
    """The Function's status: its Ready condition (lastTransitionTime kept while the status holds),
    readyReplicas and observedGeneration."""
    value = "True" if ready else "False"
    previous = next((c for c in ((function.get("status") or {}).get("conditions") or [])
                     if c.get("type") == "Ready"), None)
    since = previous.get("lastTransitionTime") if previous and previous.get("status") == value else None
    return {"conditions": [{"type": "Ready", "status": value, "reason": reason, "message": message,
                            "lastTransitionTime": since or now}],
            "readyReplicas": ready_replicas,
            "observedGeneration": int(meta(function).get("generation") or 0)}


def same_status(current: Mapping[str, Any] | None, wanted: Mapping[str, Any], *, generation: bool = True) -> bool:
    """Whether writing `wanted` would change nothing (lastTransitionTime aside; observedGeneration too when
    `generation` is False: without a status subresource every status write bumps the generation)."""
    def strip(found: Mapping[str, Any] | None) -> Obj:
        found = dict(found or {})
        found["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                               for c in found.get("conditions") or []]
        if not generation:
            found.pop("observedGeneration", None)
        return found

    return strip(current) == strip(wanted)
