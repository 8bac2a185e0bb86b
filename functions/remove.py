"""`remove`: take a component out of the current namespace: its Deployments, StatefulSets, Services and
ConfigMaps, found by the component's Kubeflow label (the same labels `status list` names components by).

The client confirms first (`confirm` in the spec; `-y/--yes` for scripts), after a dry run has found something
to remove; `-d` shows what would go and is never asked about. A workload that a Kubeflow resource owns (a
Notebook's StatefulSet) is refused, naming the resource to delete instead. The `component` argument
completes from `namespace-components`: the same components this function accepts.
"""

from __future__ import annotations

import re
from typing import Any

from kfshell import discovery as d
from kfshell import fnkit

KF_COMMAND = {
    "name": "remove",
    "help": "remove a component's Deployments, Services and ConfigMaps from the current namespace",
    "timeout": 60,
    "confirm": "remove component {component} (its Deployments, Services and ConfigMaps)",
    "requires": [{"verb": "delete", "group": "apps", "resource": "deployments", "namespace": "$namespace"}],
    "arguments": [
        {"name": "component", "help": "the component to remove", "required": True, "complete": "namespace-components"},
        {"name": "dry_run", "kind": "flag", "flags": ["-d", "--dry-run"],
         "help": "remove nothing; show what would be removed"},
        {"name": "yes", "kind": "flag", "flags": ["-y", "--yes"], "help": "do not ask for confirmation"},
    ],
}

COLUMNS = ["KIND", "NAME", "NAMESPACE", "RESULT"]
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)")
_PATHS = {
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "StatefulSet": "/apis/apps/v1/namespaces/{ns}/statefulsets",
    "Service": "/api/v1/namespaces/{ns}/services",
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
}


def selector_for(component: str, workloads: list[dict[str, Any]]) -> str | None:
    """The label selector that picks `component`'s objects: the most specific Kubeflow label whose value is
    the component's name on some workload, else the first such label of a workload named `component`."""
    for key in d.COMPONENT_LABELS:
        if any(((w.get("metadata") or {}).get("labels") or {}).get(key) == component for w in workloads):
            return f"{key}={component}"
    for w in workloads:
        meta = w.get("metadata") or {}
        if meta.get("name") == component:
            labels = meta.get("labels") or {}
            key = next((k for k in d.COMPONENT_LABELS if labels.get(k)), None)
            return f"{key}={labels[key]}" if key else None
    return None


@fnkit.entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from kfshell.cluster import request_json

    req = fnkit.request(event)
    component = str(req.arg("component", ""))
    if not _LABEL_VALUE.fullmatch(component):
        raise fnkit.FunctionError("Usage", f"{component!r} is not a component name",
                                  hint="a label value: letters, digits, '-', '_', '.', at most 63 characters")
    ns = req.namespace
    api = fnkit.api_client(event)
    workloads = [{**o, "kind": kind} for kind in ("Deployment", "StatefulSet")
                 for o in d.list_objects(api, _PATHS[kind].format(ns=ns))]
    # What remove accepts is what `components` completion offers here: the namespace's Kubeflow components
    # (kfshell.discovery.is_component), never a workload that a Kubeflow resource owns.
    mine = [w for w in workloads if d.is_component(w) and d.to_component(w).matches(component)]
    if not mine:
        owned = owner_of(component, workloads)
        if owned is not None:
            raise refuse_owned(component, ns, *owned)
        names = {d.to_component(w).name for w in workloads if d.is_component(w)}
        raise fnkit.not_found("component", component, names, ns)
    selector = selector_for(component, mine)
    if selector is None:
        raise fnkit.not_found("component", component, set(), ns)
    found = d.parallel(lambda kind: (kind, d.list_objects(api, _PATHS[kind].format(ns=ns), selector=selector)),
                       list(_PATHS))
    dry_run = bool(req.arg("dry_run"))
    rows = []
    for kind, objects in found:
        for obj in objects:
            if _kubeflow_owner(obj) is not None:
                continue  # its owner (a Notebook, a Tensorboard ...) would only make it again
            name = obj["metadata"]["name"]
            # With a DeleteOptions body the server ignores query parameters: dryRun goes in the body.
            options: dict[str, Any] = {"propagationPolicy": "Background"}
            if dry_run:
                options["dryRun"] = ["All"]
            request_json(api, "DELETE", f"{_PATHS[kind].format(ns=ns)}/{name}", body=options)
            rows.append([kind, name, ns, "would be removed" if dry_run else "removed"])
    return fnkit.table(COLUMNS, rows)


def _kubeflow_owner(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The controlling owner of `obj` when it is a Kubeflow resource (not a Deployment or ReplicaSet)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("apiVersion", "").split("/")[0] not in ("apps", "v1"):
            return ref
    return None


def owner_of(name: str, workloads: list[dict[str, Any]]) -> tuple[str, str, dict[str, Any]] | None:
    """(kind, name, owner reference) of the workload called `name` (or made for a resource called `name`)
    that a Kubeflow resource owns; None when there is none."""
    for w in workloads:
        meta = w.get("metadata") or {}
        if name not in (meta.get("name"), (meta.get("labels") or {}).get("notebook-name")):
            continue
        owner = _kubeflow_owner(w)
        made_for = (meta.get("labels") or {}).get("notebook-name")
        if owner is None and made_for:  # the notebook controller's label, where no owner reference was kept
            owner = {"apiVersion": "kubeflow.org/v1", "kind": "Notebook", "name": made_for}
        if owner is not None:
            return w.get("kind", "workload"), meta.get("name", name), owner
    return None


def refuse_owned(component: str, namespace: str, kind: str, name: str, owner: dict[str, Any]) -> Exception:
    group = owner.get("apiVersion", "").split("/")[0]
    plural = owner.get("kind", "").lower() + "s"
    return fnkit.FunctionError(
        "Refused",
        f"{component} is not a component: {kind} {name} belongs to {owner.get('kind')} {owner.get('name')}, "
        "which would make it again",
        hint=f"remove the {owner.get('kind')} itself: kubectl delete {plural}.{group} {owner.get('name')} "
             f"-n {namespace}")
