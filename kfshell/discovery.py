"""What runs on the cluster, as Kubeflow sees it: API discovery, components, notebooks, jobs, services.

Objects are plain dicts from `cluster.request_json`. Kinds whose CRD is not installed, and lists the user may
not read, are skipped rather than failing the whole answer: `Listing.skipped` says what was left out.
The pure helpers (labels, ages, versions, selectors) are tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kfshell.cluster import Client as ApiClient

KUBEFLOW_NAMESPACE = "kubeflow"

# Labels the Kubeflow manifests put on a component's objects, most specific first: the first one present
# names the component (kfp's `app: ml-pipeline-ui` beats its suite-wide `app.kubernetes.io/name`).
COMPONENT_LABELS = ("app", "app.kubernetes.io/name", "kustomize.component", "control-plane",
                    "app.kubernetes.io/component")
PART_OF = "app.kubernetes.io/part-of"
VERSION_LABEL = "app.kubernetes.io/version"
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
_WORKLOAD_PATHS = {"Deployment": "deployments", "StatefulSet": "statefulsets"}


@dataclass(frozen=True)
class Kind:
    """A Kubeflow custom resource kf knows, with the API versions it accepts in order of preference."""

    kind: str
    group: str
    plural: str
    versions: tuple[str, ...]
    namespaced: bool = True
    label: str = ""  # how `status list` names it (notebook, tfjob, ...)


KINDS: Mapping[str, Kind] = {
    "notebooks": Kind("Notebook", "kubeflow.org", "notebooks", ("v1", "v1beta1", "v1alpha1"), label="notebook"),
    "trainjobs": Kind("TrainJob", "trainer.kubeflow.org", "trainjobs", ("v1alpha1",), label="trainjob"),
    "tfjobs": Kind("TFJob", "kubeflow.org", "tfjobs", ("v1",), label="tfjob"),
    "pytorchjobs": Kind("PyTorchJob", "kubeflow.org", "pytorchjobs", ("v1",), label="pytorchjob"),
    "inferenceservices": Kind("InferenceService", "serving.kserve.io", "inferenceservices", ("v1beta1",),
                              label="inferenceservice"),
    "tensorboards": Kind("Tensorboard", "tensorboard.kubeflow.org", "tensorboards", ("v1alpha1",),
                         label="tensorboard"),
    "profiles": Kind("Profile", "kubeflow.org", "profiles", ("v1", "v1beta1"), namespaced=False,
                     label="profile"),
}
JOB_KINDS = ("trainjobs", "tfjobs", "pytorchjobs")
# Present (any value): the notebook is stopped; the controller keeps its StatefulSet at 0 replicas.
NOTEBOOK_STOPPED = "kubeflow-resource-stopped"


@dataclass(frozen=True)
class Resource:
    """One served API resource: enough to build its URL."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


@dataclass(frozen=True)
class Discovery:
    """The resources the cluster serves, by (group, version, kind) and by (group, plural)."""

    resources: tuple[Resource, ...]

    def by_kind(self, api_version: str, kind: str) -> Resource | None:
        group, _, version = api_version.rpartition("/")
        for res in self.resources:
            if res.group == group and res.version == version and res.kind == kind:
                return res
        return None

    def find(self, kind: Kind) -> Resource | None:
        """The served version of a known Kubeflow kind, the most preferred first; None when not installed."""
        served = {r.version: r for r in self.resources if r.group == kind.group and r.plural == kind.plural}
        for version in kind.versions:
            if version in served:
                return served[version]
        return next(iter(served.values()), None)


@dataclass(frozen=True)
class Listing:
    """Objects found, plus what could not be looked at (kind not installed, or not allowed) and why."""

    items: tuple[dict[str, Any], ...] = ()
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Component:
    """A Kubeflow component: one Deployment or StatefulSet, named by its Kubeflow labels."""

    name: str
    namespace: str
    kind: str
    workload: str
    labels: Mapping[str, str]
    ready: int
    desired: int
    created: str | None
    images: tuple[str, ...]
    selector: Mapping[str, Any] = field(repr=False)
    template_labels: Mapping[str, str] = field(repr=False)

    @property
    def version(self) -> str:
        return self.labels.get(VERSION_LABEL) or (image_version(self.images[0]) if self.images else "")

    def matches(self, query: str) -> bool:
        """Whether `query` names this component: its name, its workload's name, or an identifying label."""
        if query in (self.name, self.workload):
            return True
        return any(self.labels.get(key) == query for key in COMPONENT_LABELS)


# ---- pure helpers ---------------------------------------------------------------------------------------


def component_name(labels: Mapping[str, str], fallback: str) -> str:
    """The component a workload belongs to: its most specific Kubeflow label, else its own name."""
    for key in COMPONENT_LABELS:
        if labels.get(key):
            return labels[key]
    return fallback


def is_component(obj: Mapping[str, Any], kubeflow_namespace: str = KUBEFLOW_NAMESPACE) -> bool:
    """Whether a Deployment/StatefulSet counts as a Kubeflow component.

    Everything in the `kubeflow` namespace does; elsewhere a workload must say it is part of Kubeflow
    (`app.kubernetes.io/part-of: kubeflow…`, `kustomize.component` or `app.kubernetes.io/component`).
    Workloads a Kubeflow resource made (a Notebook's StatefulSet, a Tensorboard's Deployment) are not
    components: `status list` shows the resource itself.
    """
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    if any(ref.get("controller") and ref.get("apiVersion", "").split("/")[0] not in ("apps", "v1")
           for ref in meta.get("ownerReferences") or []):
        return False
    if "notebook-name" in labels:
        return False
    if meta.get("namespace") == kubeflow_namespace:
        return True
    return ("kubeflow" in labels.get(PART_OF, "") or "kustomize.component" in labels
            or "app.kubernetes.io/component" in labels)


def image_version(image: str) -> str:
    """The version an image reference carries: its tag, else a short digest, else "latest"."""
    if not image:
        return ""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]  # a registry port (host:5000/x) is not a tag
    if ":" in last:
        return last.split(":", 1)[1]
    if digest:
        algo, _, hexits = digest.partition(":")
        return f"{algo}:{hexits[:12]}" if hexits else digest
    return "latest"


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp from the API (`2024-05-01T10:00:00Z`, maybe with fractions), or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_age(seconds: float) -> str:
    """A duration the way kubectl shows ages: 45s, 3m20s, 17m, 5h3m, 36h, 4d2h, 120d, 3y20d."""
    s = int(seconds)
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    if years < 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"


def age(timestamp: str | None, now: datetime | None = None) -> str:
    """How long ago an API timestamp was, formatted; "<unknown>" without one."""
    when = parse_time(timestamp)
    if when is None:
        return "<unknown>"
    now = now or datetime.now(timezone.utc)
    return format_age((now - when).total_seconds())


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy a LabelSelector (matchLabels and matchExpressions). None/empty matches none."""
    if not selector:
        return False
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in expressions:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def label_selector(labels: Mapping[str, str]) -> str:
    """`a=b,c=d` for the API's labelSelector parameter."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def to_component(obj: Mapping[str, Any]) -> Component:
    """A Component from a Deployment or StatefulSet dict."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    template = spec.get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    labels = meta.get("labels") or {}
    return Component(
        name=component_name(labels, meta.get("name", "")), namespace=meta.get("namespace", ""),
        kind=obj.get("kind") or "Deployment", workload=meta.get("name", ""), labels=labels,
        ready=int(status.get("readyReplicas") or 0),
        desired=int(spec["replicas"]) if spec.get("replicas") is not None else 1,
        created=meta.get("creationTimestamp"), images=tuple(c.get("image", "") for c in containers),
        selector=spec.get("selector") or {}, template_labels=(template.get("metadata") or {}).get("labels") or {})


def latest_condition(obj: Mapping[str, Any]) -> str | None:
    """The type of the most recent condition that is True (Running, Succeeded, Failed, Ready ...)."""
    conditions = [c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
    if not conditions:
        return None
    conditions.sort(key=lambda c: c.get("lastTransitionTime") or c.get("lastUpdateTime") or "")
    return conditions[-1].get("type")


def notebook_state(nb: dict[str, Any], now: datetime | None = None) -> tuple[str, str]:
    """A Notebook's state as the Jupyter web app computes it: (phase, why).

    phase is ready, waiting, warning, terminating, stopped or stopping; why is the reason behind it.
    """
    meta, status = nb.get("metadata") or {}, nb.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    if meta.get("deletionTimestamp"):
        return "terminating", "deleting this notebook server"
    if NOTEBOOK_STOPPED in (meta.get("annotations") or {}):
        if ready == 0:
            return "stopped", "no pods are running for this notebook server"
        return "stopping", "the notebook server is stopping"
    if ready >= 1:
        return "ready", "running"
    container = status.get("containerState") or {}
    waiting = container.get("waiting")
    if waiting is not None:
        reason = (waiting or {}).get("reason") or "Waiting"
        if reason in ("PodInitializing", "ContainerCreating"):
            return "waiting", reason
        message = (waiting or {}).get("message")
        return "warning", f"{reason}: {message}" if message else reason
    if "terminated" in container:
        ended = container["terminated"] or {}
        return "warning", f"{ended.get('reason') or 'Terminated'}: {ended.get('message') or 'the container ended'}"
    for cond in status.get("conditions") or []:
        if cond.get("reason") and cond.get("status") != "True" or cond.get("type") == "Terminated":
            return "warning", f"{cond.get('reason') or cond.get('type')}: {cond.get('message') or ''}".rstrip(": ")
    if not container and not status.get("conditions"):
        when = parse_time(meta.get("creationTimestamp"))
        now = now or datetime.now(timezone.utc)
        if when is not None and (now - when).total_seconds() > 600:
            return "warning", "no status after 10 minutes: is the notebook controller running?"
        return "waiting", "waiting for the StatefulSet to create the pod"
    return "waiting", "scheduling the pod"


def condition_is(obj: Mapping[str, Any], kind: str) -> bool | None:
    """Whether condition `kind` is True; None when the object has no such condition."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond.get("status") == "True"
    return None


# ---- talking to the cluster -----------------------------------------------------------------------------

_AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
               "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


def discover(api: ApiClient) -> Discovery:
    """Every resource the cluster serves: two aggregated-discovery calls, or the per-group walk on old servers."""
    from kfshell.cluster import request_json

    answers = parallel(lambda p: request_json(api, "GET", p, headers={"Accept": _AGGREGATED}), ("/api", "/apis"))
    resources: list[Resource] = []
    legacy: list[str] = []
    for answer, prefix in zip(answers, ("/api", "/apis"), strict=True):
        if answer.get("kind") == "APIGroupDiscoveryList":
            resources.extend(_from_aggregated(answer))
        elif prefix == "/api":
            legacy.extend(f"/api/{v}" for v in answer.get("versions") or ["v1"])
        else:
            legacy.extend(f"/apis/{v['groupVersion']}" for g in answer.get("groups") or []
                          for v in g.get("versions") or [])
    for found in parallel(lambda p: _group_version(api, p), legacy, workers=8):
        resources.extend(found)
    return Discovery(resources=tuple(resources))


def _from_aggregated(answer: Mapping[str, Any]) -> list[Resource]:
    found = []
    for group in answer.get("items") or []:
        name = (group.get("metadata") or {}).get("name", "")
        for version in group.get("versions") or []:
            for res in version.get("resources") or []:
                found.append(Resource(group=name, version=version.get("version", ""),
                                      kind=(res.get("responseKind") or {}).get("kind", ""),
                                      plural=res.get("resource", ""), namespaced=res.get("scope") == "Namespaced"))
    return found


def _group_version(api: ApiClient, path: str) -> list[Resource]:
    from kfshell.cluster import ApiError, request_json

    try:
        answer = request_json(api, "GET", path)
    except ApiError:
        return []  # an aggregated API that is down must not hide the rest
    group, _, version = answer.get("groupVersion", "").rpartition("/")
    return [Resource(group=group, version=version, kind=r.get("kind", ""), plural=r["name"],
                     namespaced=bool(r.get("namespaced"))) for r in answer.get("resources") or []
            if "/" not in r.get("name", "/")]


def list_objects(api: ApiClient, path: str, *, selector: str | None = None,
                 field_selector: str | None = None) -> list[dict[str, Any]]:
    """The items of a list call, each with its `kind` filled in (list items come without it)."""
    from kfshell.cluster import request_json

    answer = request_json(api, "GET", path, query={"labelSelector": selector, "fieldSelector": field_selector})
    kind = (answer.get("kind") or "").removesuffix("List")
    items = answer.get("items") or []
    for item in items:
        item.setdefault("kind", kind)
    return items


def try_list(api: ApiClient, path: str, what: str, **selectors: str | None) -> Listing:
    """`list_objects`, but a kind that is not installed (404) or not allowed (403) is skipped, not raised."""
    from kfshell.cluster import ApiError

    try:
        return Listing(items=tuple(list_objects(api, path, **selectors)))
    except ApiError as err:
        if err.status == 404:
            return Listing(skipped=(f"{what}: not installed",))
        if err.status == 403:
            return Listing(skipped=(f"{what}: not allowed",))
        raise


def list_kind(api: ApiClient, discovery: Discovery, kind_key: str, namespace: str | None) -> Listing:
    """Objects of a known Kubeflow kind in `namespace`; skipped when its CRD is absent or listing is denied."""
    kind = KINDS[kind_key]
    resource = discovery.find(kind)
    where = f" in {namespace}" if namespace and kind.namespaced else ""
    if resource is None:
        return Listing(skipped=(f"{kind.plural}.{kind.group}: not installed",))
    return try_list(api, resource.path(namespace), f"{kind.plural}{where}")


def list_components(api: ApiClient, namespaces: Iterable[str]) -> tuple[list[Component], tuple[str, ...]]:
    """Kubeflow components (Deployments, StatefulSets) in the namespaces, and what was skipped."""
    calls = [(ns, kind) for ns in dict.fromkeys(namespaces) for kind in WORKLOAD_KINDS]
    listings = parallel(lambda c: try_list(api, f"/apis/apps/v1/namespaces/{c[0]}/{_WORKLOAD_PATHS[c[1]]}",
                                           f"{_WORKLOAD_PATHS[c[1]]} in {c[0]}"), calls)
    found: list[Component] = []
    skipped: list[str] = []
    for (_, kind), listing in zip(calls, listings, strict=True):
        # StatefulSets are rare in Kubeflow and often not readable where Deployments are: say nothing.
        if kind == "Deployment":
            skipped.extend(listing.skipped)
        found.extend(to_component(o) for o in listing.items if is_component(o))
    found.sort(key=lambda c: (c.namespace != KUBEFLOW_NAMESPACE, c.namespace, c.name, c.workload))
    return found, tuple(skipped)


def parallel(call: Callable[[Any], Any], inputs: Sequence[Any], workers: int = 6) -> list[Any]:
    """`call` over `inputs` on a few threads (API calls wait on the network, not the CPU), in order."""
    from kfshell.cluster import parallel as run_parallel

    return run_parallel(call, inputs, workers)


def component_namespaces(namespace: str | None) -> list[str]:
    """Where components are looked for: `kubeflow`, then the current namespace."""
    return list(dict.fromkeys([KUBEFLOW_NAMESPACE] + ([namespace] if namespace else [])))
