"""What can be completed right now: an immutable snapshot of names, keyed by completion source.

The refresher builds a new `Snapshot` off the prompt's thread and swaps one reference; the completer only
reads whatever reference is current. Nothing here changes after construction, so a snapshot can be read
from any thread without locks.

Each source carries a `SourceIndex` (items sorted by name, and their lower-cased names) built once, when the
snapshot is built, not on the keystroke that reads it.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# The completion sources a snapshot may hold (see docs/architecture.md).
SOURCES = (
    "namespaces",
    "contexts",
    "components",
    "notebooks",
    "jobs",
    "inferenceservices",
    "tensorboards",
    "pods",
    "containers",
    "commands",
    "kinds",
)
# Sources made of others, so an argument completes exactly what its command accepts (docs/architecture.md):
# source → (the sources it joins, only the items in the snapshot's own namespace).
DERIVED: Mapping[str, tuple[tuple[str, ...], bool]] = MappingProxyType({
    # What `status list NAME` shows: a component, or a notebook, job, inference service or tensorboard.
    "workloads": (("components", "notebooks", "jobs", "inferenceservices", "tensorboards"), False),
    # What `shell`, `run`, `logs` and `open` reach: any of those, or a plain pod of the namespace (kfshell/pods.py).
    "pod-targets": (("components", "notebooks", "jobs", "inferenceservices", "tensorboards", "pods"), False),
    # What `remove NAME` removes: a component of the current namespace (not kubeflow's).
    "namespace-components": (("components",), True),
})


@dataclass(frozen=True)
class Item:
    """One completable name.

    description: the one-line menu text without the age ("Notebook  Running").
    namespace:   where the object lives, for namespaced objects.
    parent:      the owning object's name (a container's pod).
    created_at:  creation time (epoch seconds), so the menu can show the age at the moment it is shown.
    """

    name: str
    description: str = ""
    namespace: str | None = None
    parent: str | None = None
    created_at: float | None = None


class SourceIndex:
    """The items of one source, sorted by name, with their lower-cased names for matching."""

    __slots__ = ("items", "lower")

    def __init__(self, items: Iterable[Item]) -> None:
        ordered = sorted(items, key=lambda item: (item.name.lower(), item.name, item.parent or ""))
        self.items: tuple[Item, ...] = tuple(ordered)
        self.lower: tuple[str, ...] = tuple(item.name.lower() for item in ordered)

    def __len__(self) -> int:
        return len(self.items)

    def prefix_range(self, prefix: str) -> range:
        """Indexes of the items whose lower-cased name starts with `prefix` (contiguous, since sorted)."""
        lo = bisect.bisect_left(self.lower, prefix)
        hi = bisect.bisect_left(self.lower, prefix + "\U0010ffff", lo)
        return range(lo, hi)

    def positions_of(self, name: str) -> list[int]:
        """Indexes of the items named exactly `name` (several for containers of different pods)."""
        lowered = name.lower()
        position = bisect.bisect_left(self.lower, lowered)
        found = []
        while position < len(self.lower) and self.lower[position] == lowered:
            if self.items[position].name == name:
                found.append(position)
            position += 1
        return found


_EMPTY_INDEX = SourceIndex(())


@dataclass(frozen=True)
class Snapshot:
    """Names to complete in one context and namespace, as of `taken_at`.

    `complete` lists the sources whose listing finished (a source absent from it is still loading, was
    forbidden, or its kind is not served); `items` maps source → items sorted by name.
    """

    context: str | None = None
    namespace: str | None = None
    items: Mapping[str, tuple[Item, ...]] = field(default_factory=lambda: MappingProxyType({}))
    taken_at: float = 0.0
    complete: frozenset[str] = frozenset()
    _indexes: Mapping[str, SourceIndex] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )
    # Derived sources, built on first use (a race builds one twice, harmlessly).
    _derived: dict[str, SourceIndex] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        context: str | None,
        namespace: str | None,
        items: Mapping[str, Iterable[Item]],
        *,
        complete: Iterable[str] = (),
        taken_at: float | None = None,
    ) -> Snapshot:
        indexes = {source: SourceIndex(values) for source, values in items.items()}
        return cls._from_indexes(context, namespace, indexes, frozenset(complete), taken_at)

    @classmethod
    def _from_indexes(
        cls,
        context: str | None,
        namespace: str | None,
        indexes: Mapping[str, SourceIndex],
        complete: frozenset[str],
        taken_at: float | None,
    ) -> Snapshot:
        return cls(
            context=context,
            namespace=namespace,
            items=MappingProxyType({source: index.items for source, index in indexes.items()}),
            taken_at=time.time() if taken_at is None else taken_at,
            complete=complete,
            _indexes=MappingProxyType(dict(indexes)),
        )

    def replace(
        self,
        items: Mapping[str, Iterable[Item]],
        *,
        complete: Iterable[str] = (),
        taken_at: float | None = None,
    ) -> Snapshot:
        """A new snapshot with the given sources replaced; the other sources (and their indexes) are shared."""
        indexes = dict(self._indexes)
        for source, values in items.items():
            indexes[source] = SourceIndex(values)
        return self._from_indexes(
            self.context, self.namespace, indexes, self.complete | frozenset(complete), taken_at
        )

    def index(self, source: str) -> SourceIndex:
        if source in DERIVED:
            return self._derived_index(source)
        return self._indexes.get(source, _EMPTY_INDEX)

    def get(self, source: str) -> tuple[Item, ...]:
        if source in DERIVED:
            return self._derived_index(source).items
        return self.items.get(source, ())

    def is_complete(self, source: str) -> bool:
        parts = DERIVED[source][0] if source in DERIVED else (source,)
        return all(part in self.complete for part in parts)

    def _derived_index(self, source: str) -> SourceIndex:
        index = self._derived.get(source)
        if index is None:
            parts, here_only = DERIVED[source]
            seen: dict[str, Item] = {}
            for part in parts:
                for item in self.items.get(part, ()):
                    if not here_only or item.namespace == self.namespace:
                        seen.setdefault(item.name, item)
            index = self._derived[source] = SourceIndex(seen.values())
        return index

    def count(self) -> int:
        return sum(len(values) for values in self.items.values())


EMPTY = Snapshot()
