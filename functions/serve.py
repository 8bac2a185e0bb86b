"""`serve`: models behind KServe InferenceServices (`serving.kserve.io/v1beta1`).

`serve NAME FILE` or `serve NAME --model-format sklearn --storage-uri gs://...` checks the service with a
server-side dry run, creates it, waits until it is Ready (or says why it is not) and prints its URL. `stop`
and `start` set and remove the `serving.kserve.io/stop` annotation, as KServe's own docs do it.
"""

from __future__ import annotations

from typing import Any

from kfshell import discovery as d
from kfshell import fnkit
from kfshell import workloads as w

KF_COMMAND = {
    "name": "serve",
    "help": "model servers: serve NAME FILE | serve NAME --model-format F --storage-uri URI; ls, stop, start, "
            "describe, delete",
    "timeout": 630,
    "requires": [{"verb": "list", "group": "serving.kserve.io", "resource": "inferenceservices",
                  "namespace": "$namespace"}],
    "subcommands": [
        {"name": "create", "default": True,
         "help": "an InferenceService, checked by the server first; waits until it is Ready and prints its URL",
         "requires": [{"verb": "create", "group": "serving.kserve.io", "resource": "inferenceservices",
                       "namespace": "$namespace"}],
         "arguments": [
             {"name": "name", "help": "the service's name (a DNS-1123 label)", "required": True},
             {"name": "file", "help": "a YAML file with one InferenceService", "complete": "files"},
             {"name": "model_format", "kind": "option", "flags": ["--model-format"],
              "help": "the model's format, e.g. sklearn, xgboost, pytorch, tensorflow, onnx, huggingface "
                      "(NAME[:VERSION])"},
             {"name": "storage_uri", "kind": "option", "flags": ["--storage-uri"],
              "help": "where the model is: gs://, s3://, pvc://, https://, hf://"},
             {"name": "runtime", "kind": "option", "flags": ["--runtime"], "help": "a serving runtime by name"},
             {"name": "protocol", "kind": "option", "flags": ["--protocol"], "choices": ["v1", "v2"],
              "help": "the inference protocol"},
             {"name": "wait", "kind": "flag", "flags": ["--wait"], "help": "wait until Ready (the default)"},
             {"name": "no_wait", "kind": "flag", "flags": ["--no-wait"], "help": "return once it is created"},
             {"name": "timeout", "kind": "option", "flags": ["--timeout"], "type": "int",
              "help": "seconds to wait (default 300)"},
         ]},
        {"name": "ls", "help": "inference services: ready, URL, model state, age"},
        {"name": "stop", "help": "stop serving (the serving.kserve.io/stop annotation)",
         "requires": [{"verb": "patch", "group": "serving.kserve.io", "resource": "inferenceservices",
                       "namespace": "$namespace"}],
         "arguments": [{"name": "name", "help": "the service", "required": True, "complete": "inferenceservices"}]},
        {"name": "start", "help": "serve a stopped service again",
         "requires": [{"verb": "patch", "group": "serving.kserve.io", "resource": "inferenceservices",
                       "namespace": "$namespace"}],
         "arguments": [{"name": "name", "help": "the service", "required": True, "complete": "inferenceservices"}]},
        {"name": "describe", "help": "a service's URL, model, conditions and why it is not ready",
         "requires": [{"verb": "get", "group": "serving.kserve.io", "resource": "inferenceservices",
                       "namespace": "$namespace"}],
         "arguments": [{"name": "name", "help": "the service", "required": True, "complete": "inferenceservices"}]},
        {"name": "delete", "help": "delete an inference service", "confirm": "delete inference service {name}",
         "requires": [{"verb": "delete", "group": "serving.kserve.io", "resource": "inferenceservices",
                       "namespace": "$namespace"}],
         "arguments": [{"name": "name", "help": "the service", "required": True, "complete": "inferenceservices"},
                       {"name": "yes", "kind": "flag", "flags": ["-y", "--yes"], "help": "do not ask"}]},
    ],
}

FILE_KINDS = {"serving.kserve.io/v1beta1/InferenceService": "InferenceService"}
STOP = "serving.kserve.io/stop"
COLUMNS = ["NAME", "READY", "STATE", "URL", "MODEL", "AGE"]
WIDE = ["MESSAGE"]
SCHEMES = ("gs://", "s3://", "pvc://", "https://", "http://", "hf://", "oci://", "azure://")


@fnkit.entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = fnkit.request(event)
    api = fnkit.api_client(event)
    res = w.resource(api, d.KINDS["inferenceservices"])
    sub = req.subcommand or "create"
    ns = req.namespace
    if sub == "ls":
        rows = [ls_row(s) for s in sorted(w.listed(api, res, ns), key=lambda o: o["metadata"]["name"])]
        return fnkit.table(COLUMNS, rows, WIDE)
    name = fnkit.check_name(str(req.arg("name", "")), "inference service")
    if sub == "create":
        return create(event, req, api, res, name)
    if sub in ("stop", "start"):
        return stop_start(api, res, ns, name, stop=sub == "stop")
    if sub == "describe":
        return fnkit.object(describe(w.get(api, res, ns, name, "inference service")))
    if sub == "delete":
        w.delete(api, res, ns, name, "inference service")
        return fnkit.message(f"inference service {name} deleted")
    raise fnkit.FunctionError("Usage", f"unknown subcommand 'serve {sub}'",
                              hint="use create, ls, stop, start, describe or delete")


# ---- state -------------------------------------------------------------------------------------------------


def is_stopped(isvc: dict[str, Any]) -> bool:
    annotations = (isvc.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(STOP, "")).lower() == "true" or w.is_true(isvc, "Stopped")


def url(isvc: dict[str, Any]) -> str:
    status = isvc.get("status") or {}
    return (status.get("url") or (status.get("address") or {}).get("url")
            or ((status.get("components") or {}).get("predictor") or {}).get("url") or "")


def model_state(isvc: dict[str, Any]) -> str:
    model = (isvc.get("status") or {}).get("modelStatus") or {}
    states = model.get("states") or {}
    return states.get("activeModelState") or model.get("transitionStatus") or ""


def why_not_ready(isvc: dict[str, Any]) -> str:
    """The first condition that is not True (its reason and message), or the model's last failure."""
    failure = ((isvc.get("status") or {}).get("modelStatus") or {}).get("lastFailureInfo") or {}
    if failure:
        return ": ".join(p for p in (failure.get("reason"), failure.get("message")) if p)
    order = ("PredictorReady", "IngressReady", "Ready")
    conditions = sorted((c for c in (isvc.get("status") or {}).get("conditions") or [] if c.get("status") != "True"),
                        key=lambda c: order.index(c["type"]) if c.get("type") in order else -1)
    for cond in conditions:
        text = ": ".join(p for p in (cond.get("type"), cond.get("reason"), cond.get("message")) if p)
        if text:
            return text
    return "" if (isvc.get("status") or {}).get("conditions") else "no status yet: is KServe running?"


def failed_to_load(isvc: dict[str, Any]) -> bool:
    model = (isvc.get("status") or {}).get("modelStatus") or {}
    return (model.get("transitionStatus") == "BlockedByFailedLoad"
            or (model.get("states") or {}).get("targetModelState") == "FailedToLoad")


def state(isvc: dict[str, Any]) -> str:
    if is_stopped(isvc):
        return "Stopped"
    if w.is_true(isvc, "Ready"):
        return "Ready"
    return "Failed" if failed_to_load(isvc) else "NotReady"


def ls_row(isvc: dict[str, Any]) -> list[Any]:
    meta = isvc.get("metadata") or {}
    ready = w.condition(isvc, "Ready")
    return [meta.get("name", ""), (ready or {}).get("status", "Unknown"), state(isvc), url(isvc), model_state(isvc),
            d.age(meta.get("creationTimestamp")), "" if state(isvc) == "Ready" else why_not_ready(isvc)]


# ---- create, stop, start, describe -------------------------------------------------------------------------


def manifest(name: str, namespace: str, model_format: str, storage_uri: str, runtime: str | None,
             protocol: str | None) -> dict[str, Any]:
    """An InferenceService for a model in a store, in KServe's model-format form."""
    fmt, _, version = model_format.partition(":")
    model: dict[str, Any] = {"modelFormat": {"name": fmt, **({"version": version} if version else {})},
                             "storageUri": storage_uri}
    if runtime:
        model["runtime"] = runtime
    if protocol:
        model["protocolVersion"] = protocol
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"predictor": {"model": model}}}


def create(event: dict[str, Any], req: fnkit.Request, api: Any, res: d.Resource, name: str) -> dict[str, Any]:
    ns = req.namespace
    file, fmt, uri = req.arg("file"), req.arg("model_format"), req.arg("storage_uri")
    if file and (fmt or uri):
        raise fnkit.FunctionError("Usage", f"give {file} or --model-format/--storage-uri, not both")
    if file:
        isvc = w.load_input(event, req, file, FILE_KINDS, name, "serve")
    elif fmt and uri:
        if not str(uri).startswith(SCHEMES):
            raise fnkit.FunctionError("Usage", f"--storage-uri {uri} is not a URI kserve reads",
                                      hint=f"start it with one of {', '.join(SCHEMES)}")
        isvc = manifest(name, ns, fmt, uri, req.arg("runtime"), req.arg("protocol"))
    else:
        raise fnkit.FunctionError("Usage", "serve needs a file, or --model-format and --storage-uri",
                                  hint="serve NAME --model-format sklearn --storage-uri gs://bucket/model")
    w.check_and_create(api, res, ns, isvc, f"inference service {name}")
    if req.arg("no_wait"):
        return fnkit.message(f"inference service {name} created; `serve describe {name}` shows when it is ready")

    def read() -> dict[str, Any]:
        return w.get(api, res, ns, name, "inference service")

    done = w.wait_until(read, lambda s: w.is_true(s, "Ready") or failed_to_load(s), float(req.arg("timeout", 300)),
                        f"inference service {name}", lambda s: f"not ready ({why_not_ready(s) or 'waiting'})")
    if not w.is_true(done, "Ready"):
        raise fnkit.FunctionError("Failed", f"inference service {name} cannot load its model: {why_not_ready(done)}",
                                  hint=f"see `serve describe {name}`")
    return fnkit.message(f"inference service {name} is ready: {url(done) or '(no URL yet)'}")


def stop_start(api: Any, res: d.Resource, ns: str, name: str, *, stop: bool) -> dict[str, Any]:
    isvc = w.get(api, res, ns, name, "inference service")
    if stop and is_stopped(isvc):
        raise fnkit.FunctionError("Conflict", f"inference service {name} is already stopped",
                                  hint="`serve start` it")
    if not stop and not is_stopped(isvc):
        return fnkit.message(f"inference service {name} is not stopped")
    w.merge_patch(api, res, ns, name, {"metadata": {"annotations": {STOP: "true" if stop else None}}})
    return fnkit.message(f"inference service {name} {'stopped' if stop else 'started'}")


def describe(isvc: dict[str, Any]) -> dict[str, Any]:
    meta, status = isvc.get("metadata") or {}, isvc.get("status") or {}
    info = {
        "name": meta.get("name"), "namespace": meta.get("namespace"), "state": state(isvc), "url": url(isvc),
        "whyNotReady": "" if state(isvc) == "Ready" else why_not_ready(isvc),
        "predictor": ((isvc.get("spec") or {}).get("predictor") or {}).get("model")
        or (isvc.get("spec") or {}).get("predictor"),
        "deploymentMode": (meta.get("annotations") or {}).get("serving.kserve.io/deploymentMode"),
        "modelStatus": status.get("modelStatus"), "conditions": w.conditions_view(isvc),
        "created": meta.get("creationTimestamp"),
    }
    return {k: v for k, v in info.items() if v not in (None, "", [], {})}
