"""kf's built-in functions (the modules of the `functions` package) as Kubeless Function objects.

Rendered as kf deploys any subcommand (kfshell/command_store.py's `function_manifest`, devcluster/fnhost.py's
`function_object`): the module's source in `spec.function`, its checksum, the KF_COMMAND in the annotation
`kf.kubeflow.org/spec`, the label `kf.kubeflow.org/subcommand`. Built-ins also run as the service account
`kf-functions` (spec.deployment), which may review the caller's token and impersonate them
(kfshell/runtime/caller.py): without it a built-in cannot act as anybody.
`kf admin install` and `python -m devcluster functions up` apply the same objects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

NAMESPACE = "kf-system"
SERVICE_ACCOUNT = "kf-functions"  # kfshell/admin/rbac.py gives it its rights
SUBCOMMAND_LABEL = "kf.kubeflow.org/subcommand"
SPEC_ANNOTATION = "kf.kubeflow.org/spec"
RUNTIME = "python3.11"


def builtin_modules() -> list[tuple[str, dict[str, Any], str]]:
    """(module name, KF_COMMAND, source) of every built-in function module: one with a KF_COMMAND dict and
    a handler."""
    import functions as package  # kf's functions/, installed beside kfshell

    found = []
    for module_name in package.module_names():
        module = package.load(module_name)
        spec = getattr(module, "KF_COMMAND", None)
        if not isinstance(spec, dict) or not callable(getattr(module, "handler", None)):
            continue
        found.append((module_name, spec, Path(str(module.__file__)).read_text(encoding="utf-8")))
    return found


def function_name(module_name: str) -> str:
    """The Function's (and its Service's) name: a DNS label, so `_` becomes `-`."""
    return module_name.replace("_", "-")


def builtin_functions(image: str | None = None, *, namespace: str = NAMESPACE,
                      labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every built-in function as a kubeless.io/v1beta1 Function in `namespace`.

    image: pin the function's container to this image (default: the controller's runtime image);
    labels: more labels for each Function (the controller copies a Function's labels to what it makes).
    """
    return [function_object(module_name, spec, source, image=image, namespace=namespace, labels=labels)
            for module_name, spec, source in builtin_modules()]


def function_object(module_name: str, spec: Mapping[str, Any], source: str, *, image: str | None = None,
                    namespace: str = NAMESPACE, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One built-in module as a Function."""
    name = function_name(module_name)
    pod: dict[str, Any] = {"serviceAccountName": SERVICE_ACCOUNT}
    if image:
        pod["containers"] = [{"name": name, "image": image}]  # Kubeless merges the first container into its own
    return {
        "apiVersion": "kubeless.io/v1beta1",
        "kind": "Function",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {SUBCOMMAND_LABEL: str(spec["name"]), "created-by": "kf", **(labels or {})},
            "annotations": {SPEC_ANNOTATION: json.dumps(dict(spec))},
        },
        "spec": {
            "runtime": RUNTIME,
            "handler": f"{module_name}.handler",
            "function": source,
            "function-content-type": "text",
            "checksum": "sha256:" + hashlib.sha256(source.encode()).hexdigest(),
            "deps": "",
            "timeout": f"{int(spec.get('timeout') or 30)}",
            "deployment": {"spec": {"template": {"spec": pod}}},
        },
    }
