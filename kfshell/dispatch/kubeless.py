"""Calling a subcommand deployed as a Kubeless Function, the way `kubeless function call` does.

The Function is found by its label `kf.kubeflow.org/subcommand=<name>` (the current namespace first,
then kf-system) and called through the API server's service proxy:
POST /api/v1/namespaces/NS/services/NAME:PORT/proxy/ (the port named by the EndpointSlice, else the
Service; the trailing slash kept: without it the proxy redirects and the body is lost) with the headers
event-id, event-time, event-type and event-namespace.

The caller's bearer token goes along in `X-Kf-Caller-Token`: the API server authenticates the proxy
request with the Authorization header and strips it, so the function would otherwise never learn
who is calling. The function verifies the token with a TokenReview and impersonates its owner
(kfshell/runtime/caller.py). A caller with a client certificate has no token to pass: `NoBearerToken`
tells the dispatcher to run the subcommand locally instead.

`kubernetes` is imported lazily (through kfshell.cluster).
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kfshell.errors import CommandFailed, CredentialsRefused, KfError
from kfshell.runtime.caller import CALLER_TOKEN_HEADER

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

SUBCOMMAND_LABEL = "kf.kubeflow.org/subcommand"
SPEC_ANNOTATION = "kf.kubeflow.org/spec"
VERSION_ANNOTATION = "kf.kubeflow.org/version"
KF_SYSTEM = "kf-system"
EVENT_NAMESPACE = "cli.kf.kubeflow.org"
KUBELESS_PORT_NAME = "http-function-port"  # the port name Kubeless gives every function's Service
DEFAULT_TIMEOUT = 30.0
TRANSPORT_MARGIN = 10.0  # seconds on top of the function's timeout before the client gives up itself

_FUNCTIONS = "/apis/kubeless.io/v1beta1/namespaces/{ns}/functions"


class NoBearerToken(CommandFailed):
    """The caller authenticates with a client certificate: a cluster function cannot act as them."""


@dataclass(frozen=True)
class FunctionRef:
    """A deployed Function that provides a subcommand."""

    name: str
    namespace: str
    subcommand: str
    spec: Mapping[str, Any] | None = None  # its KF_COMMAND, from the kf.kubeflow.org/spec annotation
    checksum: str | None = None
    handler: str | None = None
    runtime: str | None = None
    timeout: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None  # spec.function: the module's code
    deps: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def version(self) -> str | None:
        return self.annotations.get(VERSION_ANNOTATION)

    @property
    def source_matches(self) -> bool:
        """Whether spec.function still has the sha256 recorded in spec.checksum (False: changed since, or
        no checksum to compare with)."""
        if self.source is None or not self.checksum:
            return False
        return self.checksum == source_checksum(self.source)


def source_checksum(source: str) -> str:
    """`sha256:<hex>` of a function's source, as Kubeless records it in spec.checksum."""
    import hashlib

    return "sha256:" + hashlib.sha256(source.encode("utf-8")).hexdigest()


def find_function(api: ApiClient, namespaces: Iterable[str | None], subcommand: str) -> FunctionRef | None:
    """The Function providing `subcommand` in the first of `namespaces` that has one, else None.

    A namespace whose Functions the caller may not list, or a cluster without the Function CRD,
    counts as having none.
    """
    for namespace in dict.fromkeys(ns for ns in namespaces if ns):
        found = list_functions(api, namespace, subcommand)
        if found:
            # Several Functions claiming one subcommand: prefer the one named after it, then by name.
            return sorted(found, key=lambda f: (f.name != subcommand, f.name))[0]
    return None


def list_functions(api: ApiClient, namespace: str, subcommand: str | None = None) -> list[FunctionRef]:
    """The kf subcommand Functions in `namespace` (all of them, or those for `subcommand`)."""
    from kfshell import cluster
    from kfshell.cluster import ApiError as ApiException

    selector = f"{SUBCOMMAND_LABEL}={subcommand}" if subcommand else SUBCOMMAND_LABEL
    try:
        answer = cluster.request_json(api, "GET", _FUNCTIONS.format(ns=namespace),
                                      query={"labelSelector": selector})
    except ApiException as exc:
        if exc.status in (403, 404):  # may not list here, or no Function CRD: none here
            return []
        raise cluster.translate(exc) from exc
    return [_function_ref(item) for item in (answer or {}).get("items", [])]


@dataclass(frozen=True)
class Readiness:
    """Whether a function's Service has a ready endpoint, and the port to proxy to when its EndpointSlices
    name it."""

    ready: bool
    port: str | None = None  # None: read it from the Service (service_port)


def readiness(api: ApiClient, namespace: str, name: str) -> Readiness:
    """Whether the function's Service has a ready endpoint (so a call can reach a runtime).

    Reads EndpointSlices, else the older Endpoints; a caller allowed to read neither gets ready: the call
    itself will then say what is wrong. A slice names its ports as the Service does, so a named first port
    comes along and the call needs no Service read.
    """
    from kfshell import cluster
    from kfshell.cluster import ApiError as ApiException

    try:
        slices = cluster.request_json(api, "GET", f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
                                      query={"labelSelector": f"kubernetes.io/service-name={name}"})
        items = (slices or {}).get("items", [])
        ready = any((endpoint.get("conditions") or {}).get("ready") is not False
                    for item in items for endpoint in item.get("endpoints") or [])
        ports = {port.get("name") or "" for item in items for port in item.get("ports") or []}
        # A slice's ports carry the Service's port names. One named port: that is the Service's port. Several,
        # or an unnamed one: which to use (the first, as Kubeless picks) only the Service can say.
        return Readiness(ready, ports.pop() if len(ports) == 1 and "" not in ports else None)
    except ApiException as exc:
        if exc.status != 403:  # only "may not read slices" falls through to Endpoints
            raise cluster.translate(exc) from exc
    try:
        endpoints = cluster.request_json(api, "GET", f"/api/v1/namespaces/{namespace}/endpoints/{name}")
    except ApiException as exc:
        if exc.status == 403:
            return Readiness(True)
        if exc.status == 404:
            return Readiness(False)
        raise cluster.translate(exc) from exc
    return Readiness(any(subset.get("addresses") for subset in (endpoints or {}).get("subsets") or []))


def service_port(api: ApiClient, namespace: str, name: str) -> str:
    """The port to proxy to, as `kubeless function call` picks it: the first port's name, else its number."""
    from kfshell import cluster
    from kfshell.cluster import ApiError as ApiException

    try:
        service = cluster.request_json(api, "GET", f"/api/v1/namespaces/{namespace}/services/{name}")
    except ApiException as exc:
        if exc.status == 403:
            return KUBELESS_PORT_NAME  # may proxy but not read Services: Kubeless's port name is fixed
        if exc.status == 404:
            raise CommandFailed(f"function {namespace}/{name} has no Service",
                                hint="is it deployed? see `command list`", reason="NotFound") from None
        raise cluster.translate(exc) from exc
    ports = ((service or {}).get("spec") or {}).get("ports") or []
    if not ports:
        raise CommandFailed(f"the Service of function {namespace}/{name} has no ports", reason="Invalid")
    return str(ports[0].get("name") or ports[0]["port"])


def call_function(api: ApiClient, namespace: str, function_name: str, request_data: Any,
                  timeout: float = DEFAULT_TIMEOUT, *, port: str | None = None) -> dict[str, Any]:
    """POST `request_data` to the function through the service proxy; return its result dict.

    The function's own error results (`{"error": ...}`) are returned as they are. Failures of the
    way there raise KfError: a refused proxy call, a missing or unready Service, a timeout.
    """
    from kfshell import cluster

    token = cluster.bearer_token(api)
    if getattr(api, "impersonated_user", None):
        # The runtime acts as the token's owner, never as a kubeconfig `as` identity: never send it then.
        raise NoBearerToken("your context impersonates another user (kubeconfig `as`), so a cluster function "
                            "cannot act as that identity", hint="the command runs locally instead",
                            reason="NoBearerToken")
    if not token:
        raise NoBearerToken(
            "your credentials are a client certificate, not a bearer token, so a cluster function cannot act "
            "as you", hint="the command runs locally instead", reason="NoBearerToken")
    port = port or service_port(api, namespace, function_name)
    path = f"/api/v1/namespaces/{namespace}/services/{function_name}:{port}/proxy/"
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "event-id": os.urandom(8).hex(),  # not uuid: it imports platform (~20 ms)
        "event-time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
        "event-type": "application/json",
        "event-namespace": EVENT_NAMESPACE,
        CALLER_TOKEN_HEADER: token,
    }
    where = f"{namespace}/{function_name}"
    try:
        method, url, header_params, body, post_params = api.param_serialize(
            "POST", path, header_params=headers, body=request_data, auth_settings=["BearerToken"])
        response = api.call_api(method, url, header_params, body, post_params,
                                _request_timeout=(cluster.CONNECT_TIMEOUT, timeout + TRANSPORT_MARGIN))
        status, raw = response.status, response.read()
    except Exception as exc:  # transport errors become KfErrors (whose messages never include headers)
        if "ReadTimeoutError" in {cls.__name__ for cls in type(_innermost(exc)).__mro__}:
            raise _timed_out(where, timeout) from None
        raise cluster.translate(exc) from None
    return _result(status, raw, namespace, function_name, port, timeout)


def call(spec: Any, data: Mapping[str, Any], session: Any) -> dict[str, Any]:
    """The dispatcher's entry: run `spec` (runs == "kubeless", origin "namespace/function") with `data`."""
    namespace, _, name = str(spec.origin).partition("/")
    if not name:
        raise CommandFailed(f"{spec.name} has no deployed Function to call (origin {spec.origin!r})",
                            reason="NotFound")
    return call_function(session.api(), namespace, name, dict(data), float(spec.timeout or DEFAULT_TIMEOUT))


def _result(status: int, raw: bytes, namespace: str, name: str, port: str, timeout: float) -> dict[str, Any]:
    where = f"{namespace}/{name}"
    text = raw.decode("utf-8", "replace")
    try:
        answer = json.loads(text) if text.strip() else None
    except ValueError:
        answer = None
    if isinstance(answer, dict) and answer.get("kind") == "Status" and "apiVersion" in answer:
        raise _proxy_refused(status, str(answer.get("message") or ""), namespace, name, port)
    if status == 408:
        raise _timed_out(where, timeout)
    if isinstance(answer, dict) and (200 <= status <= 299 or isinstance(answer.get("error"), dict)):
        return answer
    if 200 <= status <= 299:
        if answer is not None:
            return {"kind": "object", "object": answer}
        return {"kind": "message", "text": text}
    raise CommandFailed(f"function {where} answered HTTP {status}: {_clip(text) or 'no body'}",
                        reason="FunctionError")


def _proxy_refused(status: int, message: str, namespace: str, name: str, port: str) -> KfError:
    """The API server's own answer (a Status object), not the function's."""
    where = f"{namespace}/{name}"
    if status == 401:
        return CredentialsRefused("the cluster refused the credentials (401 Unauthorized)",
                                  hint="get fresh credentials", reason="Unauthorized")
    if status == 403:
        return CommandFailed(
            f"you may not call this function: needs services/proxy on service {name} in namespace {namespace}",
            hint=f"ask an admin for create on services/proxy (resource name {name}:{port}) there",
            reason="Forbidden")
    if status == 404:
        return CommandFailed(f"function {where} is not deployed: {_clip(message)}",
                             hint="see `command list`", reason="NotFound")
    if status == 503 and "no endpoints" in message:
        return CommandFailed(f"function {where} is not ready: its Service has no endpoints",
                             hint="its pod is not running; `--dispatch local` runs the command here",
                             reason="Unavailable")
    return CommandFailed(f"cannot reach function {where}: {_clip(message) or f'HTTP {status}'}",
                         hint="`--dispatch local` runs the command here", reason="Unavailable")


def _timed_out(where: str, timeout: float) -> CommandFailed:
    return CommandFailed(f"function {where} did not finish within {timeout:g}s", reason="Timeout",
                         hint="it was stopped; try again, or raise its timeout")


def _function_ref(item: Mapping[str, Any]) -> FunctionRef:
    meta = item.get("metadata") or {}
    spec = item.get("spec") or {}
    labels = dict(meta.get("labels") or {})
    kf_spec = None
    raw_spec = (meta.get("annotations") or {}).get(SPEC_ANNOTATION)
    if raw_spec:
        try:
            kf_spec = json.loads(raw_spec)
        except ValueError:
            kf_spec = None  # a broken annotation: the registry reports it, the call still works
    timeout = None
    try:
        timeout = float(spec["timeout"]) if spec.get("timeout") else None
    except (TypeError, ValueError):
        timeout = None
    return FunctionRef(
        name=meta.get("name", ""), namespace=meta.get("namespace", ""),
        subcommand=labels.get(SUBCOMMAND_LABEL, ""), spec=kf_spec, checksum=spec.get("checksum"),
        handler=spec.get("handler"), runtime=spec.get("runtime"), timeout=timeout, labels=labels,
        source=spec.get("function") if isinstance(spec.get("function"), str) else None,
        deps=str(spec.get("deps") or ""), annotations=dict(meta.get("annotations") or {}),
    )


def _innermost(exc: BaseException) -> BaseException:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else current.__cause__
    return seen[-1]


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
