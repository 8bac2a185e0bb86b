"""The client's one door to the Kubernetes API: clients, raw JSON calls, who am I, may I, and errors.

Clients are `kfshell.rest.RestClient`s built from the kubeconfig (`kfshell.clients`, re-exported here): JSON
over the standard library's HTTP and TLS, no generated models, the same for built-in kinds and CRDs.
`kubernetes` (~0.45 s to import) is loaded only for what kf does not do itself: users authenticated by an
exec or auth-provider plugin, and websocket calls (`kubernetes_client`).

Clients fail fast: connecting gives up after `CONNECT_TIMEOUT` seconds and nothing is retried, so an
unreachable cluster or refused credentials are reported within 5 s. `translate` turns whatever a call
raised into the `KfError` a person should read.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kfshell import rest
from kfshell.clients import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    api_client,
    configured_token,
    in_cluster_client,
    kubernetes_client,
)
from kfshell.errors import CommandFailed, CredentialsRefused, KfError, Unreachable, UsageError
from kfshell.kubeconfig import Context, KubeConfig, load_kubeconfig
from kfshell.rest import ApiError, RestClient, TransportError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    Client = RestClient | ApiClient  # request_json & co. also take a kubernetes ApiClient (tests, old callers)
else:
    Client = Any

__all__ = [
    "CONNECT_TIMEOUT", "READ_TIMEOUT", "ApiError", "Context", "Identity", "KubeConfig", "Requirement",
    "RestClient", "TransportError", "api_client", "api_status", "bearer_token", "can_i", "can_i_all",
    "in_cluster_client", "kubernetes_client", "load_kubeconfig", "parallel", "request_json", "server_of",
    "translate", "whoami",
]


@dataclass(frozen=True)
class Identity:
    """Who the API server says we are. `source` is "SelfSubjectReview", or "kubeconfig" for the fallback."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str | None = None
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = "SelfSubjectReview"


@dataclass(frozen=True)
class Requirement:
    """RBAC attributes a caller needs: what `KF_COMMAND["requires"]` entries describe."""

    verb: str
    resource: str
    group: str = ""
    namespace: str | None = None
    subresource: str | None = None
    name: str | None = None


def bearer_token(api: Client) -> str | None:
    """The bearer token `api` sends (from the kubeconfig or an exec plugin), or None for certificates.

    Never log or print what this returns.
    """
    if isinstance(api, RestClient):
        return api.bearer_token()
    return configured_token(api.configuration)


def server_of(api: Client) -> str:
    return api.server if isinstance(api, RestClient) else str(api.configuration.host)


def request_json(api: Client, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                 body: Any = None, headers: Mapping[str, str] | None = None,
                 timeout: float | tuple[float, float] | None = None) -> Any:
    """One API call with a JSON body and answer, as plain dicts. Raises ApiError for non-2xx answers,
    TransportError when there is no answer."""
    if isinstance(api, RestClient):
        return api.request_json(method, path, query=query, body=body, headers=headers, timeout=timeout)
    header_params = {"Accept": "application/json"}
    if body is not None:
        header_params["Content-Type"] = "application/json"
    header_params.update(headers or {})
    query_params = [(k, v) for k, v in (query or {}).items() if v is not None]
    method, url, header_params, body, post_params = api.param_serialize(
        method, path, query_params=query_params, header_params=header_params, body=body,
        auth_settings=["BearerToken"])
    response = api.call_api(method, url, header_params, body, post_params, _request_timeout=timeout)
    data = response.read()
    if not 200 <= response.status <= 299:
        raise rest.error_class()(response.status, response.reason or "", data or b"", response.getheaders())
    if not data:
        return None
    return json.loads(data)


def parallel(call: Callable[[Any], Any], inputs: Sequence[Any], workers: int = 6) -> list[Any]:
    """`call` over `inputs` on a few daemon threads (API calls wait on the network), results in order.

    The first input's exception, in input order, is raised once all are done. Plain threads rather than
    concurrent.futures, which costs more to import than the calls take, and whose threads outlive Ctrl-C.
    """
    items = list(inputs)
    if len(items) <= 1:
        return [call(item) for item in items]
    results: list[Any] = [None] * len(items)
    errors: list[BaseException | None] = [None] * len(items)
    pending = iter(range(len(items)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            try:
                results[index] = call(items[index])
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread below
                errors[index] = exc

    threads = [threading.Thread(target=work, name="kf-call", daemon=True) for _ in range(min(workers, len(items)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results


def whoami(api: Client, fallback_user: str | None = None) -> Identity:
    """The user and groups the API server authenticates us as (SelfSubjectReview).

    Where the API is missing (older clusters) or refused, falls back to `fallback_user` (the kubeconfig's user
    name) with no groups; without a fallback the error is raised.
    """
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        answer = request_json(api, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body=review)
    except ApiError as err:
        if err.status in (403, 404, 405) and fallback_user:
            return Identity(user=fallback_user, source="kubeconfig")
        raise
    info = (answer.get("status") or {}).get("userInfo") or {}
    extra = {k: tuple(v) for k, v in (info.get("extra") or {}).items()}
    return Identity(user=info.get("username") or fallback_user or "", groups=tuple(info.get("groups") or ()),
                    uid=info.get("uid"), extra=extra)


def can_i(api: Client, verb: str, resource: str, group: str = "", namespace: str | None = None, *,
          subresource: str | None = None, name: str | None = None) -> bool:
    """Whether we may `verb` the `resource` (SelfSubjectAccessReview); namespace None means cluster-wide."""
    return _review(api, Requirement(verb=verb, resource=resource, group=group, namespace=namespace,
                                    subresource=subresource, name=name))


def can_i_all(api: Client, requirements: Iterable[Requirement]) -> dict[Requirement, bool]:
    """Many access reviews at once (distinct ones only, a few in parallel)."""
    distinct = list(dict.fromkeys(requirements))
    return dict(zip(distinct, parallel(lambda r: _review(api, r), distinct, workers=8), strict=True))


def _review(api: Client, req: Requirement) -> bool:
    attributes = {"verb": req.verb, "resource": req.resource, "group": req.group}
    for key in ("namespace", "subresource", "name"):
        if getattr(req, key):
            attributes[key] = getattr(req, key)
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": attributes}}
    answer = request_json(api, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review)
    return bool((answer.get("status") or {}).get("allowed"))


def api_status(exc: BaseException) -> dict[str, Any]:
    """The `Status` object the API server sent with an error, or {} when there was none."""
    if isinstance(exc, ApiError):
        return exc.status_object()
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.startswith("{"):
        return {}
    try:
        status = json.loads(body)
    except ValueError:
        return {}
    return status if isinstance(status, dict) else {}


_FORBIDDEN = re.compile(
    r'(?:^\S+ "(?P<name>[^"]*)" is forbidden: )?'
    r'.*?User "(?P<user>[^"]*)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]*)"'
    r'(?: in API group "(?P<group>[^"]*)")?'
    r'(?: in the namespace "(?P<namespace>[^"]*)"| at the cluster scope)?')


def forbidden_message(server_message: str) -> str:
    """"bob may not create namespaces cluster-wide", from the API server's Forbidden message."""
    match = _FORBIDDEN.search(server_message or "")
    if not match:
        return server_message or "forbidden"
    resource = match["resource"]
    if match["group"]:
        resource, _, sub = resource.partition("/")
        resource = f"{resource}.{match['group']}" + (f"/{sub}" if sub else "")
    who = match["user"] or "anonymous"
    if resource == "namespaces" and match["name"]:
        return f"{who} may not {match['verb']} namespace {match['name']}"
    if match["name"]:
        resource += f" {match['name']}"
    where = f"in namespace {match['namespace']}" if match["namespace"] else "cluster-wide"
    return f"{who} may not {match['verb']} {resource} {where}"


def translate(exc: BaseException) -> KfError:
    """The KfError a person should see for `exc` (an ApiError or ApiException, a TransportError, urllib3 or
    socket errors, ...).

    401 and unreachable servers map to exit status 3; Forbidden says who, verb, resource and namespace;
    other API errors keep the server's message and its reason (NotFound, Invalid, AlreadyExists, ...).
    Exceptions kf does not know become CommandFailed with reason "InternalError".
    """
    if isinstance(exc, KfError):
        return exc
    if isinstance(exc, ApiError):
        return _translate_api(exc, exc.status)
    if isinstance(exc, TransportError):
        return _translate_transport(exc)
    status = getattr(exc, "status", None)
    if _is_api_exception(exc):
        if not status:  # the client never got an answer; it reports TLS failures this way
            kind, _, detail = str(getattr(exc, "reason", "") or exc).partition("\n")
            if kind == "SSLError":
                return _tls_failed(detail)
            return Unreachable(f"no answer from the cluster: {' '.join(f'{kind} {detail}'.split())}",
                               hint="check the context's server and your network", reason="Unreachable")
        return _translate_api(exc, int(status))
    unreachable = _unreachable(exc)
    if unreachable is not None:
        return unreachable
    if type(exc).__name__ == "ConfigException":
        return UsageError(f"the kubeconfig cannot be used: {exc}", hint="fix the kubeconfig",
                          reason="BadKubeconfig")
    return CommandFailed(f"{type(exc).__name__}: {exc}", reason="InternalError")


def _tls_failed(detail: str) -> KfError:
    found = re.search(r"\[SSL: [A-Z_]+\] ([^\"()]+)", detail)
    why = found.group(1).strip() if found else " ".join(detail.split())
    return Unreachable(f"TLS with the cluster failed: {why}", hint="check the kubeconfig's certificate authority",
                       reason="Unreachable")


def _translate_transport(exc: TransportError) -> KfError:
    """The same lines as for the kubernetes client's urllib3 errors, from our own transport errors."""
    cause = exc.__cause__ or exc.__context__
    names = {cls.__name__ for cls in type(cause).__mro__} if cause is not None else set()
    hint = "check that the cluster is running and the context's server address is right"
    target = f" at {exc.where}"
    if isinstance(exc, rest.ReadTimeoutError):
        return Unreachable(f"the cluster{target} stopped answering (read timed out)", hint=hint, reason="Unreachable")
    if isinstance(exc, rest.ConnectTimeoutError):
        return Unreachable(f"the cluster{target} did not answer within {CONNECT_TIMEOUT:g} s", hint=hint,
                           reason="Unreachable")
    if exc.phase == "tls" and "SSLError" in names:
        return _tls_failed(str(cause))
    if "gaierror" in names:
        return Unreachable(f"cannot resolve the cluster's host name{target}", hint=hint, reason="Unreachable")
    if "ConnectionRefusedError" in names:
        return Unreachable(f"the cluster{target} refused the connection", hint=hint, reason="Unreachable")
    detail = _last_words([cause]) if cause is not None else str(exc)
    return Unreachable(f"cannot reach the cluster{target}: {detail}", hint=hint, reason="Unreachable")


def _is_api_exception(exc: BaseException) -> bool:
    return any(cls.__name__ == "ApiException" and cls.__module__.startswith("kubernetes")
               for cls in type(exc).__mro__)


def _translate_api(exc: BaseException, status: int) -> KfError:
    body = api_status(exc)
    message = str(body.get("message") or getattr(exc, "reason", "") or f"HTTP {status}")
    reason = str(body.get("reason") or "")
    if status == 401:
        return CredentialsRefused("the cluster refused the credentials (401 Unauthorized)",
                                  hint="the token or certificate in the kubeconfig is wrong or expired; "
                                       "get fresh credentials", reason="Unauthorized")
    if status == 403:
        return CommandFailed(forbidden_message(message), hint="ask a cluster admin for this permission",
                             reason="Forbidden")
    if status == 404:
        if not body:
            message = "the cluster does not serve this resource (is its CRD installed?)"
        return CommandFailed(message, reason="NotFound")
    if status == 409:
        return CommandFailed(message, reason=reason or "Conflict")
    if status == 422:
        return CommandFailed(message, reason="Invalid")
    if status == 400:
        return CommandFailed(message, reason=reason or "BadRequest")
    if status == 429:
        return CommandFailed(message, hint="try again in a moment", reason="TooManyRequests")
    if status >= 500:
        return CommandFailed(f"the API server failed: {message}", reason=reason or "InternalError")
    return CommandFailed(message, reason=reason or f"HTTP{status}")


def _unreachable(exc: BaseException) -> KfError | None:
    """Unreachable for connection-level failures (refused, DNS, timeout, TLS), else None."""
    chain = _chain(exc)
    names = {cls.__name__ for c in chain for cls in type(c).__mro__}
    where = _where(chain)
    target = f" at {where}" if where else ""
    hint = "check that the cluster is running and the context's server address is right"
    # Most specific first: urllib3's NewConnectionError is also a ConnectTimeoutError.
    if names & {"SSLError", "SSLCertVerificationError"}:
        return Unreachable(f"TLS with the cluster{target} failed: {_last_words(chain)}",
                           hint="check the kubeconfig's certificate authority", reason="Unreachable")
    if names & {"NameResolutionError", "gaierror"}:
        return Unreachable(f"cannot resolve the cluster's host name{target}", hint=hint, reason="Unreachable")
    if "ConnectionRefusedError" in names:
        return Unreachable(f"the cluster{target} refused the connection", hint=hint, reason="Unreachable")
    if "ReadTimeoutError" in names:
        return Unreachable(f"the cluster{target} stopped answering (read timed out)", hint=hint,
                           reason="Unreachable")
    if names & {"ConnectTimeoutError", "TimeoutError", "timeout"} and "NewConnectionError" not in names:
        return Unreachable(f"the cluster{target} did not answer within {CONNECT_TIMEOUT:g} s", hint=hint,
                           reason="Unreachable")
    # Not every OSError: a missing certificate file is a kubeconfig problem, not an unreachable cluster.
    if names & {"NewConnectionError", "MaxRetryError", "ProtocolError", "ConnectionError", "HTTPError"}:
        return Unreachable(f"cannot reach the cluster{target}: {_last_words(chain)}", hint=hint,
                           reason="Unreachable")
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what caused it: urllib3's `reason`, then Python's `__cause__` / `__context__`."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else (current.__cause__ or current.__context__)
    return chain


def _where(chain: list[BaseException]) -> str | None:
    for exc in chain:
        # urllib3's connection errors carry `conn` (their `pool` is a deprecated alias); MaxRetryError `pool`.
        holder = vars(exc).get("conn") or vars(exc).get("pool")
        if holder is not None:
            host = getattr(holder, "host", None)
            if host:
                port = getattr(holder, "port", None)
                return f"{host}:{port}" if port else str(host)
    return None


def _last_words(chain: list[BaseException]) -> str:
    """The innermost error's own words, without urllib3's object reprs."""
    text = str(chain[-1]) or type(chain[-1]).__name__
    return re.sub(r"<[^>]*>: ", "", text).strip()
