"""The reconcile loop: Functions in, ConfigMap + Service + Deployment out, status and events back.

Informers keep Functions, the Deployments and the pods labelled created-by=kubeless in memory; every change
queues the Function it concerns. A worker takes a Function from the queue and:

1. checks its source (decoding, sha256 against spec.checksum): a bad one is reported (Invalid /
   ChecksumMismatch) and nothing is created or updated, so nothing serves it;
2. refuses to touch an object of the same name that this Function does not control (Conflict): it reads the
   objects first and creates none of them while any is someone else's;
3. server-side applies the three objects, and a HorizontalPodAutoscaler when spec.horizontalPodAutoscaler
   asks for one (deleted again when it no longer does) (field manager kf-function-controller, force: the
   objects are ours); a new source changes the pod template's checksum annotation, so the Deployment rolls;
4. writes status.conditions[Ready], readyReplicas and observedGeneration (the /status subresource, else the
   Function itself when its CRD has none) and an event on each change of reason.

Deletion needs nothing here: the objects carry an ownerReference (controller=true) to the Function, and the
garbage collector removes them with it, so no finalizer either.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kfshell.fncontroller import render
from kfshell.fncontroller.informer import Informer, key
from kfshell.rest import ApiError, RestClient, TransportError

FIELD_MANAGER = "kf-function-controller"
COMPONENT = "kf-function-controller"
RESYNC_SECONDS = 300.0  # every Function is reconciled (and re-applied) at least this often
CONFLICT_RETRY = 30.0  # seconds before a Function in conflict is looked at again
LEFTOVER_RETRY = 2.0  # seconds: the garbage collector is removing an earlier Function's objects
MAX_BACKOFF = 60.0
STATUS_RECHECK = 30.0  # seconds a lookup of the CRD's status subresource is trusted
FUNCTIONS = "/apis/kubeless.io/v1beta1"

log = logging.getLogger("kf-function-controller")
Key = tuple[str, str]


class WorkQueue:
    """Keys to reconcile: each at most once in the queue and never handled by two workers at once; a key
    added while it is being handled is handled again afterwards. `add_after` delays a key (retries)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._order: list[Key] = []
        self._queued: set[Key] = set()
        self._busy: set[Key] = set()
        self._again: set[Key] = set()
        self._later: list[tuple[float, Key]] = []
        self._closed = False

    def add(self, item: Key) -> None:
        with self._cond:
            if item in self._busy:
                self._again.add(item)
            elif item not in self._queued:
                self._queued.add(item)
                self._order.append(item)
                self._cond.notify()

    def add_after(self, item: Key, delay: float) -> None:
        with self._cond:
            heapq.heappush(self._later, (time.monotonic() + delay, item))
            self._cond.notify()

    def get(self) -> Key | None:
        """The next key (blocks); None once closed."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                while self._later and self._later[0][0] <= now:
                    _, item = heapq.heappop(self._later)
                    if item in self._busy:
                        self._again.add(item)
                    elif item not in self._queued:
                        self._queued.add(item)
                        self._order.append(item)
                if self._order:
                    item = self._order.pop(0)
                    self._queued.discard(item)
                    self._busy.add(item)
                    return item
                self._cond.wait(self._later[0][0] - now if self._later else None)
            return None

    def done(self, item: Key) -> None:
        with self._cond:
            self._busy.discard(item)
            if item in self._again:
                self._again.discard(item)
                if item not in self._queued:
                    self._queued.add(item)
                    self._order.append(item)
                    self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._order)


@dataclass
class _Memory:
    """What the controller remembers of a Function between reconciles (lost on restart: nothing depends on it)."""

    applied: tuple[str, str, str] | None = None  # (uid, spec and metadata, image) last applied
    reason: str | None = None  # the Ready reason last reported
    failures: int = 0
    status_warned: bool = False


@dataclass
class Options:
    image: str = render.DEFAULT_IMAGE
    namespaces: Sequence[str] = ()  # () = every namespace
    selector: str | None = None  # a label selector on Functions: only those are reconciled
    workers: int = 2
    resync: float = RESYNC_SECONDS
    instance: str = field(default_factory=lambda: os.environ.get("HOSTNAME") or os.uname().nodename)


class FunctionController:
    def __init__(self, api: RestClient, options: Options | None = None) -> None:
        self.api = api
        self.options = options or Options()
        self.stop = threading.Event()
        self.queue = WorkQueue()
        self._memory: dict[Key, _Memory] = {}
        self._memory_lock = threading.Lock()
        self._status_subresource: tuple[float, bool] | None = None  # (when looked up, whether it is served)
        namespaces = list(self.options.namespaces) or [None]
        self.functions = [Informer(api, _collection(FUNCTIONS, ns, "functions"), self._on_function, self.stop,
                                   selector=self.options.selector, name=f"functions{_in(ns)}")
                          for ns in namespaces]
        self.deployments = [Informer(api, _collection("/apis/apps/v1", ns, "deployments"), self._on_owned,
                                     self.stop, selector="created-by=kubeless", name=f"deployments{_in(ns)}")
                            for ns in namespaces]
        self.pods = [Informer(api, _collection("/api/v1", ns, "pods"), self._on_owned, self.stop,
                              selector="created-by=kubeless", name=f"pods{_in(ns)}") for ns in namespaces]
        self._threads: list[threading.Thread] = []

    # ---- running ----------------------------------------------------------------------------------------

    def start(self) -> None:
        for informer in self.deployments + self.pods + self.functions:
            informer.start()
        for number in range(max(1, self.options.workers)):
            thread = threading.Thread(target=self._work, name=f"worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        thread = threading.Thread(target=self._resync, name="resync", daemon=True)
        thread.start()
        self._threads.append(thread)

    def wait_synced(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for informer in self.functions + self.deployments + self.pods:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not informer.synced.wait(left):
                return False
        return True

    def shutdown(self) -> None:
        self.stop.set()
        self.queue.close()
        for informer in self.functions + self.deployments + self.pods:
            informer.close()

    def _resync(self) -> None:
        while not self.stop.wait(self.options.resync):
            with self._memory_lock:
                for memory in self._memory.values():
                    memory.applied = None  # re-apply: someone may have changed or deleted an object
            for informer in self.functions:
                for obj in informer.items():
                    self.queue.add(key(obj))

    def _work(self) -> None:
        # Not before every cache is filled: a Deployment not listed yet would look missing.
        while not self.wait_synced(1.0):
            if self.stop.is_set():
                return
        while True:
            item = self.queue.get()
            if item is None:
                return
            try:
                delay = self.reconcile(*item)
                with self._memory_lock:
                    if item in self._memory:  # (a Function gone has no memory left to reset)
                        self._memory[item].failures = 0
                if delay is not None:
                    self.queue.add_after(item, delay)
            except ApiError as err:
                if not terminating(err):
                    self._retry(item, err)
                # else: its namespace is being deleted, the Function with it; nothing to make there any more
            except Exception as err:  # noqa: BLE001 - a worker must survive anything; retry with backoff
                self._retry(item, err)
            finally:
                self.queue.done(item)

    def _retry(self, item: Key, err: BaseException) -> None:
        memory = self._remember(item)
        wait = min(MAX_BACKOFF, 0.5 * 2 ** memory.failures)
        memory.failures += 1
        log.warning("%s/%s: %s; retrying in %gs", *item, _describe(err), wait)
        self.queue.add_after(item, wait)

    # ---- events from the informers ----------------------------------------------------------------------

    def _on_function(self, kind: str, obj: Mapping[str, Any]) -> None:
        if kind == "DELETED":
            with self._memory_lock:
                self._memory.pop(key(obj), None)
            return
        self.queue.add(key(obj))

    def _on_owned(self, kind: str, obj: Mapping[str, Any]) -> None:
        """A Deployment's or pod's change concerns its Function (the Deployment's controller, the pod's label)."""
        meta = render.meta(obj)
        owner = next((ref["name"] for ref in meta.get("ownerReferences") or []
                      if ref.get("controller") and ref.get("kind") == render.KIND
                      and str(ref.get("apiVersion", "")).startswith("kubeless.io/")), None)
        owner = owner or (meta.get("labels") or {}).get("function")
        if owner:
            self.queue.add((str(meta.get("namespace") or ""), str(owner)))

    # ---- the reconcile ----------------------------------------------------------------------------------

    def function(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._cached(self.functions, namespace, name)

    def _cached(self, informers: list[Informer], namespace: str, name: str) -> Mapping[str, Any] | None:
        for informer in informers:
            found = informer.get(namespace, name)
            if found is not None:
                return found
        return None

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Bring one Function's objects and status up to date; returns seconds until it should be looked at
        again (None: when something changes)."""
        function = self.function(namespace, name)
        if function is None or render.meta(function).get("deletionTimestamp"):
            return None  # gone or going: the garbage collector removes what it owned
        memory = self._remember((namespace, name))
        try:
            source = render.check_source(function)
            scaler = render.autoscaler(function)
        except render.ChecksumMismatch as err:
            self._report(function, memory, render.CHECKSUM_MISMATCH, str(err), self._serving(function))
            return None
        except render.InvalidFunction as err:
            self._report(function, memory, render.INVALID, str(err), self._serving(function))
            return None
        fmeta = render.meta(function)
        # What the objects are made from (a status write changes none of it, with a status subresource)
        fingerprint = (str(fmeta.get("uid")), json.dumps([fmeta.get("generation"), fmeta.get("labels"),
                                                          fmeta.get("annotations")], sort_keys=True),
                       self.options.image)
        current = self._cached(self.deployments, namespace, name)
        if memory.applied == fingerprint and current is not None and render.owned_by(current, function):
            deployment = current  # nothing changed on our side: status only
        else:
            wanted = [render.configmap(function, source), render.service(function),
                      render.deployment(function, source, self.options.image)] + ([scaler] if scaler else [])
            holders = {id(obj): self._holder(obj, function) for obj in wanted}
            leftovers = [obj for obj in wanted if holders[id(obj)] == "earlier"]
            conflicts = [obj for obj in wanted if holders[id(obj)] == "other"]
            if leftovers and not conflicts:
                names = ", ".join(f"{o['kind']} {namespace}/{name}" for o in leftovers)
                self._report(function, memory, render.DEPLOYING, f"{names} of an earlier Function {name} is "
                             "still there: waiting for the garbage collector to remove it", 0)
                memory.applied = None
                return LEFTOVER_RETRY
            if conflicts:
                names = ", ".join(f"{o['kind']} {namespace}/{name}" for o in conflicts)
                self._report(function, memory, render.CONFLICT,
                             f"{names} already exists and is not this Function's: not taken over "
                             "(delete it or rename the Function)", self._serving(function))
                memory.applied = None
                return CONFLICT_RETRY
            deployment: Mapping[str, Any] = {}
            for obj in wanted:  # the Deployment after the ConfigMap its pods mount; the autoscaler after it
                try:
                    applied = self._apply(obj)
                except ApiError as err:
                    if err.status not in (400, 422):
                        raise
                    # spec.deployment or spec.service made an object the API server refuses: the user's to fix
                    why = err.status_object().get("message") or str(err)
                    self._report(function, memory, render.INVALID,
                                 f"the API server refused the {obj['kind']}: {why}", self._serving(function))
                    memory.applied = None
                    return None
                if obj["kind"] == "Deployment":
                    deployment = applied
            if scaler is None:
                self._drop_autoscaler(function)
            memory.applied = fingerprint
            self._rolled(function, current, source)
        readiness = render.readiness(deployment)
        reason, message = readiness.reason, readiness.message
        if not readiness.ready and reason == render.DEPLOYING:
            stuck = self._pod_trouble(namespace, name, source)
            if stuck:
                reason, message = render.FAILED, f"{stuck}; {readiness.message}"
        self._report(function, memory, reason, message, readiness.ready_replicas, ready=readiness.ready)
        return None

    def _serving(self, function: Mapping[str, Any]) -> int:
        """Ready replicas of the Function's own Deployment (an older source may still serve), else 0."""
        meta = render.meta(function)
        current = self._cached(self.deployments, meta["namespace"], meta["name"])
        if current is None or not render.owned_by(current, function):
            return 0
        return int((current.get("status") or {}).get("readyReplicas") or 0)

    def _pod_trouble(self, namespace: str, name: str, source: render.Source) -> str | None:
        """Why a pod of the Function's current source and deps cannot start (a failed init container, an image
        or crash back-off); pods of an earlier one, on their way out, are not the news."""
        current = {render.CHECKSUM_ANNOTATION: source.checksum,
                   render.DEPS_ANNOTATION: render.sha256(source.deps) if source.deps else None}
        for informer in self.pods:
            for pod in informer.items():
                meta = render.meta(pod)
                if meta.get("namespace") != namespace or (meta.get("labels") or {}).get("function") != name:
                    continue
                if meta.get("deletionTimestamp"):
                    continue
                annotations = meta.get("annotations") or {}
                if any(annotations.get(k) != v for k, v in current.items()):
                    continue
                found = pod_trouble(pod)
                if found:
                    return f"pod {meta.get('name')}: {found}"
        return None

    def _holder(self, obj: Mapping[str, Any], function: Mapping[str, Any]) -> str:
        """Who has an object of that kind and name: "none" (free), "this" Function, an "earlier" Function of
        the same name (deleted: the garbage collector will remove it), or some "other" owner (a conflict)."""
        try:
            found = self.api.request_json("GET", _path(obj)) or {}
        except ApiError as err:
            if err.status == 404:
                return "none"
            raise
        if render.owned_by(found, function):
            return "this"
        name = render.meta(function)["name"]
        earlier = any(ref.get("controller") and ref.get("kind") == render.KIND and ref.get("name") == name
                      and str(ref.get("apiVersion", "")).startswith("kubeless.io/")
                      for ref in render.meta(found).get("ownerReferences") or [])
        return "earlier" if earlier else "other"

    def _drop_autoscaler(self, function: Mapping[str, Any]) -> None:
        """spec.horizontalPodAutoscaler was removed: delete the autoscaler made for it (only ours)."""
        meta = render.meta(function)
        path = _path({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta})
        try:
            found = self.api.request_json("GET", path)
            if not render.owned_by(found or {}, function):
                return
            self.api.request_json("DELETE", path, body={"apiVersion": "v1", "kind": "DeleteOptions",
                                                        "preconditions": {"uid": render.meta(found)["uid"]}})
        except ApiError as err:
            if err.status not in (404, 409):  # gone already, or replaced meanwhile
                raise
            return
        self.event(function, "Normal", "AutoscalerRemoved", "spec.horizontalPodAutoscaler is gone: deleted its "
                   "HorizontalPodAutoscaler")

    def _apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.api.request_json(
            "PATCH", _path(obj), query={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=json.dumps(obj).encode(), headers={"Content-Type": "application/apply-patch+yaml"})
        meta = render.meta(obj)
        log.debug("%s/%s: applied %s", meta["namespace"], meta["name"], obj["kind"])
        return answer or {}

    def _rolled(self, function: Mapping[str, Any], current: Mapping[str, Any] | None,
                source: render.Source) -> None:
        """An event when the Deployment was created, or its pods roll to a new source."""
        if current is None:
            self.event(function, "Normal", "Created",
                       f"created ConfigMap, Service and Deployment for source {source.checksum[:19]}")
            return
        template = ((current.get("spec") or {}).get("template") or {}).get("metadata") or {}
        previous = (template.get("annotations") or {}).get(render.CHECKSUM_ANNOTATION)
        if previous and previous != source.checksum:
            self.event(function, "Normal", "Rolling",
                       f"rolling the Deployment to source {source.checksum[:19]} (was {previous[:19]})")

    # ---- status and events ------------------------------------------------------------------------------

    def _report(self, function: Mapping[str, Any], memory: _Memory, reason: str, message: str,
                ready_replicas: int, *, ready: bool = False) -> None:
        meta = render.meta(function)
        wanted = render.status(function, ready, reason, message, ready_replicas, _now())
        generation = self._serves_status()
        if not render.same_status(function.get("status"), wanted, generation=generation):
            self._write_status(function, wanted, memory)
        if memory.reason is None:
            previous = next((c for c in (function.get("status") or {}).get("conditions") or []
                             if c.get("type") == "Ready"), None)
            memory.reason = previous.get("reason") if previous else None
        if memory.reason != reason:
            memory.reason = reason
            log.info("%s/%s: %s: %s", meta["namespace"], meta["name"], reason, message)
            self.event(function, "Normal" if reason in (render.READY, render.DEPLOYING) else "Warning", reason,
                       message)

    def _serves_status(self) -> bool:
        """Whether the Function CRD has the status subresource, from API discovery (looked up again after
        STATUS_RECHECK seconds: an install may change the CRD while we run). True when discovery fails."""
        now = time.monotonic()
        if self._status_subresource is not None and now - self._status_subresource[0] < STATUS_RECHECK:
            return self._status_subresource[1]
        try:
            found = self.api.request_json("GET", FUNCTIONS) or {}
        except (ApiError, TransportError) as err:
            log.debug("discovery of %s failed: %s", FUNCTIONS, _describe(err))
            return True
        served = any(r.get("name") == "functions/status" for r in found.get("resources") or [])
        if self._status_subresource is not None and self._status_subresource[1] != served:
            log.info("the Function CRD %s the status subresource now", "serves" if served else "no longer serves")
        elif self._status_subresource is None and not served:
            log.info("the Function CRD has no status subresource: writing status on the Functions themselves")
        self._status_subresource = (now, served)
        return served

    def _write_status(self, function: Mapping[str, Any], status: Mapping[str, Any], memory: _Memory) -> None:
        meta = render.meta(function)
        path = f"{FUNCTIONS}/namespaces/{meta['namespace']}/functions/{meta['name']}"
        body = json.dumps({"status": status}).encode()
        headers = {"Content-Type": "application/merge-patch+json"}
        if self._serves_status():
            try:
                self.api.request_json("PATCH", path + "/status", body=body, headers=headers)
            except ApiError as err:
                if err.status != 404:
                    raise
                self._status_subresource = None  # gone, or the CRD changed: discovery says which next time
                if self._exists(path) is not False:
                    raise  # the Function is there: retry (with backoff) once discovery is asked again
            return
        try:
            self.api.request_json("PATCH", path, body=body, headers=headers)
        except ApiError as err:
            if err.status == 403:  # least privilege grants functions/status only: say so once per Function
                if not memory.status_warned:
                    memory.status_warned = True
                    log.warning("%s/%s: cannot write its status (the CRD has no status subresource and this "
                                "account may not patch functions): %s", meta["namespace"], meta["name"],
                                _describe(err))
                return
            if err.status != 404:
                raise

    def _exists(self, path: str) -> bool | None:
        try:
            self.api.request_json("GET", path)
            return True
        except ApiError as err:
            return False if err.status == 404 else None

    def event(self, function: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        """A core/v1 Event on the Function (best effort: a failure is logged, never fatal)."""
        meta = render.meta(function)
        now = _now()
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": render.API_VERSION, "kind": render.KIND, "name": meta["name"],
                               "namespace": meta["namespace"], "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message[:1024], "type": kind,
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
            "reportingInstance": self.options.instance,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            self.api.request_json("POST", f"/api/v1/namespaces/{meta['namespace']}/events", body=event)
        except Exception as err:  # noqa: BLE001 - events are a courtesy
            log.debug("%s/%s: event %s not recorded: %s", meta["namespace"], meta["name"], reason, _describe(err))

    def _remember(self, item: Key) -> _Memory:
        with self._memory_lock:
            return self._memory.setdefault(item, _Memory())


def pod_trouble(pod: Mapping[str, Any]) -> str | None:
    """What keeps a function pod from starting, from its status: a failed `prepare` (its termination
    message: a checksum mismatch, a pip failure), an image that cannot be pulled, a container in back-off or
    one that failed before and is not ready again (retried at once rather than backed off)."""
    status = pod.get("status") or {}
    for which, statuses in (("init container", status.get("initContainerStatuses")),
                            ("container", status.get("containerStatuses"))):
        for found in statuses or []:
            if found.get("ready"):
                continue
            state = found.get("state") or {}
            terminated = state.get("terminated") or (found.get("lastState") or {}).get("terminated")
            waiting = state.get("waiting") or {}
            if terminated and terminated.get("exitCode", 0) != 0:
                why = (terminated.get("message") or terminated.get("reason") or "").strip()
                restarts = int(found.get("restartCount") or 0)
                return (f"{which} {found.get('name')} exited {terminated.get('exitCode')}"
                        + (f" ({restarts} restarts)" if restarts else "") + (f": {why}" if why else ""))
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff",
                                         "CreateContainerConfigError", "InvalidImageName"):
                why = waiting.get("message") or ""
                return f"{which} {found.get('name')}: {waiting['reason']}" + (f": {why}" if why else "")
    return None


def terminating(err: ApiError) -> bool:
    """A refusal because the namespace is being deleted (the API server's NamespaceTerminating cause)."""
    if err.status != 403:
        return False
    causes = (err.status_object().get("details") or {}).get("causes") or []
    return any(c.get("type") == "NamespaceTerminating" for c in causes) or \
        "because it is being terminated" in str(err.status_object().get("message") or "")


def _collection(prefix: str, namespace: str | None, plural: str) -> str:
    return f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"


def _in(namespace: str | None) -> str:
    return f" in {namespace}" if namespace else ""


def _path(obj: Mapping[str, Any]) -> str:
    meta = render.meta(obj)
    plural = {"ConfigMap": "configmaps", "Service": "services", "Deployment": "deployments",
              "HorizontalPodAutoscaler": "horizontalpodautoscalers"}[obj["kind"]]
    prefix = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
    return f"{prefix}/namespaces/{meta['namespace']}/{plural}/{meta['name']}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _describe(err: BaseException) -> str:
    if isinstance(err, ApiError):
        message = err.status_object().get("message")
        return f"{err.status} {err.reason}" + (f": {message}" if message else "")
    return f"{type(err).__name__}: {err}"
