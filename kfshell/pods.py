"""From a name a user types (`status list`'s names) to the pods behind it, one pod, and one container.

A name may be a plain pod, a notebook (its StatefulSet's pod, label `notebook-name`), a training job
(Trainer's JobSet pods, label `jobset.sigs.k8s.io/jobset-name`; training-operator's,
`training.kubeflow.org/job-name`), an inference service (`serving.kserve.io/inferenceservice`), a
tensorboard or anything else whose pods carry `app: <name>`, or a Kubeflow component (its Deployment or
StatefulSet in `kubeflow` or the current namespace, through the workload's selector). One listing of the
namespace's pods answers all but the last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kfshell.errors import CommandFailed, UsageError

# Label → what it makes the name, most specific first.
OWNER_LABELS = (
    ("notebook-name", "notebook"),
    ("jobset.sigs.k8s.io/jobset-name", "trainjob"),
    ("trainer.kubeflow.org/trainjob-name", "trainjob"),
    ("training.kubeflow.org/job-name", "job"),
    ("serving.kserve.io/inferenceservice", "inferenceservice"),
    ("tensorboard-name", "tensorboard"),
    ("app", "app"),
)
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


@dataclass(frozen=True)
class Target:
    """What a name resolved to: a description for messages ("notebook mnist-notebook") and its pods."""

    name: str
    namespace: str
    what: str
    pods: tuple[dict[str, Any], ...]
    selector: str | None = None  # a label selector that finds its pods again (None: the one pod by name)

    @property
    def kind(self) -> str:
        return self.what.split(" ", 1)[0]


def pod_name(pod: Mapping[str, Any]) -> str:
    return (pod.get("metadata") or {}).get("name", "")


def is_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def phase(pod: Mapping[str, Any]) -> str:
    return (pod.get("status") or {}).get("phase") or "Unknown"


def newest_first(pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(pods, key=lambda p: ((p.get("metadata") or {}).get("creationTimestamp") or "", pod_name(p)),
                  reverse=True)


def pick_ready(target: Target) -> tuple[dict[str, Any], str | None]:
    """The newest Ready pod, and a note naming it when there was a choice; CommandFailed naming the
    candidates (and their phases) when none is Ready."""
    ready = [p for p in newest_first(target.pods) if is_ready(p)]
    if not ready:
        states = ", ".join(f"{pod_name(p)} ({phase(p)})" for p in newest_first(target.pods))
        raise CommandFailed(f"no pod of {target.what} is ready: {states}",
                            hint="wait until one is Running and Ready (`kf logs` shows why one is not)",
                            reason="NotReady")
    chosen = dict(ready[0])
    note = f"{target.what}: using pod {pod_name(chosen)} (the newest of {len(ready)} ready)" \
        if len(target.pods) > 1 else None
    return chosen, note


def containers(pod: Mapping[str, Any]) -> list[str]:
    """The pod's app containers (init and ephemeral containers are never offered)."""
    return [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]


def choose_container(pod: Mapping[str, Any], wanted: str | None, ask: Callable[[list[str]], str] | None) -> str:
    """The named container, else the pod's default-container annotation, else the only one, else `ask`
    (a terminal), else a UsageError naming the choices."""
    names = containers(pod)
    if wanted:
        if wanted not in names:
            from kfshell.names import did_you_mean

            raise UsageError(f"pod {pod_name(pod)} has no container {wanted}",
                             hint=did_you_mean(wanted, names) or f"it has: {', '.join(names)}")
        return wanted
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    if default in names:
        return default
    if len(names) == 1:
        return names[0]
    if ask is not None:
        return ask(names)
    raise UsageError(f"pod {pod_name(pod)} has {len(names)} containers: {', '.join(names)}",
                     hint="name the one you want after the pod")


def resolve(api: Any, namespace: str, name: str) -> Target:
    """The pods `name` stands for in `namespace` (or a Kubeflow component's, in `kubeflow` too).

    CommandFailed NotFound (with "did you mean") when nothing matches; API errors pass through.
    """
    from kfshell.discovery import list_objects

    pods = list_objects(api, f"/api/v1/namespaces/{namespace}/pods")
    for pod in pods:
        if pod_name(pod) == name:
            return Target(name, namespace, f"pod {name}", (pod,))
    for label, what in OWNER_LABELS:
        found = tuple(p for p in pods if ((p.get("metadata") or {}).get("labels") or {}).get(label) == name)
        if found:
            return Target(name, namespace, f"{what} {name}", found, selector=f"{label}={name}")
    component = _component(api, namespace, name)
    if component is not None:
        return component
    raise not_found(name, namespace, pods)


def _component(api: Any, namespace: str, name: str) -> Target | None:
    from kfshell.discovery import component_namespaces, label_selector, list_components, list_objects

    components, _skipped = list_components(api, component_namespaces(namespace))
    for component in components:
        if not component.matches(name):
            continue
        match = (component.selector or {}).get("matchLabels") or {}
        if not match:
            continue
        selector = label_selector(match)
        pods = list_objects(api, f"/api/v1/namespaces/{component.namespace}/pods", selector=selector)
        return Target(component.name, component.namespace, f"component {component.name}", tuple(pods),
                      selector=selector)
    return None


def not_found(name: str, namespace: str, pods: Sequence[Mapping[str, Any]]) -> CommandFailed:
    from kfshell.names import did_you_mean

    names = {pod_name(p) for p in pods}
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        names.update(labels[label] for label, _ in OWNER_LABELS if labels.get(label))
    return CommandFailed(f"nothing named {name} runs pods in {namespace}", reason="NotFound",
                         hint=did_you_mean(name, sorted(names)) or "`status list` shows what there is")


def require(api: Any, session: Any, namespace: str, verb: str, subresource: str, what: str) -> None:
    """Refuse at once, naming the permission, when the user may not `verb pods/subresource` here."""
    from kfshell import cluster

    try:
        allowed = cluster.can_i(api, verb, "pods", namespace=namespace, subresource=subresource)
    except Exception as exc:  # noqa: BLE001 - one translated line for every failure
        raise cluster.translate(exc) from exc
    if not allowed:
        try:
            user = cluster.whoami(api, fallback_user=session.user_name()).user or "you"
        except Exception:  # noqa: BLE001 - the name only makes the message friendlier
            user = session.user_name() or "you"
        raise CommandFailed(f"{user} may not {what}: it needs {verb} pods/{subresource} in namespace {namespace}",
                            hint="ask the namespace's owner for the kubeflow-edit role", reason="Forbidden")
