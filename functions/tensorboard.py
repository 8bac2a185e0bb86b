"""`tensorboard`: TensorBoard servers (`tensorboard.kubeflow.org/v1alpha1` Tensorboard) over training logs.

`tensorboard NAME --logspath pvc://PVC/PATH` (or gs://, s3://) or `tensorboard NAME FILE`: the logs path is
checked (a PVC that is not there is named) and the object dry-run on the server before it is created.
"""

from __future__ import annotations

from typing import Any

from kfshell import discovery as d
from kfshell import fnkit
from kfshell import workloads as w

KF_COMMAND = {
    "name": "tensorboard",
    "help": "TensorBoard servers: tensorboard NAME --logspath pvc://PVC/PATH | tensorboard NAME FILE; ls, delete",
    "timeout": 60,
    "requires": [{"verb": "list", "group": "tensorboard.kubeflow.org", "resource": "tensorboards",
                  "namespace": "$namespace"}],
    "subcommands": [
        {"name": "create", "default": True, "help": "a Tensorboard reading logs from a PVC or an object store",
         "requires": [{"verb": "create", "group": "tensorboard.kubeflow.org", "resource": "tensorboards",
                       "namespace": "$namespace"}],
         "arguments": [
             {"name": "name", "help": "the tensorboard's name (a DNS-1123 label)", "required": True},
             {"name": "file", "help": "a YAML file with one Tensorboard", "complete": "files"},
             {"name": "logspath", "kind": "option", "flags": ["--logspath"],
              "help": "where the logs are: pvc://PVC/PATH, gs://BUCKET/PATH or s3://BUCKET/PATH"},
         ]},
        {"name": "ls", "help": "tensorboards: logs path, ready, age, URL path"},
        {"name": "delete", "help": "delete a tensorboard (the logs stay)", "confirm": "delete tensorboard {name}",
         "requires": [{"verb": "delete", "group": "tensorboard.kubeflow.org", "resource": "tensorboards",
                       "namespace": "$namespace"}],
         "arguments": [{"name": "name", "help": "the tensorboard", "required": True, "complete": "tensorboards"},
                       {"name": "yes", "kind": "flag", "flags": ["-y", "--yes"], "help": "do not ask"}]},
    ],
}

FILE_KINDS = {"tensorboard.kubeflow.org/v1alpha1/Tensorboard": "Tensorboard"}
SCHEMES = ("pvc://", "gs://", "s3://", "/cns/")
COLUMNS = ["NAME", "LOGSPATH", "STATE", "AGE", "URL"]


@fnkit.entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = fnkit.request(event)
    api = fnkit.api_client(event)
    res = w.resource(api, d.KINDS["tensorboards"])
    sub = req.subcommand or "create"
    ns = req.namespace
    if sub == "ls":
        return fnkit.table(COLUMNS, [ls_row(t) for t in sorted(w.listed(api, res, ns),
                                                               key=lambda o: o["metadata"]["name"])])
    name = fnkit.check_name(str(req.arg("name", "")), "tensorboard")
    if sub == "create":
        return create(event, req, api, res, name)
    if sub == "delete":
        w.delete(api, res, ns, name, "tensorboard")
        return fnkit.message(f"tensorboard {name} deleted (its logs stay)")
    raise fnkit.FunctionError("Usage", f"unknown subcommand 'tensorboard {sub}'", hint="use create, ls or delete")


def url_path(namespace: str, name: str) -> str:
    return f"/tensorboard/{namespace}/{name}/"


def state(tb: dict[str, Any]) -> str:
    status = tb.get("status") or {}
    if (tb.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    if int(status.get("readyReplicas") or 0) >= 1:
        return "Ready"
    conditions = status.get("conditions") or []
    latest = conditions[-1].get("deploymentState") if conditions else None
    return f"Waiting ({latest})" if latest else "Waiting"


def ls_row(tb: dict[str, Any]) -> list[Any]:
    meta = tb.get("metadata") or {}
    return [meta.get("name", ""), (tb.get("spec") or {}).get("logspath", ""), state(tb),
            d.age(meta.get("creationTimestamp")), url_path(meta.get("namespace", ""), meta.get("name", ""))]


def pvc_of(logspath: str) -> str | None:
    """The claim a `pvc://NAME/PATH` logs path reads from; None for object stores."""
    if not logspath.startswith("pvc://"):
        return None
    return logspath.removeprefix("pvc://").split("/", 1)[0] or None


def check_logspath(logspath: str) -> str:
    if not logspath.startswith(SCHEMES):
        raise fnkit.FunctionError("Usage", f"--logspath {logspath} is not a logs path Kubeflow reads",
                                  hint="pvc://PVC/PATH, gs://BUCKET/PATH or s3://BUCKET/PATH")
    if logspath.startswith("pvc://") and pvc_of(logspath) is None:
        raise fnkit.FunctionError("Usage", f"--logspath {logspath} names no PVC", hint="pvc://PVC/PATH")
    return logspath


def create(event: dict[str, Any], req: fnkit.Request, api: Any, res: d.Resource, name: str) -> dict[str, Any]:
    from kfshell.cluster import ApiError, request_json

    ns = req.namespace
    file, logspath = req.arg("file"), req.arg("logspath")
    if file and logspath:
        raise fnkit.FunctionError("Usage", f"give {file} or --logspath, not both")
    if file:
        tb = w.load_input(event, req, file, FILE_KINDS, name, "tensorboard")
    elif logspath:
        tb = {"apiVersion": "tensorboard.kubeflow.org/v1alpha1", "kind": "Tensorboard",
              "metadata": {"name": name, "namespace": ns}, "spec": {"logspath": check_logspath(str(logspath))}}
    else:
        raise fnkit.FunctionError("Usage", "tensorboard needs --logspath or a file",
                                  hint="tensorboard NAME --logspath pvc://PVC/PATH")
    claim = pvc_of(str((tb.get("spec") or {}).get("logspath") or ""))
    if claim:
        try:
            request_json(api, "GET", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}")
        except ApiError as err:
            if err.status == 404:
                raise fnkit.FunctionError("NotFound", f"PVC {claim} not found in namespace {ns}",
                                          hint="the logs path must name a PVC the training wrote to") from None
            if err.status != 403:
                raise
    w.check_and_create(api, res, ns, tb, f"tensorboard {name}")
    return fnkit.message(f"tensorboard {name} created; URL path {url_path(ns, name)}")
