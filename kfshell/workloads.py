"""What `notebook`, `train`, `serve` and `tensorboard` share: finding their kind on the cluster, reading an
input file, checking an object with a server-side dry run, creating, reading, patching and deleting it, and
waiting for it.

Every helper raises `fnkit.FunctionError` with one line a data scientist can act on: a kind whose CRD is
absent names the Kubeflow component to ask for; a dry run the server refuses names the field and why (exit 2,
nothing created); a missing object names the nearest existing ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from kfshell import discovery as d
from kfshell import fnkit

# The Kubeflow component that serves each API group: what to ask the administrator for.
PRODUCTS = {
    "kubeflow.org": "Kubeflow Notebooks",
    "trainer.kubeflow.org": "Kubeflow Trainer",
    "serving.kserve.io": "KServe",
    "tensorboard.kubeflow.org": "Kubeflow Tensorboards",
}
TRAINING_OPERATOR = "the Kubeflow Training Operator"
MAX_WAIT = 600.0  # seconds any --wait may take, whatever --timeout says


def resource(api: Any, kind: d.Kind, discovery: d.Discovery | None = None) -> d.Resource:
    """The served resource for `kind`; a one-line failure naming the missing component when it is absent."""
    found = (discovery or d.discover(api)).find(kind)
    if found is None:
        product = TRAINING_OPERATOR if kind.kind in ("TFJob", "PyTorchJob") else PRODUCTS.get(kind.group, kind.group)
        raise fnkit.FunctionError("NotInstalled", f"this cluster has no {product} ({kind.group}): "
                                  f"{kind.plural} cannot be used", status=404, hint="ask your administrator")
    return found


def waits(req: fnkit.Request) -> bool:
    """`--wait`, or a person at a terminal who did not say `--no-wait`."""
    if req.arg("no_wait"):
        return False
    return bool(req.arg("wait") or req.data.get("interactive"))


def input_text(event: Mapping[str, Any], req: fnkit.Request, path: str) -> tuple[str, str]:
    """(text, name to show) of an input file: as the client sent it, else read here when running locally."""
    shown = os.path.basename(path) or path
    sent = (req.data.get("files") or {}).get(path)
    if isinstance(sent, str):
        return sent, shown
    if not fnkit.is_local(event):
        raise fnkit.FunctionError("Usage", f"{path} did not travel with the request (missing, or over 1 MiB)",
                                  hint="check the path, or run it locally (--dispatch local)")
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            return handle.read(), shown
    except FileNotFoundError:
        raise fnkit.FunctionError("Usage", f"{path} does not exist", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as err:
        raise fnkit.FunctionError("Usage", f"cannot read {path}: {err}") from None


def load_input(event: Mapping[str, Any], req: fnkit.Request, path: str, kinds: dict[str, str], name: str,
               command: str) -> dict[str, Any]:
    """The object an input file declares, checked (syntax, one document, kind, name); exit 2 when it is bad."""
    from kfshell import manifests
    from kfshell.errors import UsageError

    text, shown = input_text(event, req, path)
    try:
        return manifests.load_one(text, shown, kinds, name, req.namespace, command).obj
    except UsageError as err:
        raise fnkit.FunctionError("Usage", err.message, hint=err.hint) from None


def check_and_create(api: Any, res: d.Resource, namespace: str, obj: dict[str, Any], what: str,
                     *, dry_run_only: bool = False) -> dict[str, Any]:
    """Dry-run `obj` on the server (exit 2 with the field path when its schema refuses it), then create it."""
    _post(api, res, namespace, obj, what, dry_run=True)
    if dry_run_only:
        return obj
    return _post(api, res, namespace, obj, what, dry_run=False)


def _post(api: Any, res: d.Resource, namespace: str, obj: dict[str, Any], what: str, *,
          dry_run: bool) -> dict[str, Any]:
    from kfshell.cluster import ApiError, request_json

    query = {"fieldValidation": "Strict", "dryRun": "All" if dry_run else None}
    try:
        return request_json(api, "POST", res.path(namespace), body=obj, query=query)
    except ApiError as err:
        raise refusal(err, what, namespace) from None


def refusal(err: Any, what: str, namespace: str) -> Exception:
    """The error to raise for a refused create: schema problems exit 2 with field paths, the rest as usual."""
    if err.status in (400, 422):
        status = err.status_object()
        causes = (status.get("details") or {}).get("causes") or []
        problems = [f"{c['field']}: {c.get('message', '')}" if c.get("field") else c.get("message", "")
                    for c in causes if c.get("message") or c.get("field")]
        text = "; ".join(p for p in problems if p) or _short(status.get("message") or str(err))
        return fnkit.FunctionError("Invalid", f"{what}: the server refuses it: {text}", status=422,
                                   hint="fix the fields named; nothing was created", exit_status=2)
    if err.status == 409:
        return fnkit.FunctionError("AlreadyExists", f"{what} already exists in namespace {namespace}",
                                   hint="pick another name, or delete it first")
    return err


def nothing_created(err: BaseException) -> BaseException:
    """The error to raise after undoing a half-made create: it says nothing was left behind."""
    from kfshell.cluster import ApiError, translate

    if isinstance(err, ApiError):
        failed = translate(err)
        return fnkit.FunctionError(failed.reason or "InternalError", f"{failed.message}; nothing was created",
                                   hint=failed.hint, exit_status=int(failed.exit_status))
    if isinstance(err, fnkit.FunctionError):
        return fnkit.FunctionError(err.reason, f"{err.message}; nothing was created", err.status, hint=err.hint,
                                   exit_status=err.exit_status)
    return err


def _short(message: str) -> str:
    """A server message without its `Kind.group "name" is invalid:` preamble."""
    head, sep, rest = message.partition(" is invalid: ")
    return rest if sep else message


def get(api: Any, res: d.Resource, namespace: str, name: str, what: str) -> dict[str, Any]:
    """One object; NotFound names the nearest existing ones."""
    from kfshell.cluster import ApiError, request_json

    try:
        return request_json(api, "GET", res.path(namespace, name))
    except ApiError as err:
        if err.status != 404:
            raise
    names = [o["metadata"]["name"] for o in d.try_list(api, res.path(namespace), what).items]
    raise fnkit.not_found(what, name, names, namespace)


def listed(api: Any, res: d.Resource, namespace: str) -> list[dict[str, Any]]:
    return d.list_objects(api, res.path(namespace))


def merge_patch(api: Any, res: d.Resource, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
    from kfshell.cluster import request_json

    return request_json(api, "PATCH", res.path(namespace, name), body=patch,
                        headers={"Content-Type": "application/merge-patch+json"})


def delete(api: Any, res: d.Resource, namespace: str, name: str, what: str) -> None:
    """Delete one object (its children go with it: background propagation); NotFound names the nearest."""
    from kfshell.cluster import ApiError, request_json

    try:
        request_json(api, "DELETE", res.path(namespace, name), body={"propagationPolicy": "Background"})
    except ApiError as err:
        if err.status != 404:
            raise
        get(api, res, namespace, name, what)  # raises the NotFound with the nearest names


def delete_quietly(api: Any, path: str) -> None:
    """Undo a create (all or nothing); an object already gone is fine."""
    from kfshell.cluster import ApiError, request_json

    try:
        request_json(api, "DELETE", path, body={"propagationPolicy": "Background"})
    except ApiError as err:
        if err.status != 404:
            raise


def wait_until(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float,
               what: str, state: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """Re-read the object until `done(obj)`; a Timeout (exit 1) says the state it was left in."""
    import time

    deadline = time.monotonic() + min(timeout, MAX_WAIT)
    while True:
        obj = read()
        if done(obj):
            return obj
        if time.monotonic() >= deadline:
            raise fnkit.FunctionError("Timeout", f"{what} is still {state(obj)} after {timeout:g} s",
                                      hint="look again later, or see why with describe")
        time.sleep(0.5)


def condition(obj: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def is_true(obj: Mapping[str, Any], kind: str) -> bool:
    cond = condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


def created(obj: Mapping[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("creationTimestamp")


def newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda o: (created(o) or "", (o.get("metadata") or {}).get("name", "")),
                  reverse=True)


def clock(timestamp: str | None) -> str:
    """An API timestamp as `2026-12-01 23:40:05` (UTC), for start times; "" without one."""
    when = d.parse_time(timestamp)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if when else ""


def duration(start: str | None, end: str | None, now: datetime | None = None) -> str:
    """How long from `start` to `end` (or to now while it runs), as kubectl shows ages."""
    begun = d.parse_time(start)
    if begun is None:
        return ""
    finished = d.parse_time(end) or now or datetime.now(timezone.utc)
    return d.format_age((finished - begun).total_seconds())


def conditions_view(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Conditions as describe shows them: type, status, reason, message, since."""
    return [{k: v for k, v in (("type", c.get("type")), ("status", c.get("status")), ("reason", c.get("reason")),
                               ("message", c.get("message")),
                               ("since", c.get("lastTransitionTime") or c.get("lastUpdateTime"))) if v}
            for c in (obj.get("status") or {}).get("conditions") or []]


def caller_name(event: Mapping[str, Any], req: fnkit.Request, api: Any) -> str:
    """Who is asking (for the creator annotation the web apps set)."""
    from kfshell.cluster import whoami

    config = fnkit.kubeconfig(event)
    fallback = config.context(req.context).user if config else None
    return whoami(api, fallback_user=fallback).user
