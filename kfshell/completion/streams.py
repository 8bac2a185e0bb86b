"""Keeping one kind's objects current in the background: list, then watch from the list's resourceVersion.

A `ListWatch` runs on its own daemon thread. It lists (in pages), hands the items to its owner, then
watches, applying ADDED/MODIFIED/DELETED events as they come, so a new object shows up within moments
without re-listing. A watch that ends normally resumes from the last resourceVersion; one that expired
(410 Gone) re-lists. Where the user may list but not watch, or the kind cannot be watched, it re-lists
periodically instead. A kind the user may not list (403) or that is not served (404) is reported once,
quietly, and the stream ends: the rest of completion goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kfshell.completion.objects import Contribution, Converter
from kfshell.completion.snapshot import Item
from kfshell.rest import watch_events

PAGE_SIZE = 500
WATCH_SECONDS = 240  # the server ends a watch after this long; we then resume from the last resourceVersion
CONNECT_TIMEOUT = 3.0
# Waits after a failure (unreachable, server error): doubling up to the last.
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


@dataclass(frozen=True)
class StreamState:
    """What a stream knows: `listed` once a list succeeded; `denied`/`absent` when it will never list;
    `error` the last failure while retrying."""

    listed: bool = False
    denied: bool = False
    absent: bool = False
    error: str | None = None

    @property
    def settled(self) -> bool:
        """The first answer is in (items, a refusal, or a failure): the toolbar may stop saying refreshing."""
        return self.listed or self.denied or self.absent or self.error is not None


class Responses:
    """Open watch responses of one refresh run, so `stop` can cut them off from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[Any] = set()
        self._closed = False

    def add(self, response: Any) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._open.add(response)
            return True

    def discard(self, response: Any) -> None:
        with self._lock:
            self._open.discard(response)

    def close_all(self) -> None:
        with self._lock:
            self._closed = True
            responses = list(self._open)
            self._open.clear()
        for response in responses:
            _shutdown(response)


def _shutdown(response: Any) -> None:
    """Unblock a thread reading `response` (urllib3 2.3+ has shutdown(); older ones only close)."""
    raw = getattr(response, "response", response)
    for method in ("shutdown", "release_conn", "close"):
        action = getattr(raw, method, None)
        if action is None:
            continue
        try:
            action()
        except Exception:  # noqa: BLE001,S110 - the connection is being abandoned; any failure here is moot
            pass


class ListWatch:
    """One kind in one namespace (or cluster-wide), kept current on a background thread.

    `path` is the collection URL; `convert` turns an object into its items; `changed(stream)` is called
    (from this thread) after every change, and `items()` gives the current items per source.
    """

    def __init__(
        self,
        api: Any,
        path: str,
        convert: Converter,
        changed: Callable[[ListWatch], None],
        stop: threading.Event,
        responses: Responses,
        *,
        sources: tuple[str, ...],
        watchable: bool = True,
        relist_interval: float = 30.0,
        label: str = "",
    ) -> None:
        self.api = api
        self.path = path
        self.convert = convert
        self.changed = changed
        self.stop = stop
        self.responses = responses
        self.sources = sources
        self.watchable = watchable
        self.relist_interval = relist_interval
        self.label = label or path
        self.state = StreamState()
        self._lock = threading.Lock()
        self._objects: dict[str, Contribution] = {}
        self._thread: threading.Thread | None = None

    # ---- reading, from any thread ---------------------------------------------------------------

    def items(self) -> dict[str, list[Item]]:
        """Current items, per source this stream feeds."""
        with self._lock:
            contributions = list(self._objects.values())
        found: dict[str, list[Item]] = {source: [] for source in self.sources}
        for contribution in contributions:
            for source, items in contribution.items():
                found.setdefault(source, []).extend(items)
        return found

    # ---- the thread -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"kf-watch {self.label}", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        from kfshell.cluster import ApiError

        failures = 0
        while not self.stop.is_set():
            watching = False
            try:
                version = self._list()
                failures = 0
                if not self.watchable:
                    self.stop.wait(self.relist_interval)
                    continue
                watching = True
                self._watch_from(version)
            except ApiError as err:
                if err.status in (401, 403) and watching:
                    self.watchable = False  # may list but not watch: re-list periodically instead
                    continue
                if err.status in (401, 403):
                    self._settle(StreamState(denied=True))
                    return
                if err.status in (404, 405):
                    self._settle(StreamState(absent=True))
                    return
                failures = self._failed(failures, f"{err.status} {err.reason}")
            except Exception as err:  # noqa: BLE001 - unreachable, reset, timeouts: retry quietly, later
                if self.stop.is_set():
                    return
                failures = self._failed(failures, f"{type(err).__name__}: {err}")

    def _failed(self, failures: int, message: str) -> int:
        self.state = StreamState(listed=self.state.listed, error=message)
        self.changed(self)
        self.stop.wait(BACKOFF[min(failures, len(BACKOFF) - 1)])
        return failures + 1

    def _settle(self, state: StreamState) -> None:
        with self._lock:
            self._objects = {}
        self.state = state
        self.changed(self)

    def _list(self) -> str:
        """List every page; replace the items; return the list's resourceVersion."""
        from kfshell.cluster import request_json

        objects: dict[str, Contribution] = {}
        token: str | None = None
        version = ""
        while True:
            answer = request_json(self.api, "GET", self.path, query={"limit": PAGE_SIZE, "continue": token},
                                  timeout=(CONNECT_TIMEOUT, 60.0))
            for obj in answer.get("items") or []:
                objects[_key(obj)] = self.convert(obj)
            meta = answer.get("metadata") or {}
            version = meta.get("resourceVersion") or version
            token = meta.get("continue")
            if not token or self.stop.is_set():
                break
        with self._lock:
            self._objects = objects
        self.state = StreamState(listed=True)
        self.changed(self)
        return version

    def _watch_from(self, version: str) -> None:
        """Watch until the stream is stopped or the list must be redone (410)."""
        while not self.stop.is_set():
            try:
                version = self._watch_once(version)
            except Gone:
                return

    def _watch_once(self, version: str) -> str:
        for event in self._events(version):
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise Gone()
                raise _status_error(obj)
            version = (obj.get("metadata") or {}).get("resourceVersion") or version
            if kind == "BOOKMARK":
                continue
            key = _key(obj)
            with self._lock:
                if kind == "DELETED":
                    self._objects.pop(key, None)
                else:
                    self._objects[key] = self.convert(obj)
            self.changed(self)
        return version

    def _events(self, version: str) -> Iterator[Mapping[str, Any]]:
        from kfshell.cluster import ApiError

        query = [("watch", "true"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", str(WATCH_SECONDS))]
        if version:
            query.append(("resourceVersion", version))
        try:
            response = self.api.stream("GET", self.path, query=query,
                                       timeout=(CONNECT_TIMEOUT, WATCH_SECONDS + 30))
        except ApiError as err:
            if err.status == 410:
                raise Gone() from None
            raise
        if not self.responses.add(response):
            _shutdown(response)
            return
        try:
            yield from watch_events(response.stream(), self.stop.is_set)
        finally:
            self.responses.discard(response)
            _shutdown(response)


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def _status_error(status: Mapping[str, Any]) -> Exception:
    from kfshell.cluster import ApiError

    return ApiError(int(status.get("code") or 500), str(status.get("reason") or "Error"))
