"""Wiring completion to a kf `Session` (see docs/architecture.md): which client, which place, which commands,
and keeping the on-disk cache that `kf __complete` reads up to date while a shell runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kfshell.completion.cache import CompletionCache, cache_dir
from kfshell.completion.refresher import Refresher
from kfshell.completion.snapshot import Item, Snapshot

# The refresher holds a dozen long-lived watch connections; the default pool (5 per CPU) would discard
# connections, with a warning printed over the prompt.
POOL_SIZE = 32
# While a shell runs, the cache is rewritten at most this often.
CACHE_WRITE_INTERVAL = 10.0


def context_items(kubeconfig: Any) -> list[Item]:
    """`contexts` items from a `KubeConfig`: name, cluster and user (never credentials)."""
    return [Item(name, f"Context  {ctx.cluster} as {ctx.user}") for name, ctx in kubeconfig.contexts.items()]


def roomy_client(api: Any, size: int = POOL_SIZE) -> Any:
    """`api` with room for `size` connections per host (set before its first request)."""
    settings = getattr(api.rest_client.pool_manager, "connection_pool_kw", None)
    if isinstance(settings, dict):
        settings["maxsize"] = max(int(settings.get("maxsize") or 1), size)
    return api


class CacheWriter:
    """Writes the refresher's snapshots to the on-disk cache: after each full listing, and on later
    changes at most every `interval` seconds. Called from the refresher's threads."""

    def __init__(self, cache: CompletionCache, current: Callable[[], Snapshot], interval: float) -> None:
        self.cache = cache
        self.current = current
        self.interval = interval
        self._lock = threading.Lock()
        self._written_at = 0.0
        self._settled = False

    def settled(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._settled = True
            self._written_at = time.monotonic()
        self.cache.write(snapshot)

    def changed(self) -> None:
        with self._lock:
            if not self._settled or time.monotonic() - self._written_at < self.interval:
                return
            self._written_at = time.monotonic()
        self.cache.write(self.current())


def project_items(api: Any, user: str | None, used: Any, namespace: str | None) -> list[Item]:
    """`namespaces` items from kfshell.projects: the list `projects` shows, with the role."""
    from kfshell.cluster import whoami
    from kfshell.projects import find_projects

    me = whoami(api, fallback_user=user)
    return [Item(p.name, f"Project  {p.role}")
            for p in find_projects(api, me.user, me.groups, used=used, current=namespace)]


def session_refresher(session: Any, registry: Any, invalidate: Callable[[], None] | None = None) -> Refresher:
    """A refresher for a kf `Session`: the session's kubeconfig and place, its own API client (so the
    shell's commands never queue behind watches), and the on-disk cache for `kf __complete`."""
    from kfshell.cluster import api_client

    def connect(context: str | None) -> Any:
        return roomy_client(api_client(session.kubeconfig(), context))

    def commands() -> list[Any]:
        current = registry() if callable(registry) else registry
        return current.commands()

    def on_change() -> None:
        writer.changed()  # bound below, before the refresher can call back
        if invalidate is not None:
            invalidate()

    catalog = getattr(session, "catalog", None)
    refresher = Refresher(
        connect,
        where=lambda: (session.context, session.namespace),
        contexts=lambda: context_items(session.kubeconfig()),
        commands=commands,
        command_items=catalog.command_items if catalog is not None else None,
        on_change=on_change,
        on_settled=lambda snapshot: writer.settled(snapshot),
        projects=lambda api, context, namespace: project_items(
            api, session.user_name(), [*session.store.load().used_in(context),
                                       session.kubeconfig().namespace(context) or namespace], namespace),
    )
    writer = CacheWriter(CompletionCache(cache_dir(session.env.environ)), refresher.current, CACHE_WRITE_INTERVAL)
    return refresher
