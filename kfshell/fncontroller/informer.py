"""One collection kept current: list (in pages), then watch from the list's resourceVersion, with a cache.

Each change calls `handler(event_type, obj)` (ADDED, MODIFIED, DELETED; a re-list reports every object as
ADDED and the vanished ones as DELETED). A watch that ends resumes from the last resourceVersion seen; one
whose version expired (410 Gone) re-lists; failures (unreachable, 5xx, 403) back off up to a minute and
retry, since a controller must outlive an API server restart or an RBAC fix.

kfshell.completion.streams.ListWatch does the same for completion, but keeps converted menu items and tells
its owner only that something changed; a controller needs each object.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kfshell.rest import ApiError, RestClient, watch_events

PAGE_SIZE = 500
WATCH_SECONDS = 300  # asked of the server; the watch then resumes from the last resourceVersion
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

log = logging.getLogger("kf-function-controller")
Handler = Callable[[str, Mapping[str, Any]], None]


class _Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


def key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Informer:
    """`path` is the collection (e.g. /apis/apps/v1/deployments); `selector` an optional label selector."""

    def __init__(self, api: RestClient, path: str, handler: Handler, stop: threading.Event, *,
                 selector: str | None = None, name: str = "") -> None:
        self.api = api
        self.path = path
        self.handler = handler
        self.stop = stop
        self.selector = selector or None
        self.name = name or path
        self.synced = threading.Event()  # set once the first list is in the cache
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._open: set[Any] = set()  # watch responses being read, for close() to cut off
        self._thread: threading.Thread | None = None

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        with self._lock:
            return self._cache.get((namespace, name))

    def items(self) -> list[Mapping[str, Any]]:
        with self._lock:
            return list(self._cache.values())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"informer {self.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop watching (with `stop` set): unblocks the thread reading the watch."""
        with self._lock:
            responses = list(self._open)
        for response in responses:
            response.shutdown()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                version = self._list()
                failures = 0
                while not self.stop.is_set():
                    version = self._watch(version)
            except _Gone:
                continue
            except Exception as err:  # noqa: BLE001 - any failure: log it, back off, list again
                if self.stop.is_set():
                    return
                wait = BACKOFF[min(failures, len(BACKOFF) - 1)]
                log.warning("%s: %s; retrying in %gs", self.name, _describe(err), wait)
                failures += 1
                self.stop.wait(wait)

    def _query(self, **extra: Any) -> dict[str, Any]:
        query = {"labelSelector": self.selector} if self.selector else {}
        query.update({k: v for k, v in extra.items() if v is not None})
        return query

    def _list(self) -> str:
        found: dict[tuple[str, str], Mapping[str, Any]] = {}
        token: str | None = None
        version = ""
        while True:
            answer = self.api.request_json("GET", self.path, query=self._query(limit=PAGE_SIZE, **{"continue": token}),
                                           timeout=(3.0, 60.0)) or {}
            for obj in answer.get("items") or []:
                found[key(obj)] = obj
            page = answer.get("metadata") or {}
            version = page.get("resourceVersion") or version
            token = page.get("continue")
            if not token:
                break
        with self._lock:
            vanished = [obj for k, obj in self._cache.items() if k not in found]
            self._cache = found
        for obj in vanished:
            self.handler("DELETED", obj)
        for obj in found.values():
            self.handler("ADDED", obj)
        self.synced.set()
        return version

    def _watch(self, version: str) -> str:
        for event in self._events(version):
            kind = str(event.get("type"))
            obj = event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise _Gone()
                raise ApiError(int(obj.get("code") or 500), str(obj.get("reason") or "Error"), json.dumps(obj))
            version = (obj.get("metadata") or {}).get("resourceVersion") or version
            if kind == "BOOKMARK":
                continue
            with self._lock:
                if kind == "DELETED":
                    self._cache.pop(key(obj), None)
                else:
                    self._cache[key(obj)] = obj
            self.handler(kind, obj)
        return version

    def _events(self, version: str) -> Iterator[Mapping[str, Any]]:
        query = self._query(watch="true", allowWatchBookmarks="true", timeoutSeconds=str(WATCH_SECONDS),
                            resourceVersion=version or None)
        try:
            response = self.api.stream("GET", self.path, query=query, timeout=(3.0, WATCH_SECONDS + 30))
        except ApiError as err:
            if err.status == 410:
                raise _Gone() from None
            raise
        with self._lock:
            self._open.add(response)
        try:
            yield from watch_events(response.stream(), self.stop.is_set)
        finally:
            with self._lock:
                self._open.discard(response)
            response.close()


def _describe(err: BaseException) -> str:
    if isinstance(err, ApiError):
        message = err.status_object().get("message")
        return f"{err.status} {err.reason}" + (f": {message}" if message else "")
    return f"{type(err).__name__}: {err}"
