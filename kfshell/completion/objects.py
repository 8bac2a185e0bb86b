"""Turning API objects (plain dicts) into completion items with a one-line description: kind and status
(the age is added when the menu is shown, from `created_at`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from kfshell.completion.snapshot import Item

# One object's contribution to the snapshot: source → items (a pod gives a pod and its containers).
Contribution = Mapping[str, tuple[Item, ...]]
Converter = Callable[[Mapping[str, Any]], Contribution]


def created_at(obj: Mapping[str, Any]) -> float | None:
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def status_word(obj: Mapping[str, Any]) -> str:
    """A one-word status for any object: Terminating, its newest true condition, its phase, or readiness."""
    from kfshell.discovery import latest_condition

    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    status = obj.get("status") or {}
    condition = latest_condition(obj)
    if condition:
        return str(condition)
    if status.get("phase"):
        return str(status["phase"])
    if "readyReplicas" in status or "replicas" in status:
        return "Ready" if (status.get("readyReplicas") or 0) > 0 else "NotReady"
    return ""


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _line(*parts: str) -> str:
    return "  ".join(part for part in parts if part)


def pod_status(pod: Mapping[str, Any]) -> str:
    """What `kubectl get pods` shows in STATUS: a waiting container's reason beats the phase."""
    if _meta(pod).get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("phase") or "Unknown")


def convert_pod(pod: Mapping[str, Any]) -> Contribution:
    meta = _meta(pod)
    name = meta.get("name", "")
    namespace = meta.get("namespace")
    spec = pod.get("spec") or {}
    containers = tuple(
        Item(c.get("name", ""), _line(label, c.get("image", "")), namespace, parent=name)
        for label, key in (("Container", "containers"), ("Init container", "initContainers"))
        for c in spec.get(key) or []
    )
    pod_item = Item(name, _line("Pod", pod_status(pod)), namespace, created_at=created_at(pod))
    return {"pods": (pod_item,), "containers": containers}


def convert_namespace(obj: Mapping[str, Any]) -> Contribution:
    meta = _meta(obj)
    phase = (obj.get("status") or {}).get("phase") or ""
    return {"namespaces": (Item(meta.get("name", ""), _line("Namespace", phase), created_at=created_at(obj)),)}


def convert_component(obj: Mapping[str, Any]) -> Contribution:
    from kfshell.discovery import is_component, to_component

    if not is_component(obj):
        return {}
    component = to_component(obj)
    description = _line("Component", f"{component.ready}/{component.desired}", component.namespace)
    return {"components": (Item(component.name, description, component.namespace,
                                created_at=created_at(obj)),)}


def custom_converter(source: str, kind: str) -> Converter:
    """Items of a Kubeflow resource: `Notebook  Running`, `TFJob  Succeeded`, ..."""

    def convert(obj: Mapping[str, Any]) -> Contribution:
        meta = _meta(obj)
        item = Item(meta.get("name", ""), _line(kind, status_word(obj)), meta.get("namespace"),
                    created_at=created_at(obj))
        return {source: (item,)}

    return convert
