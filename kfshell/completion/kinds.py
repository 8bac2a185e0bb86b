"""Which kinds the cluster serves, from API discovery, looked up the way kubectl does: by plural, singular,
kind, short name, or group-qualified (`notebooks.kubeflow.org`, `nb`, `Notebook`).

The completion sources that list custom resources name their kinds group-qualified; a kind the cluster does
not serve resolves to nothing, so a cluster without a Kubeflow CRD simply offers no names for it. Discovery
also says which verbs a resource supports, so a kind that cannot be watched is re-listed instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from kfshell.completion.snapshot import Item

if TYPE_CHECKING:
    from kfshell.rest import RestClient as ApiClient

# Aggregated discovery (one call each for /api and /apis), falling back to the per-group documents.
_AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
               "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")

# What each completion source lists, group-qualified, in the order they are listed.
SOURCE_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "namespaces": ("namespaces",),
    "pods": ("pods",),
    "notebooks": ("notebooks.kubeflow.org",),
    "jobs": ("trainjobs.trainer.kubeflow.org", "tfjobs.kubeflow.org", "pytorchjobs.kubeflow.org"),
    "inferenceservices": ("inferenceservices.serving.kserve.io",),
    "tensorboards": ("tensorboards.tensorboard.kubeflow.org",),
})
# The kinds offered by the `kinds` source: Kubeflow's, and the built-in ones a data scientist meets.
KUBEFLOW_GROUPS = ("kubeflow.org", "trainer.kubeflow.org", "serving.kserve.io", "tensorboard.kubeflow.org",
                   "kubeless.io")
_CORE_KINDS = ("pods", "services", "deployments.apps", "statefulsets.apps", "jobs.batch", "configmaps",
               "secrets", "persistentvolumeclaims", "events", "namespaces")


@dataclass(frozen=True)
class Kind:
    """One served resource, at its preferred version."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def watchable(self) -> bool:
        return not self.verbs or "watch" in self.verbs

    def path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        return f"{base}/{self.plural}"


class KindTable:
    """Served kinds, resolvable by any of their names. Immutable once built."""

    def __init__(self, kinds: Iterable[Kind]) -> None:
        self.kinds: tuple[Kind, ...] = tuple(kinds)
        names: dict[str, Kind] = {}
        # Earlier entries win: the core group first, then groups in the server's preference order.
        for kind in self.kinds:
            for name in self._names(kind):
                names.setdefault(name, kind)
        self._by_name = names

    @staticmethod
    def _names(kind: Kind) -> list[str]:
        plain = [kind.plural, kind.singular, kind.kind.lower(), *kind.short_names]
        names = [name.lower() for name in plain if name]
        if kind.group:
            names += [f"{name}.{kind.group}" for name in names]
            names += [f"{kind.plural}.{kind.version}.{kind.group}"]
        return names

    def resolve(self, name: str) -> Kind | None:
        """The kind called `name` (plural, singular, Kind, short name, optionally `.group`), or None."""
        return self._by_name.get(name.lower())

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None

    def without(self, *names: str) -> KindTable:
        """The same table less some kinds (as on a cluster where their CRDs are not installed)."""
        dropped = {self.resolve(name) for name in names} - {None}
        return KindTable(kind for kind in self.kinds if kind not in dropped)

    def items(self) -> list[Item]:
        """`kinds` completion items: Kubeflow's kinds and the common built-in ones, plural and short names."""
        chosen = [kind for kind in self.kinds if kind.group in KUBEFLOW_GROUPS]
        chosen += [kind for name in _CORE_KINDS if (kind := self.resolve(name)) is not None]
        items = []
        for kind in dict.fromkeys(chosen):
            where = f"{kind.group}/{kind.version}" if kind.group else kind.version
            short = f"  short: {', '.join(kind.short_names)}" if kind.short_names else ""
            items.append(Item(kind.plural, f"{kind.kind}  {where}{short}"))
            items.extend(Item(name, f"{kind.kind}  {where}") for name in kind.short_names)
        return items


def parse_aggregated(answer: Mapping[str, Any]) -> list[Kind]:
    """Kinds from an `APIGroupDiscoveryList`, each group at its first (preferred) version."""
    kinds = []
    for group in answer.get("items") or []:
        name = (group.get("metadata") or {}).get("name", "")
        versions = group.get("versions") or []
        if not versions:
            continue
        preferred = versions[0]
        for res in preferred.get("resources") or []:
            kind = (res.get("responseKind") or {}).get("kind", "")
            kinds.append(Kind(
                group=name, version=preferred.get("version", ""), kind=kind, plural=res.get("resource", ""),
                singular=res.get("singularResource") or kind.lower(), namespaced=res.get("scope") == "Namespaced",
                short_names=tuple(res.get("shortNames") or ()), verbs=tuple(res.get("verbs") or ()),
            ))
    return kinds


def parse_resource_list(answer: Mapping[str, Any]) -> list[Kind]:
    """Kinds from one group-version's `APIResourceList` (the discovery of servers before aggregation)."""
    group, _, version = (answer.get("groupVersion") or "").rpartition("/")
    return [
        Kind(group=group, version=version, kind=res.get("kind", ""), plural=res["name"],
             singular=res.get("singularName") or res.get("kind", "").lower(), namespaced=bool(res.get("namespaced")),
             short_names=tuple(res.get("shortNames") or ()), verbs=tuple(res.get("verbs") or ()))
        for res in answer.get("resources") or []
        if "/" not in res.get("name", "/")  # subresources (pods/log) are not kinds
    ]


def discover_kinds(api: ApiClient) -> KindTable:
    """What the cluster serves now. Raises what the API calls raise (unreachable, refused)."""
    from kfshell.cluster import ApiError, request_json

    kinds: list[Kind] = []
    for root in ("/api", "/apis"):
        answer = request_json(api, "GET", root, headers={"Accept": _AGGREGATED})
        if answer.get("kind") == "APIGroupDiscoveryList":
            kinds.extend(parse_aggregated(answer))
            continue
        if root == "/api":
            paths = [f"/api/{version}" for version in answer.get("versions") or ["v1"]]
        else:
            paths = [f"/apis/{(group.get('preferredVersion') or group['versions'][0])['groupVersion']}"
                     for group in answer.get("groups") or [] if group.get("versions")]
        for path in paths:
            try:
                kinds.extend(parse_resource_list(request_json(api, "GET", path)))
            except ApiError:
                continue  # an aggregated API that is down must not hide the others
    return KindTable(kinds)
