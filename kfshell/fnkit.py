"""The small library that function authors import.

A kf function is a Kubeless Python function: `handler(event, context)` plus a module-level `KF_COMMAND`.
With fnkit it reads like this::

    from kfshell import fnkit

    @fnkit.entrypoint
    def handler(event, context):
        req = fnkit.request(event)
        api = fnkit.api_client(event)          # acts as the caller, locally or on the cluster
        ...
        return fnkit.table(["NAME", "AGE"], rows)

`entrypoint` turns `FunctionError`, API errors (`cluster.ApiError`, and the kubernetes package's `ApiException`)
and connection errors into error results, so a handler only returns. Nothing heavy is imported here; the client
(`kfshell.rest.RestClient`) needs no `kubernetes` either.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kfshell.errors import CredentialsRefused, ExitStatus, KfError, Unreachable, UsageError

if TYPE_CHECKING:
    from kfshell.kubeconfig import KubeConfig
    from kfshell.rest import RestClient

# The HTTP status an error result carries for each reason (what the HTTP runtime answers with).
HTTP_STATUS = {
    "Usage": 400, "BadRequest": 400, "Invalid": 422, "Unauthorized": 401, "Forbidden": 403, "NotFound": 404,
    "AlreadyExists": 409, "Conflict": 409, "Refused": 409, "Unhealthy": 503, "Unreachable": 503,
    "Timeout": 504, "TooManyRequests": 429, "InternalError": 500,
}


@dataclass(frozen=True)
class Request:
    """What the caller asked for: `event["data"]` of a kf call."""

    command: tuple[str, ...]
    args: Mapping[str, Any]
    namespace: str
    context: str | None
    output: str
    data: Mapping[str, Any] = field(repr=False)

    @property
    def subcommand(self) -> str | None:
        """The second command word (`list` in `status list`), or None."""
        return self.command[1] if len(self.command) > 1 else None

    @property
    def where(self) -> Mapping[str, Any]:
        """The caller's own names for where they are (`cluster`, `server`), sent by the client."""
        where = self.data.get("where")
        return where if isinstance(where, Mapping) else {}

    def server(self, api: Any) -> str:
        """The API server's address as the caller reaches it: what a URL in an answer must be built on.
        On the cluster a function's own client talks to an in-cluster address nobody outside can open."""
        from kfshell.cluster import server_of

        return str(self.where.get("server") or server_of(api))

    def arg(self, name: str, default: Any = None) -> Any:
        """An argument's value, `default` when it was not given (None counts as not given)."""
        value = self.args.get(name)
        return default if value is None else value


class FunctionError(Exception):
    """Raise from a handler to fail with `reason` (Forbidden, NotFound, Invalid, ...) and a one-line message."""

    def __init__(self, reason: str, message: str, status: int | None = None, *, hint: str | None = None,
                 exit_status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status or HTTP_STATUS.get(reason, 500)
        self.hint = hint
        self.exit_status = exit_status if exit_status is not None else _exit_status_for(reason)


def request(event: Mapping[str, Any]) -> Request:
    """The caller's request from a Kubeless event (`data` may be a dict or its JSON text)."""
    data = event.get("data")
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data or "{}")
        except ValueError as err:
            raise FunctionError("BadRequest", f"the request is not JSON: {err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FunctionError("BadRequest", "the request must be a JSON object")
    command = data.get("command") or []
    if isinstance(command, str):
        command = command.split()
    args = data.get("args") or {}
    if not isinstance(args, dict):
        raise FunctionError("BadRequest", "the request's args must be a JSON object")
    return Request(command=tuple(str(word) for word in command), args=args,
                   namespace=str(data.get("namespace") or "default"), context=data.get("context"),
                   output=str(data.get("output") or "table"), data=data)


def is_local(event: Mapping[str, Any]) -> bool:
    """Whether kf's embedded runtime called us (with the caller's kubeconfig) rather than the cluster."""
    return bool(_kf_extension(event).get("local"))


def kubeconfig(event: Mapping[str, Any]) -> KubeConfig | None:
    """The caller's kubeconfig when called locally; None on the cluster (there is no kubeconfig there)."""
    if not is_local(event):
        return None
    from kfshell.kubeconfig import load_kubeconfig

    kf = _kf_extension(event)
    paths = kf.get("kubeconfig")
    if isinstance(paths, str):  # KUBECONFIG-style: several files joined by os.pathsep, missing ones skipped
        return load_kubeconfig(None, kf.get("context"), environ={"KUBECONFIG": paths})
    return load_kubeconfig(paths, kf.get("context"))


def api_client(event: Mapping[str, Any]) -> RestClient:
    """A client (`kfshell.rest.RestClient`; `kfshell.cluster.request_json` calls with it) acting as the caller.

    Locally: `extensions.kf.client` when the embedded runtime passes its cached client, else one built from
    the kubeconfig and context in `event["extensions"]["kf"]`. On the cluster: the caller's
    bearer token is checked with a TokenReview and the client impersonates that user
    (`kfshell.runtime.caller.client_for_request`).
    """
    given = _kf_extension(event).get("client") if is_local(event) else None
    if given is not None:  # the embedded runtime's own cached client for the caller: no new TLS connections
        return given
    local = kubeconfig(event)
    if local is not None:
        from kfshell.cluster import api_client as client_for

        return client_for(local)
    from kfshell.runtime.caller import client_for_request

    return client_for_request(event)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]],
          wide_columns: Sequence[str] | None = None) -> dict[str, Any]:
    """A table result. With `wide_columns`, each row holds len(columns) + len(wide_columns) cells."""
    result: dict[str, Any] = {"kind": "table", "columns": list(columns), "rows": [list(r) for r in rows]}
    if wide_columns:
        result["wide_columns"] = list(wide_columns)
    return result


def message(text: str) -> dict[str, Any]:
    return {"kind": "message", "text": text}


def object(obj: Mapping[str, Any]) -> dict[str, Any]:  # noqa: A001 - the name the contract gives it
    return {"kind": "object", "object": dict(obj)}


def fail(reason: str, message: str, status: int | None = None, *, hint: str | None = None,
         exit_status: int | None = None) -> dict[str, Any]:
    """An error result. `exit_status` defaults from the reason: Usage 2, Unreachable/Unauthorized 3, else 1."""
    error: dict[str, Any] = {"reason": reason, "message": message, "status": status or HTTP_STATUS.get(reason, 500)}
    if hint:
        error["hint"] = hint
    return {"error": error, "exit_status": exit_status if exit_status is not None else _exit_status_for(reason)}


def error_result(exc: BaseException) -> dict[str, Any]:
    """The error result for an exception a handler raised (what runtimes answer with)."""
    if isinstance(exc, FunctionError):
        return fail(exc.reason, exc.message, exc.status, hint=exc.hint, exit_status=exc.exit_status)
    from kfshell.cluster import translate

    err = translate(exc)
    reason = err.reason or _reason_for_class(err)
    return fail(reason, err.message, hint=err.hint, exit_status=int(err.exit_status))


def entrypoint(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Wrap a handler so that expected failures become error results instead of exceptions."""

    @functools.wraps(handler)
    def wrapped(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        except (FunctionError, KfError) as exc:
            return error_result(exc)
        except Exception as exc:
            if _is_api_or_connection_error(exc):
                return error_result(exc)
            raise

    return wrapped


def wait_for(done: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll `done()` until it is true or `timeout` seconds pass; whether it became true."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        if done():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(interval, left))


def not_found(what: str, name: str, candidates: Iterable[str], namespace: str | None = None) -> FunctionError:
    """A NotFound error naming the closest existing names: raise fnkit.not_found("component", name, names)."""
    from kfshell.names import did_you_mean

    names = list(candidates)
    where = f" in namespace {namespace}" if namespace else ""
    hint = did_you_mean(name, names)
    if hint is None and names:
        hint = "there are: " + ", ".join(sorted(names)[:8]) + (" ..." if len(names) > 8 else "")
    return FunctionError("NotFound", f"{what} {name!r} not found{where}", hint=hint)


def check_name(name: str, what: str = "namespace") -> str:
    """`name` when it is a valid DNS-1123 label; else a usage error (exit 2) saying which rule it breaks."""
    from kfshell.names import check_name as check

    try:
        return check(name, what)
    except UsageError as err:
        raise FunctionError("Usage", err.message, hint=err.hint) from None


def _kf_extension(event: Mapping[str, Any]) -> Mapping[str, Any]:
    extensions = event.get("extensions") or {}
    kf = extensions.get("kf") if isinstance(extensions, Mapping) else None
    return kf if isinstance(kf, Mapping) else {}


def _exit_status_for(reason: str) -> int:
    if reason == "Usage":
        return int(ExitStatus.USAGE)
    if reason in ("Unreachable", "Unauthorized"):
        return int(ExitStatus.UNREACHABLE)
    return int(ExitStatus.FAILED)


def _reason_for_class(err: KfError) -> str:
    if isinstance(err, CredentialsRefused):
        return "Unauthorized"
    if isinstance(err, Unreachable):
        return "Unreachable"
    if isinstance(err, UsageError):
        return "Usage"
    return "InternalError"


def _is_api_or_connection_error(exc: BaseException) -> bool:
    from kfshell.rest import ApiError, TransportError

    module = type(exc).__module__
    return (isinstance(exc, (ApiError, TransportError, ConnectionError, TimeoutError))
            or module.startswith(("kubernetes.", "urllib3.")))
