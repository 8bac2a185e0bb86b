"""A kubernetes ApiClient that sends Impersonate-User / Impersonate-Group with every request.

Kept apart from caller.py because it imports kubernetes at import time (caller.py imports it lazily).

The generated client keeps default headers in a plain dict, which cannot repeat a header, and the
API server wants one Impersonate-Group line per group. So the headers are added at the REST layer,
where urllib3's HTTPHeaderDict sends each value on its own line. Websocket calls (exec, attach,
port-forward through kubernetes.stream) bypass that layer and would run with the function's own
rights, so this client refuses them instead of silently widening what the caller may do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubernetes import client
from kubernetes.client import rest
from urllib3 import HTTPHeaderDict


class ImpersonationUnsupported(Exception):
    """A call path that cannot carry impersonation headers was attempted."""

    def to_result(self) -> dict[str, Any]:
        return {"error": {"reason": "NotSupported", "message": str(self), "status": 501}}


class _ImpersonatingRESTClient(rest.RESTClientObject):
    def __init__(self, configuration: client.Configuration, user: str, groups: tuple[str, ...],
                 pool_manager: Any = None) -> None:
        super().__init__(configuration)
        self._user = user
        self._groups = groups
        self._shared_pool = pool_manager is not None
        if pool_manager is not None:  # reuse warm connections: identity travels per request, not per connection
            self.pool_manager.clear()
            self.pool_manager = pool_manager

    def close(self) -> None:
        if not self._shared_pool:
            super().close()

    def request(self, method: str, url: str, *args: Any, headers: Any = None, **kwargs: Any) -> Any:
        return super().request(
            method, url, *args, headers=impersonation_headers(headers, self._user, self._groups), **kwargs
        )


def impersonation_headers(headers: Any, user: str, groups: Iterable[str]) -> HTTPHeaderDict:
    """`headers` plus the impersonation headers; any Impersonate-* already there is dropped first."""
    merged = HTTPHeaderDict()
    for name, value in (headers or {}).items():
        if not str(name).lower().startswith("impersonate-"):
            merged.add(name, value)
    merged.add("Impersonate-User", user)
    for group in groups:
        merged.add("Impersonate-Group", group)
    return merged


class ImpersonatingApiClient(client.ApiClient):
    """Makes every call as `user` in `groups`, with the credentials of `configuration`.

    `pool_manager` (urllib3) lets many such clients share the function's warm connections.
    """

    def __init__(self, configuration: client.Configuration, user: str, groups: Iterable[str] = (),
                 pool_manager: Any = None) -> None:
        super().__init__(configuration)
        self.impersonated_user = user
        self.impersonated_groups = tuple(groups)
        self.rest_client.close()
        self.rest_client = _ImpersonatingRESTClient(configuration, user, self.impersonated_groups, pool_manager)

    def __setattr__(self, name: str, value: Any) -> None:
        # kubernetes.stream swaps call_api for a websocket call that forwards only Authorization.
        if name in ("call_api", "request") and "rest_client" in self.__dict__:
            raise ImpersonationUnsupported(
                "exec, attach and port-forward cannot run as the caller from a cluster function "
                "(the websocket client drops impersonation headers); run this command locally"
            )
        super().__setattr__(name, value)
