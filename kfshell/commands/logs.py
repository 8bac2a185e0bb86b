"""`logs NAME [container] [-f] [--since 10m] [--tail N] [--previous] [--timestamps] [--all-containers]`.

All of a name's pods (kfshell/pods.py), each line prefixed by its pod (and container) in a stable colour
when there are several streams. `-f` follows: a poll of the name's pods picks up pods that start later
(a job's workers, a restarted container) and the command ends when the job ends (0 Complete, 1 Failed),
when every pod has finished, or on Ctrl-C. `follow_job` is the same for callers that know a job's name
(`train logs NAME -f`).
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from kfshell.errors import CommandFailed, UsageError
from kfshell.result import Empty

if TYPE_CHECKING:
    from kfshell.pods import Target
    from kfshell.registry import Invocation
    from kfshell.result import Result
    from kfshell.session import Session

KF_COMMAND = {
    "name": "logs",
    "help": "print (and follow) the logs of a notebook's, job's or component's pods",
    "arguments": [
        {"name": "name", "required": True, "complete": "pod-targets",
         "help": "a notebook, job, inference service, tensorboard, component or pod"},
        {"name": "container", "complete": "containers", "help": "only this container"},
        {"name": "follow", "kind": "flag", "flags": ["-f", "--follow"],
         "help": "keep printing new lines, and pods that start later, until the job ends or Ctrl-C"},
        {"name": "since", "kind": "option", "flags": ["--since"], "help": "only lines newer than this (10m, 2h)"},
        {"name": "tail", "kind": "option", "flags": ["--tail"], "type": "int", "help": "the last N lines of each"},
        {"name": "previous", "kind": "flag", "flags": ["-p", "--previous"],
         "help": "the previous run of a restarted container"},
        {"name": "timestamps", "kind": "flag", "flags": ["--timestamps"], "help": "start each line with its time"},
        {"name": "all_containers", "kind": "flag", "flags": ["--all-containers"],
         "help": "every container of each pod, not only the default one"},
    ],
}

POLL_INTERVAL = 1.0  # seconds between looks for new pods while following
_COLOURS = (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)
# A job's end, by the condition its controller sets: TrainJob Complete/Failed, training-operator Succeeded/Failed.
_DONE = ("Complete", "Succeeded")


@dataclass(frozen=True)
class LogOptions:
    container: str | None = None
    all_containers: bool = False
    since_seconds: int | None = None
    tail: int | None = None
    previous: bool = False
    timestamps: bool = False

    def query(self, container: str, follow: bool) -> dict[str, Any]:
        return {"container": container, "follow": follow or None, "sinceSeconds": self.since_seconds,
                "tailLines": self.tail, "previous": self.previous or None, "timestamps": self.timestamps or None}


def parse_since(text: str | None) -> int | None:
    """Seconds from a duration such as 90s, 10m, 1h30m, 2d; UsageError for anything else."""
    if text is None:
        return None
    parts = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or parts is None:
        raise UsageError(f"--since cannot be '{text}'", hint="a duration such as 30s, 10m, 2h or 1d")
    days, hours, minutes, seconds = (int(p or 0) for p in parts.groups())
    return max(1, ((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def run(invocation: Invocation, session: Session) -> Result:
    from kfshell import cluster, pods

    args = invocation.args
    options = LogOptions(container=args.get("container"), all_containers=bool(args.get("all_containers")),
                         since_seconds=parse_since(args.get("since")), tail=args.get("tail"),
                         previous=bool(args.get("previous")), timestamps=bool(args.get("timestamps")))
    if options.tail is not None and options.tail < 0:
        raise UsageError("--tail must be 0 or more")
    api = session.api(invocation.context)
    namespace = invocation.namespace or session.namespace
    pods.require(api, session, namespace, "get", "log", f"read the logs of pods in namespace {namespace}")
    try:
        target = pods.resolve(api, namespace, args["name"])
    except cluster.ApiError as exc:
        raise cluster.translate(exc) from exc
    env = session.env
    printer = Printer(env.stdout, env.stderr, colors=env.colors)
    if not args.get("follow"):
        print_logs(api, target, options, printer)
        return Empty()
    return Empty(exit_status=follow(api, target, options, printer))


class Printer:
    """Writes whole lines, prefixed by their stream when there are several, from any thread."""

    def __init__(self, out: TextIO, err: TextIO, *, colors: bool, prefixed: bool | None = None) -> None:
        self.out, self.err, self.colors, self.prefixed = out, err, colors, prefixed
        self._lock = threading.Lock()

    def prefix(self, label: str) -> str:
        if not self.prefixed:
            return ""
        if not self.colors:
            return f"[{label}] "
        colour = _COLOURS[zlib.crc32(label.encode()) % len(_COLOURS)]  # stable across runs
        return f"\x1b[{colour}m[{label}]\x1b[0m "

    def lines(self, label: str, text: str) -> None:
        if not text:
            return
        head = self.prefix(label)
        body = "".join(head + line + "\n" for line in text.splitlines())
        with self._lock:
            self.out.write(body)
            self.out.flush()

    def warn(self, line: str) -> None:
        with self._lock:
            self.err.write(f"kf: warning: {line}\n")
            self.err.flush()


def streams_of(pod: Mapping[str, Any], options: LogOptions) -> list[str]:
    """The containers of `pod` whose logs are wanted."""
    from kfshell.pods import DEFAULT_CONTAINER, containers

    names = containers(pod)
    if options.container:
        return [options.container] if options.container in names else []
    if options.all_containers or len(names) <= 1:
        return names
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    return [default if default in names else names[0]]


def _label(pod: Mapping[str, Any], container: str, options: LogOptions) -> str:
    from kfshell.pods import pod_name

    return f"{pod_name(pod)}/{container}" if options.all_containers else pod_name(pod)


def _log_path(namespace: str, pod: Mapping[str, Any]) -> str:
    from kfshell.pods import pod_name

    return f"/api/v1/namespaces/{namespace}/pods/{pod_name(pod)}/log"


def print_logs(api: Any, target: Target, options: LogOptions, printer: Printer) -> None:
    """Every stream's logs as they are now, pod by pod (oldest pod first)."""
    from kfshell import cluster
    from kfshell.pods import newest_first, pod_name

    pods = list(reversed(newest_first(target.pods)))
    jobs = [(pod, c) for pod in pods for c in streams_of(pod, options)]
    if options.container and not jobs:
        raise CommandFailed(f"no pod of {target.what} has a container {options.container}", reason="NotFound")
    if printer.prefixed is None:
        printer.prefixed = len(jobs) > 1

    def fetch(job: tuple[Mapping[str, Any], str]) -> str | Exception:
        pod, container = job
        try:
            response = api.request("GET", _log_path(target.namespace, pod), query=options.query(container, False))
        except Exception as exc:  # noqa: BLE001 - reported per stream below
            return exc
        if response.status != 200:
            return cluster.ApiError(response.status, response.reason, response.data, response.headers)
        return response.data.decode("utf-8", "replace")

    for (pod, container), text in zip(jobs, cluster.parallel(fetch, jobs), strict=True):
        if isinstance(text, Exception):
            reason = _why(text)
            if len(jobs) == 1:
                raise CommandFailed(f"no logs from {pod_name(pod)}: {reason}", reason="NoLogs")
            printer.warn(f"no logs from {_label(pod, container, options)}: {reason}")
            continue
        printer.lines(_label(pod, container, options), text)


def _why(error: Exception) -> str:
    from kfshell import cluster

    if isinstance(error, cluster.ApiError):
        return error.status_object().get("message") or str(error)
    return cluster.translate(error).message


class _Stream(threading.Thread):
    """Follows one container's log until it ends (the container stopped) or `stop()`."""

    def __init__(self, api: Any, namespace: str, pod: Mapping[str, Any], container: str, options: LogOptions,
                 printer: Printer, *, follow: bool = True) -> None:
        super().__init__(name="kf-logs", daemon=True)
        self.api, self.namespace, self.pod, self.container = api, namespace, pod, container
        self.follow = follow
        self.options, self.printer = options, printer
        self.label = _label(pod, container, options)
        self._response: Any = None
        self._stopped = False

    def run(self) -> None:
        from kfshell import cluster

        try:
            self._response = self.api.stream("GET", _log_path(self.namespace, self.pod),
                                             query=self.options.query(self.container, self.follow),
                                             headers={"Accept": "*/*"}, timeout=(3.0, 24 * 3600.0))
            if self._stopped:
                self._response.shutdown()
            pending = ""
            for chunk in self._response.stream(16384):
                text = pending + chunk.decode("utf-8", "replace")
                whole, _, pending = text.rpartition("\n")
                if whole or text.endswith("\n"):
                    self.printer.lines(self.label, whole)
            self.printer.lines(self.label, pending)
        except cluster.ApiError as err:
            if not self._stopped:
                self.printer.warn(f"no logs from {self.label}: {_why(err)}")
        except Exception as err:  # noqa: BLE001 - a broken stream is a warning, the others go on
            if not self._stopped:
                self.printer.warn(f"{self.label}: {_why(err)}")

    def stop(self) -> None:
        self._stopped = True
        if self._response is not None:
            self._response.shutdown()


def _state(pod: Mapping[str, Any], container: str) -> tuple[str, int]:
    """(the container's state: waiting, running or terminated; its restart count)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            state = status.get("state") or {}
            found = next((k for k in ("terminated", "running") if k in state), "waiting")
            return found, int(status.get("restartCount") or 0)
    return "waiting", 0


def follow(api: Any, target: Target, options: LogOptions, printer: Printer,
           job_status: Callable[[], tuple[bool, str | None] | None] | None = None) -> int:
    """Follow every stream of `target`, and of pods that appear later, until it is over; the exit status.

    `job_status()` → None (not a job, or unknown), or (done, failure reason or None).
    """
    from kfshell.discovery import list_objects
    from kfshell.pods import pod_name

    if job_status is None and target.kind in ("trainjob", "job"):
        job_status = job_checker(api, target.namespace, target.name)
    streams: dict[tuple[str, str, int], _Stream] = {}
    ending: dict[tuple[str, str, int], int] = {}
    wake = threading.Event()
    if printer.prefixed is None:
        count = sum(len(streams_of(p, options)) for p in target.pods)
        printer.prefixed = count > 1 or target.kind in ("trainjob", "job")  # a job's pods come and go
    pods = list(target.pods)
    try:
        while True:
            for pod in pods:
                uid = (pod.get("metadata") or {}).get("uid") or pod_name(pod)
                for container in streams_of(pod, options):
                    state, restarts = _state(pod, container)
                    key = (uid, container, restarts)
                    if state != "waiting" and key not in streams:
                        streams[key] = _Stream(api, target.namespace, pod, container, options, printer,
                                               follow=state == "running")
                        streams[key].start()
                    elif state == "terminated" and key in streams:
                        # Some node agents keep a finished container's log open: end it once it has had
                        # a poll's time to deliver its last lines.
                        ending[key] = ending.get(key, 0) + 1
                        if ending[key] > 1:
                            streams[key].stop()
            live = any(s.is_alive() for s in streams.values())
            status = job_status() if job_status is not None else None
            if status is not None and status[0] and not live:
                if status[1]:
                    printer.warn(f"{target.what} failed: {status[1]}")
                return 1 if status[1] else 0
            if status is None and not live and pods and all(_finished(p) for p in pods):
                return 0
            if status is None and not live and target.selector is None and not pods:
                raise CommandFailed(f"{target.what} is gone", reason="NotFound")
            wake.wait(POLL_INTERVAL)
            if target.selector is not None:
                pods = list_objects(api, f"/api/v1/namespaces/{target.namespace}/pods", selector=target.selector)
            else:
                pods = list_objects(api, f"/api/v1/namespaces/{target.namespace}/pods",
                                    field_selector=f"metadata.name={target.name}")
    finally:
        for stream in streams.values():
            stream.stop()


def _finished(pod: Mapping[str, Any]) -> bool:
    from kfshell.pods import phase

    return phase(pod) in ("Succeeded", "Failed")


def job_checker(api: Any, namespace: str, name: str,
                kind_key: str | None = None) -> Callable[[], tuple[bool, str | None] | None]:
    """A function telling whether the training job `name` has ended: (done, failure reason or None), or
    None while its kind is not known (none of TrainJob, TFJob, PyTorchJob by that name)."""
    from kfshell import cluster
    from kfshell.discovery import JOB_KINDS, KINDS

    keys = [kind_key] if kind_key else list(JOB_KINDS)
    found: dict[str, str] = {}

    def check() -> tuple[bool, str | None] | None:
        paths = [found["path"]] if found else [
            f"/apis/{KINDS[k].group}/{KINDS[k].versions[0]}/namespaces/{namespace}/{KINDS[k].plural}/{name}"
            for k in keys]
        for path in paths:
            try:
                job = cluster.request_json(api, "GET", path)
            except cluster.ApiError:
                continue
            found["path"] = path
            return job_end(job)
        return None

    return check


def job_end(job: Mapping[str, Any]) -> tuple[bool, str | None]:
    """(whether the job has ended, why it failed or None), from its conditions."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Failed":
            return True, condition.get("message") or condition.get("reason") or "Failed"
        if condition.get("type") in _DONE:
            return True, None
    return False, None


def follow_job(api: Any, namespace: str, name: str, *, stdout: TextIO, stderr: TextIO, colors: bool = False,
               kind_key: str | None = None, options: LogOptions | None = None) -> int:
    """Follow the logs of every pod of training job `name` until the job ends: 0 when it completed, 1 when
    it failed (the reason is printed on `stderr`). Pods that start later are picked up as they start.

    `kind_key`: "trainjobs", "tfjobs" or "pytorchjobs" when known (else each is tried). For `train logs -f`.
    """
    from kfshell.pods import Target, resolve

    try:
        target = resolve(api, namespace, name)
    except CommandFailed:
        target = Target(name, namespace, f"job {name}", ())  # no pods yet: they are picked up when they start
    if target.selector is None or target.kind == "pod":
        from kfshell.pods import OWNER_LABELS

        label = OWNER_LABELS[1][0] if kind_key in (None, "trainjobs") else "training.kubeflow.org/job-name"
        target = Target(name, namespace, f"job {name}", target.pods, selector=f"{label}={name}")
    printer = Printer(stdout, stderr, colors=colors, prefixed=True)
    return follow(api, target, options or LogOptions(all_containers=True), printer,
                  job_status=job_checker(api, namespace, name, kind_key))
