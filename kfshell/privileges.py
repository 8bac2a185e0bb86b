"""Who may run what: each command's and subcommand's `requires`, checked against the cluster's RBAC.

A command is runnable where its own `requires` are all allowed and, when it has subcommands, at least one of
them is runnable too (a subcommand needs its parent's requirements and its own). Help, completion and
`command list` show only runnable commands; typing another one says which permission is missing.

Each distinct requirement is one SelfSubjectAccessReview, a few in parallel (`cluster.can_i_all`). Measured
on the dev cluster (benchmarks/bench_dispatch.py, alice): the one or two reviews a one-shot command needs
before it runs take 2.4 ms (median), as long as one SelfSubjectRulesReview (2.9 ms); every built-in's
requirements (7 reviews) take 12.8 ms, but only `help`, `command list` and the REPL's background refresher
ask for all of them. So access reviews it is: as cheap where it matters, and exact, where a rules review is
not (it cannot answer cluster-wide requirements or resource names, nor for authorizers other than RBAC).
Answers are cached per context and namespace for `TTL` seconds by `Privileges`, which the REPL's completion
refresher fills in the background and commands read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kfshell.cluster import Requirement as Access
    from kfshell.registry import CommandSpec, Requirement

TTL = 60.0  # seconds an answer is trusted; `refresh` (and every `use`) asks again


def access(requirement: Requirement, namespace: str | None) -> Access:
    """The review for one `requires` entry at `namespace` ("$namespace" → the namespace the command runs in;
    none → cluster-wide; a `resource/subresource` such as `services/proxy` is split)."""
    from kfshell.cluster import Requirement as Access

    where = getattr(requirement, "namespace", None)
    if where == "$namespace":
        where = namespace
    resource, _, subresource = requirement.resource.partition("/")
    return Access(verb=requirement.verb, resource=resource, group=getattr(requirement, "group", "") or "",
                  namespace=where or None, subresource=subresource or None)


def needs(spec: CommandSpec, sub: CommandSpec | None, namespace: str | None) -> list[Access]:
    """What running `spec` (or its subcommand `sub`) requires at `namespace`."""
    entries = list(getattr(spec, "requires", ()) or ())
    if sub is not None and sub is not spec:
        entries += list(getattr(sub, "requires", ()) or ())
    return [access(r, namespace) for r in entries]


def _runs(spec: Any) -> str:
    return getattr(spec, "runs", "local")  # duck-typed specs (tests, the refresher's callers) may omit it


def _subcommands(spec: Any) -> tuple[Any, ...]:
    return tuple(getattr(spec, "subcommands", ()) or ())


def _reviewed(spec: Any) -> bool:
    """Functions always; a shell command only when it declares requirements (`admin`): the rest need none."""
    return _runs(spec) != "client" or any(getattr(s, "requires", ()) for s in (spec, *_subcommands(spec)))


def all_needs(specs: Iterable[CommandSpec], namespace: str | None) -> list[Access]:
    """Every requirement of `specs` and their subcommands (with repeats)."""
    found: list[Access] = []
    for spec in specs:
        if not _reviewed(spec):
            continue
        found += needs(spec, None, namespace)
        for sub in _subcommands(spec):
            found += needs(spec, sub, namespace)
    return found


def describe(need: Access) -> str:
    """`list deployments.apps in namespace alice`, `create namespaces cluster-wide`."""
    what = need.resource + (f"/{need.subresource}" if need.subresource else "")
    if need.group:
        what += f".{need.group}"
    where = f"in namespace {need.namespace}" if need.namespace else "cluster-wide"
    return f"{need.verb} {what} {where}"


@dataclass(frozen=True)
class Answers:
    """The reviews answered for one context and namespace. A requirement not reviewed counts as allowed:
    the API server still has the last word when the command runs."""

    context: str | None
    namespace: str | None
    allowed: Mapping[Access, bool] = field(default_factory=dict)
    taken_at: float = 0.0

    def missing(self, spec: CommandSpec, sub: CommandSpec | None = None) -> list[Access]:
        return [n for n in dict.fromkeys(needs(spec, sub, self.namespace)) if self.allowed.get(n) is False]

    def may_run(self, spec: CommandSpec, sub: CommandSpec | None = None) -> bool:
        if not _reviewed(spec):
            return True
        if self.missing(spec, sub):
            return False
        if sub is None and _subcommands(spec):
            return any(not self.missing(spec, s) for s in _subcommands(spec))
        return True

    def leaves(self, specs: Iterable[CommandSpec]) -> tuple[int, int]:
        """(runnable, total) over the commands that run as functions, counting each subcommand."""
        runnable = total = 0
        for spec in specs:
            if _runs(spec) == "client":
                continue
            for sub in _subcommands(spec) or (None,):
                total += 1
                runnable += not self.missing(spec, sub)
        return runnable, total

    def covers(self, wanted: Iterable[Access]) -> bool:
        return all(w in self.allowed for w in wanted)


def review(api: Any, wanted: Iterable[Access]) -> dict[Access, bool]:
    """One SelfSubjectAccessReview per distinct requirement, in parallel."""
    from kfshell.cluster import can_i_all

    distinct = list(dict.fromkeys(wanted))
    return dict(can_i_all(api, distinct)) if distinct else {}


class Privileges:
    """Review answers per (context, namespace), shared by the prompt's thread and the background refresher."""

    def __init__(self, ttl: float = TTL) -> None:
        self.ttl = ttl
        self._answers: dict[tuple[str | None, str | None], Answers] = {}
        self._lock = threading.Lock()

    def known(self, context: str | None, namespace: str | None, *, stale: bool = False) -> Answers | None:
        """What is known for this place (no I/O): only if still fresh, unless `stale` (what help and completion
        show until the next review, rather than everything)."""
        with self._lock:
            found = self._answers.get((context, namespace))
        if found is None or (not stale and time.monotonic() - found.taken_at > self.ttl):
            return None
        return found

    def check(self, api: Any, context: str | None, namespace: str | None,
              specs: Iterable[CommandSpec]) -> Answers:
        """Answers covering every requirement of `specs` here, reviewing only what is not known yet."""
        wanted = all_needs(specs, namespace)
        return self.check_needs(api, context, namespace, wanted)

    def check_needs(self, api: Any, context: str | None, namespace: str | None,
                    wanted: Iterable[Access]) -> Answers:
        wanted = list(wanted)
        current = self.known(context, namespace)
        if current is not None and current.covers(wanted):
            return current
        base = dict(current.allowed) if current is not None else {}
        fresh = review(api, [w for w in wanted if w not in base])
        answers = Answers(context, namespace, {**base, **fresh},
                          current.taken_at if current is not None else time.monotonic())
        with self._lock:
            self._answers[(context, namespace)] = answers
        return answers

    def forget(self) -> None:
        with self._lock:
            self._answers.clear()
