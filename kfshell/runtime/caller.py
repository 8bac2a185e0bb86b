"""Acting as the caller: verify the bearer token a request carries and impersonate its owner.

A function deployed on the cluster runs with its own service account, which may do more than the
person calling it. So it never uses those rights for the caller's work: it asks the API server who
the caller's token belongs to (a TokenReview, made with the function's credentials) and makes every
API call impersonating that user and their groups. The caller's RBAC decides, exactly as if they had
made the call themselves.

Where the token comes from: the API server's service proxy authenticates the caller with their
Authorization header and strips it before proxying, so kf sends the same token again in
`X-Kf-Caller-Token` (see docs/architecture.md). A request that reaches the runtime directly (not
through the proxy) may use `Authorization: Bearer ...` instead. Tokens are never logged and never
put into error messages.

The function's own credentials: in-cluster config (its pod's service account), or the kubeconfig at
$KF_RUNTIME_KUBECONFIG (the test hosts and local development). The service account needs
`create tokenreviews` (ClusterRole system:auth-delegator) and `impersonate` on users and groups.

The clients are `kfshell.rest.RestClient`s (no `kubernetes` import: a cold worker starts faster). They
have no websocket path (exec, attach, port-forward), which could not carry impersonation anyway:
`cluster.kubernetes_client` is for the caller's own kubeconfig only, never for acting as someone else.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kfshell.rest import ImpersonationUnsupported, RestClient

__all__ = [
    "CALLER_TOKEN_HEADER", "KUBECONFIG_ENV", "Caller", "CallerError", "ImpersonationUnsupported", "caller_token",
    "client_for_request", "request_credentials", "service_client", "verify",
]

CALLER_TOKEN_HEADER = "X-Kf-Caller-Token"
KUBECONFIG_ENV = "KF_RUNTIME_KUBECONFIG"


class CallerError(Exception):
    """The caller could not be established; becomes the call's error result (401 unless said otherwise).

    The runtime turns any exception with `to_result()` into that result, so a function need not catch it.
    """

    def __init__(self, message: str, status: int = 401, reason: str = "Unauthorized") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason

    def to_result(self) -> dict[str, Any]:
        return {"error": {"reason": self.reason, "message": self.message, "status": self.status}}


@dataclass(frozen=True)
class Caller:
    """Who the token belongs to, as the API server's TokenReview says."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def caller_token(request: object) -> str | None:
    """The caller's bearer token from `X-Kf-Caller-Token`, else from `Authorization: Bearer`."""
    token = _bearer(_header(request, CALLER_TOKEN_HEADER), bare_allowed=True)
    if token:
        return token
    return _bearer(_header(request, "Authorization"), bare_allowed=False)


def request_credentials(request: object) -> list[str]:
    """Every credential string in the request, longest first, for redacting logs and messages."""
    found = {caller_token(request)}
    for name in (CALLER_TOKEN_HEADER, "Authorization"):
        value = _header(request, name)
        if value:
            found.add(value.strip())
            found.add(value.strip().split(" ", 1)[-1].strip())
    return sorted((s for s in found if s and len(s) >= 8), key=len, reverse=True)


def client_for_request(event: Mapping[str, Any]) -> RestClient:
    """A client whose every call impersonates the caller of this HTTP event (Impersonate-User, and one
    Impersonate-Group line per group), over the function's own warm connections.

    Raises CallerError (401) when the request has no token or the API server does not accept it,
    and CallerError (500/503) when the function itself cannot verify callers.
    """
    request = (event.get("extensions") or {}).get("request")
    token = caller_token(request) if request is not None else None
    if not token:
        raise CallerError(
            "no caller token: the request has no X-Kf-Caller-Token header and no Authorization bearer "
            "token, so the function cannot act as its caller (kf sends the token of a token-based "
            "kubeconfig user; a client-certificate user runs commands locally)"
        )
    service = service_client(os.environ.get(KUBECONFIG_ENV) or None)
    caller = verify(token, service)
    return service.impersonating(caller.username, caller.groups)


def verify(token: str, service: RestClient) -> Caller:
    """Ask the API server, with the function's own credentials (`service`), whose token this is."""
    from kfshell.cluster import request_json
    from kfshell.rest import ApiError

    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    try:
        answer = request_json(service, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", body=review)
    except ApiError as exc:
        raise _review_failed(exc.status) from None
    except Exception as exc:  # transport errors: say which, never echo the request
        raise CallerError(
            f"cannot reach the API server to verify the caller: {type(exc).__name__}",
            status=503,
            reason="ServiceUnavailable",
        ) from None
    status = (answer or {}).get("status") or {}
    user = status.get("user") or {}
    if not status.get("authenticated") or not user.get("username"):
        why = str(status.get("error") or "authentication failed")
        raise CallerError(
            f"the caller's token was not accepted by the API server ({why.replace(token, '[redacted]')}); "
            "it may have expired: log in again"
        )
    return Caller(
        username=str(user["username"]),
        uid=str(user.get("uid") or ""),
        groups=tuple(user.get("groups") or ()),
        extra={k: tuple(v) for k, v in (user.get("extra") or {}).items()},
    )


@functools.lru_cache(maxsize=4)
def service_client(kubeconfig: str | None) -> RestClient:
    """A client with the function's own credentials (its pod's, or the kubeconfig's), one per worker process.

    Cached so that its connections stay warm between calls (a TLS handshake per call costs more than
    the TokenReview itself); the impersonating clients share its connection pool.
    """
    from kfshell import cluster
    from kfshell.errors import KfError

    try:
        if kubeconfig:
            return cluster.api_client(cluster.load_kubeconfig(kubeconfig))
        return cluster.in_cluster_client()
    except KfError as exc:
        where = f"the kubeconfig {kubeconfig} ({KUBECONFIG_ENV})" if kubeconfig else "its pod"
        raise CallerError(
            f"this function has no credentials of its own to verify callers: loading {where} failed: {exc.message}",
            status=500,
            reason="Misconfigured",
        ) from None


def _review_failed(status: int | None) -> CallerError:
    if status in (401, 403):
        return CallerError(
            "this function may not verify callers: its service account needs create on "
            "tokenreviews.authentication.k8s.io (ClusterRole system:auth-delegator)",
            status=500,
            reason="Misconfigured",
        )
    return CallerError(
        f"the API server failed to review the caller's token (HTTP {status})",
        status=503,
        reason="ServiceUnavailable",
    )


def _header(request: object, name: str) -> str | None:
    """A header from our FunctionRequest, a bottle-style request, or a plain mapping of headers."""
    get_header = getattr(request, "get_header", None)
    if callable(get_header):
        return get_header(name)
    headers = getattr(request, "headers", request)
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if str(key).lower() == name.lower():
                return str(value)
    return None


def _bearer(value: str | None, bare_allowed: bool) -> str | None:
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    if bare_allowed and " " not in value.strip():
        return value.strip()
    return None
