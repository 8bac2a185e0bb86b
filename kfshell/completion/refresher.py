"""The background refresher: builds completion snapshots from the cluster, off the prompt's thread.

`start(context, namespace)` begins a run: one thread connects, reads the kubeconfig's contexts, discovers
the served kinds, works out which commands the user may run, and starts one `ListWatch` per kind (pods,
namespaces, components, notebooks, jobs, inference services, tensorboards). A publisher thread folds their
changes into a new immutable `Snapshot` (bursts coalesced) and swaps the one reference `current()` returns.
A new `start` (a `use`, a context switch) stops the old run and begins a fresh snapshot; `refresh()`
re-lists everything for the same place, keeping the current names until the new ones arrive.

Nothing here runs on the prompt's thread except `start`/`refresh`/`stop`, which only start threads, set
events and close sockets. API calls go through kfshell.rest on the run's threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kfshell.completion.kinds import SOURCE_KINDS, KindTable, discover_kinds
from kfshell.completion.objects import (
    Converter,
    convert_component,
    convert_namespace,
    convert_pod,
    custom_converter,
)
from kfshell.completion.snapshot import EMPTY, Item, Snapshot
from kfshell.completion.streams import BACKOFF, ListWatch, Responses

KUBEFLOW_NAMESPACE = "kubeflow"
# Sources that do not depend on the namespace: kept when only the namespace changes.
_PER_CONTEXT = ("namespaces", "contexts", "kinds")
# How long the publisher waits after a change for more, so a burst of events makes one snapshot.
COALESCE_SECONDS = 0.05


class Refresher:
    """Builds and swaps completion snapshots in the background.

    connect(context) -> ApiClient for that context (called on a background thread).
    where() -> (context, namespace): the session's current place, read by `start()`/`refresh()` without
        arguments.
    contexts() -> items for the `contexts` source (from the kubeconfig; no network).
    commands() -> the registry's commands (CommandSpecs), to offer only those the user may run.
    command_items(api, context, namespace) -> the `commands` items, when the shell works them out itself
        (kfshell.catalog: the cluster's Functions and the privileges cache that help and `command list`
        share); replaces `commands`.
    on_change() is called (from a background thread) after each new snapshot and when `refreshing` flips.
    on_settled(snapshot) is called when a run's first full listing is in (e.g. to write the on-disk cache).
    projects(api, context, namespace) -> `namespaces` items for a user who may not list namespaces
        (kfshell.projects: what `projects` shows); without it only the current namespace is offered.
    discover(api) -> KindTable can replace API discovery (tests use it to hide a kind).
    source_kinds maps completion sources to the kinds that feed them (default: kinds.SOURCE_KINDS).
    """

    def __init__(
        self,
        connect: Callable[[str | None], Any],
        *,
        where: Callable[[], tuple[str | None, str | None]] | None = None,
        contexts: Callable[[], Iterable[Item]] | None = None,
        commands: Callable[[], Iterable[Any]] | None = None,
        command_items: Callable[[Any, str | None, str | None], list[Item]] | None = None,
        on_change: Callable[[], None] | None = None,
        on_settled: Callable[[Snapshot], None] | None = None,
        projects: Callable[[Any, str | None, str | None], list[Item]] | None = None,
        discover: Callable[[Any], KindTable] = discover_kinds,
        source_kinds: Mapping[str, tuple[str, ...]] = SOURCE_KINDS,
        relist_interval: float = 30.0,
    ) -> None:
        self._connect = connect
        self._where = where
        self._contexts = contexts
        self._commands = commands
        self._command_items = command_items
        self._on_change = on_change
        self._on_settled = on_settled
        self._projects = projects
        self._discover = discover
        self._source_kinds = source_kinds
        self._relist_interval = relist_interval
        self._snapshot: Snapshot = EMPTY
        self._run: _Run | None = None
        self._lock = threading.Lock()

    # ---- the interface the shell uses ------------------------------------------------------------

    def current(self) -> Snapshot:
        """The newest snapshot (never None; empty before the first listing)."""
        return self._snapshot

    @property
    def is_refreshing(self) -> bool:
        run = self._run
        return run is not None and not run.settled.is_set()

    refreshing = is_refreshing

    @property
    def streams(self) -> tuple[ListWatch, ...]:
        """The current run's list-watch streams (their `label` and `state`), for diagnostics and tests."""
        run = self._run
        return tuple(run.streams) if run is not None else ()

    @property
    def error(self) -> str | None:
        """Why the last run could not reach the cluster, if it could not (for the toolbar)."""
        run = self._run
        return run.error if run is not None else None

    def start(self, context: str | None = None, namespace: str | None = None) -> None:
        """Begin a fresh snapshot for `context` and `namespace` (default: `where()`)."""
        if context is None and namespace is None and self._where is not None:
            context, namespace = self._where()
        with self._lock:
            previous = self._snapshot
            if self._run is not None:
                self._run.stop()
            if previous.context == context and previous.namespace == namespace:
                seed = previous  # same place (a refresh): keep offering names until new ones arrive
            elif previous.context == context:
                seed = Snapshot.build(context, namespace, {s: previous.get(s) for s in _PER_CONTEXT
                                                           if s in previous.items},
                                      complete=previous.complete & set(_PER_CONTEXT))
            else:
                seed = Snapshot.build(context, namespace, {"contexts": previous.get("contexts")})
            self._snapshot = seed
            self._run = _Run(self, context, namespace)
            self._run.start()
        self._notify()

    def refresh(self) -> None:
        """Rebuild now: for the session's current place if it moved (after `use`), else the same one."""
        if self._where is not None:
            self.start(*self._where())
            return
        snapshot = self._snapshot
        self.start(snapshot.context, snapshot.namespace)

    def stop(self) -> None:
        with self._lock:
            if self._run is not None:
                self._run.stop()
                self._run = None
        self._notify()

    def wait_settled(self, timeout: float) -> bool:
        """Block until the current run's first listing is in (for tests and `kf __complete`)."""
        run = self._run
        return run is not None and run.settled.wait(timeout)

    # ---- for the run ----------------------------------------------------------------------------

    def _publish(self, run: _Run, snapshot: Snapshot) -> None:
        with self._lock:
            if self._run is not run:
                return  # a stopped run's late results must not replace the new place's snapshot
            self._snapshot = snapshot
        self._notify()

    def _notify(self) -> None:
        if self._on_change is not None:
            self._on_change()


class _Run:
    """One context and namespace being kept current: its threads, streams, and stop switch."""

    def __init__(self, owner: Refresher, context: str | None, namespace: str | None) -> None:
        self.owner = owner
        self.context = context
        self.namespace = namespace
        self.stopped = threading.Event()
        self.settled = threading.Event()
        self.responses = Responses()
        self.streams: list[ListWatch] = []
        self.error: str | None = None
        self._dirty: set[str] = set()
        self._complete: set[str] = set()
        self._fixed: dict[str, list[Item]] = {}  # sources computed once per run (contexts, kinds, commands)
        self._found_projects: list[Item] | None = None  # `namespaces` for a user who may not list them
        self._wake = threading.Condition()
        self._setting_up = True

    def start(self) -> None:
        threading.Thread(target=self._main, name="kf-refresh", daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()
        self.responses.close_all()
        with self._wake:
            self._wake.notify_all()

    # ---- setting up (on the run's thread) --------------------------------------------------------

    def _main(self) -> None:
        try:
            self._set_up_and_publish()
        except Exception as err:  # noqa: BLE001 - a traceback printed from a thread would garble the prompt
            self.error = f"completion refresher failed: {_one_line(err)}"
            self.settled.set()
            self.owner._notify()

    def _set_up_and_publish(self) -> None:
        owner = self.owner
        if owner._contexts is not None:
            self._set_fixed("contexts", list(owner._contexts()))
        failures = 0
        while not self.stopped.is_set():
            try:
                api = owner._connect(self.context)
                kinds = owner._discover(api)
                break
            except Exception as err:  # noqa: BLE001 - unreachable or refused: say so, retry quietly
                self.error = _one_line(err)
                self.settled.set()  # nothing to wait for: the toolbar stops saying "refreshing"
                owner._notify()
                self.stopped.wait(BACKOFF[min(failures, len(BACKOFF) - 1)])
                failures += 1
        else:
            return
        self.error = None
        self._set_fixed("kinds", kinds.items())
        self.streams = self._streams(api, kinds)
        # Sources none of whose kinds are served are complete, and empty.
        for source in owner._source_kinds:
            if source not in {s for stream in self.streams for s in stream.sources}:
                self._set_fixed(source, [])
        for stream in self.streams:
            stream.start()
        self._set_fixed_commands(api)
        self._find_projects(api)
        self._setting_up = False
        # Every stream may have answered while setting up: then no later change would notice it.
        self._maybe_settled(self.owner.current())
        self._publisher()

    def _streams(self, api: Any, kinds: KindTable) -> list[ListWatch]:
        owner = self.owner
        namespace = self.namespace
        streams = []

        def add(kind_name: str, where: str | None, convert: Converter, sources: tuple[str, ...]) -> None:
            kind = kinds.resolve(kind_name)
            if kind is None:
                return  # not served here: nothing to offer, and nothing to complain about
            if kind.namespaced and not where:
                return
            streams.append(ListWatch(
                api, kind.path(where), convert, self._changed, self.stopped, self.responses,
                sources=sources, watchable=kind.watchable, relist_interval=owner._relist_interval,
                label=f"{kind.qualified}{' in ' + where if where else ''}",
            ))

        add("namespaces", None, convert_namespace, ("namespaces",))
        add("pods", namespace, convert_pod, ("pods", "containers"))
        for where in dict.fromkeys([KUBEFLOW_NAMESPACE, namespace]):
            add("deployments.apps", where, convert_component, ("components",))
            add("statefulsets.apps", where, convert_component, ("components",))
        for source, kind_names in owner._source_kinds.items():
            if source in ("namespaces", "pods"):
                continue
            for kind_name in kind_names:
                kind = kinds.resolve(kind_name)
                if kind is not None:
                    add(kind_name, namespace, custom_converter(source, kind.kind), (source,))
        return streams

    def _set_fixed_commands(self, api: Any) -> None:
        owner = self.owner
        if owner._commands is None and owner._command_items is None:
            return
        if not self._try_commands(api):
            # No answer (a review refused or cut off under load): every command is offered meanwhile, and the
            # question is asked again until answered, so what the user may not run is hidden soon, not never.
            threading.Thread(target=self._retry_commands, args=(api,), name="kf-refresh-commands",
                             daemon=True).start()

    def _try_commands(self, api: Any) -> bool:
        owner = self.owner
        try:
            if owner._command_items is not None:
                items = owner._command_items(api, self.context, self.namespace)
            else:
                items = permitted_commands(api, list(owner._commands()), self.namespace)
        except Exception as err:  # noqa: BLE001 - no answer: offer every command rather than none
            self.error = _one_line(err)
            return False
        self._set_fixed("commands", items)
        return True

    def _retry_commands(self, api: Any) -> None:
        failures = 0
        while not self.stopped.wait(BACKOFF[min(failures, len(BACKOFF) - 1)]):
            said = self.error
            if self._try_commands(api):
                if self.error == said:
                    self.error = None  # the failure it reported is over (another one since is kept)
                return
            failures += 1

    def _find_projects(self, api: Any) -> None:
        """Where the user may not list namespaces, the projects they may work in stand in for them."""
        if self.owner._projects is None:
            return
        from kfshell.cluster import can_i

        try:
            if can_i(api, "list", "namespaces"):
                return
            found = self.owner._projects(api, self.context, self.namespace)
        except Exception as err:  # noqa: BLE001 - no answer: the current namespace is still offered
            self.error = _one_line(err)
            return
        with self._wake:
            self._found_projects = list(found)
            self._dirty.add("namespaces")
            self._wake.notify_all()

    def _set_fixed(self, source: str, items: list[Item]) -> None:
        with self._wake:
            self._fixed[source] = items
            self._complete.add(source)
            self._dirty.add(source)
            self._wake.notify_all()
        if self.stopped.is_set():
            return
        if self._setting_up:
            self._publish()

    # ---- publishing ---------------------------------------------------------------------------------

    def _changed(self, stream: ListWatch) -> None:
        with self._wake:
            self._dirty.update(stream.sources)
            self._wake.notify_all()

    def _publisher(self) -> None:
        while not self.stopped.is_set():
            with self._wake:
                while not self._dirty and not self.stopped.is_set():
                    self._wake.wait()
            if self.stopped.is_set():
                return
            self.stopped.wait(COALESCE_SECONDS)
            self._publish()

    def _publish(self) -> None:
        with self._wake:
            dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        items: dict[str, list[Item]] = {}
        complete: set[str] = set()
        for source in dirty:
            if source in self._fixed:
                items[source] = list(self._fixed[source])
                complete.add(source)
                continue
            feeding = [stream for stream in self.streams if source in stream.sources]
            collected: list[Item] = []
            for stream in feeding:
                collected.extend(stream.items().get(source, ()))
            if source == "namespaces" and not any(stream.state.listed for stream in feeding):
                collected = self._own_namespaces()
            if source == "components":
                collected = _unique(collected)
            items[source] = collected
            if all(stream.state.settled for stream in feeding):
                complete.add(source)
        snapshot = self.owner.current()
        if snapshot.context != self.context or snapshot.namespace != self.namespace:
            snapshot = Snapshot(context=self.context, namespace=self.namespace)
        snapshot = snapshot.replace(items, complete=complete, taken_at=time.time())
        self.owner._publish(self, snapshot)
        self._maybe_settled(snapshot)

    def _maybe_settled(self, snapshot: Snapshot) -> None:
        """Once set up and every stream has answered: stop saying "refreshing", and tell `on_settled`."""
        if self._setting_up or self.settled.is_set() or not all(s.state.settled for s in self.streams):
            return
        with self._wake:
            if self._dirty:
                return  # the publisher will come back here with the newest snapshot
        self.settled.set()
        self.owner._notify()
        if self.owner._on_settled is not None and self.owner._run is self:
            self.owner._on_settled(snapshot)

    def _own_namespaces(self) -> list[Item]:
        """For a user who may not list namespaces: their projects, and the one they work in."""
        items = list(self._found_projects or ())
        if self.namespace and not any(item.name == self.namespace for item in items):
            items.append(Item(self.namespace, "Namespace  current"))
        return items


def permitted_commands(api: Any, commands: list[Any], namespace: str | None) -> list[Item]:
    """The commands the user may run here (kfshell.privileges decides), as `commands` items."""
    from kfshell.privileges import Answers, all_needs, review

    answers = Answers(None, namespace, review(api, all_needs(commands, namespace)))
    items = []
    for spec in commands:
        if answers.may_run(spec):
            help_text = (getattr(spec, "help", "") or "").strip().splitlines()
            items.append(Item(spec.name, help_text[0] if help_text else ""))
    return items


def _unique(items: list[Item]) -> list[Item]:
    seen: dict[str, Item] = {}
    for item in items:
        seen.setdefault(item.name, item)
    return list(seen.values())


def _one_line(err: BaseException) -> str:
    try:
        from kfshell.cluster import translate

        return translate(err).message
    except Exception:  # noqa: BLE001 - describing an error must never raise another
        return f"{type(err).__name__}: {err}".splitlines()[0]
