"""A small Kubernetes REST client: JSON over HTTP/1.1 (and TLS), with pooled connections, from the stdlib.

Why not the `kubernetes` package: importing it costs ~0.45 s, several times a whole `kubectl get`, and kf
only ever exchanges JSON (no generated models). `http.client` and `ssl` do the work (`kfshell.transport`);
`kfshell.cluster` builds clients from the kubeconfig. Nothing heavy is imported at module level, so `cluster`
can import this on the prompt's startup path.

Fail fast, as kubectl does in practice: connecting (TCP and the TLS handshake) gives up after the connect
timeout and nothing is retried, except a request on a reused keep-alive connection that the server had
already closed (it never reached the server). An answer with an error status raises `ApiError`, carrying the
server's `Status` body; no answer at all raises `TransportError` (refused, DNS, TLS, timeouts).

Credentials stay out of reprs, messages and logs: the token is read through `bearer_token()` only.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

from kfshell.transport import (
    ConnectionPool,
    ConnectTimeoutError,
    ReadTimeoutError,
    Response,
    TransportError,
    connect,
    tls_context,
)

if TYPE_CHECKING:
    import http.client
    import ssl

__all__ = [
    "DEFAULT_POOL_SIZE", "ApiError", "ConnectTimeoutError", "Credentials", "ImpersonationUnsupported",
    "ReadTimeoutError", "Response", "RestClient", "TransportError", "error_class", "tls_context",
]

# seconds: a float is the read timeout; a pair is (connect, read), as the kubernetes client's _request_timeout
Timeout = float | tuple[float, float] | None
Query = Mapping[str, Any] | Sequence[tuple[str, Any]] | None

DEFAULT_POOL_SIZE = 10  # idle keep-alive connections kept per client (more may be open at once)


class ApiError(Exception):
    """The API server answered with an error status. `body` is its answer, usually a `Status` object."""

    def __init__(self, status: int, reason: str = "", body: bytes | str = b"",
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = dict(headers or {})

    def status_object(self) -> dict[str, Any]:
        """The `Status` the server sent ({} when the body was something else)."""
        body = self.body.decode("utf-8", "replace") if isinstance(self.body, bytes) else self.body
        if not isinstance(body, str) or not body.startswith("{"):
            return {}
        try:
            found = json.loads(body)
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}

    def __str__(self) -> str:
        message = self.status_object().get("message")
        return f"({self.status}) {self.reason}" + (f": {message}" if message else "")


class ImpersonationUnsupported(Exception):
    """A call path that cannot carry impersonation headers (websockets: exec, attach, port-forward)."""

    def to_result(self) -> dict[str, Any]:
        return {"error": {"reason": "NotSupported", "message": str(self), "status": 501}}


def error_class() -> type[ApiError]:
    """The class of the errors to raise: `ApiError`, which is also kubernetes' `ApiException` once that is loaded.

    Transitional: code that still catches `kubernetes.client.exceptions.ApiException` has imported it before
    calling, so while `kubernetes` is loaded our errors are ApiExceptions too and such code keeps working.
    Where `kubernetes` is not loaded nobody can be catching its exceptions. New code catches `ApiError`.
    """
    module = sys.modules.get("kubernetes.client.exceptions")
    base = getattr(module, "ApiException", None)
    return ApiError if base is None else _with_kubernetes_base(base)


@functools.cache
def _with_kubernetes_base(base: type[Exception]) -> type[ApiError]:
    return type("ApiError", (ApiError, base), {"__module__": __name__})


class Credentials(Protocol):
    """Credentials that change while a client lives (an exec plugin's): see kfshell.execcred."""

    def token(self) -> str | None: ...

    def ssl_context(self) -> ssl.SSLContext | None: ...  # None: the client's own; else one with the cert

    def unauthorized(self, token: str | None) -> bool: ...  # after a 401: True when worth one retry


class RestClient:
    """Calls one API server with one set of credentials; thread-safe; connections are pooled and reused.

    `token` is a bearer token, or a zero-argument callable returning the current one (token files rotate);
    `credentials` an object giving the token and client certificate of the moment (exec plugins: re-run on a
    401, the request then retried once); `authorization` a fixed Authorization value (basic auth);
    `impersonate` a (user, groups) pair sent as Impersonate-User and one Impersonate-Group line per group,
    with `impersonate_uid` and `impersonate_extra` (kubeconfig `as-uid`, `as-user-extra`).
    """

    def __init__(self, server: str, *, ssl_context: ssl.SSLContext | None = None,
                 tls_server_name: str | None = None, token: str | Callable[[], str | None] | None = None,
                 authorization: str | None = None, proxy: str | None = None, connect_timeout: float = 3.0,
                 read_timeout: float = 30.0, pool_size: int = DEFAULT_POOL_SIZE,
                 impersonate: tuple[str, Sequence[str]] | None = None, impersonate_uid: str | None = None,
                 impersonate_extra: Mapping[str, Sequence[str]] | None = None,
                 credentials: Credentials | None = None, _pool: ConnectionPool | None = None) -> None:
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the server address {server!r} is not an http(s) URL")
        self.server = server
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self._ssl = ssl_context if parts.scheme == "https" else None
        if parts.scheme == "https" and self._ssl is None:
            self._ssl = tls_context()
        self._tls_server_name = tls_server_name
        self._token = token
        self._authorization = authorization
        from kfshell.proxies import parse as parse_proxy

        self._proxy = parse_proxy(proxy) if proxy else None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._pool = _pool or ConnectionPool(pool_size)
        self.impersonated_user = impersonate[0] if impersonate else None
        self.impersonated_groups = tuple(impersonate[1]) if impersonate else ()
        self.impersonated_uid = impersonate_uid
        self.impersonated_extra = {k: tuple(v) for k, v in (impersonate_extra or {}).items()}
        self._credentials = credentials
        self.default_headers: dict[str, str] = {}  # sent with every call (per-call headers win)

    def __repr__(self) -> str:
        who = f" as {self.impersonated_user}" if self.impersonated_user else ""
        return f"<RestClient {self.server}{who}>"

    # ---- credentials -------------------------------------------------------------------------------

    def bearer_token(self) -> str | None:
        """The bearer token sent with each request, or None. Never log or print it."""
        if self._credentials is not None:
            return self._credentials.token() or None
        token = self._token() if callable(self._token) else self._token
        return token or None

    def impersonating(self, user: str, groups: Iterable[str] = ()) -> RestClient:
        """The same credentials and warm connections, every call made as `user` in `groups`."""
        return RestClient(self.server, ssl_context=self._ssl, tls_server_name=self._tls_server_name,
                          token=self._token, authorization=self._authorization,
                          proxy=self._proxy.geturl() if self._proxy else None,
                          connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
                          impersonate=(user, tuple(groups)), credentials=self._credentials, _pool=self._pool)

    def set_default_header(self, name: str, value: str) -> None:
        """Send `name: value` with every call (as kubernetes' ApiClient.set_default_header)."""
        self.default_headers[name] = value

    # ---- calls -------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, query: Query = None, body: Any = None,
                headers: Mapping[str, str] | None = None, timeout: Timeout = None) -> Response:
        """One call; the answer fully read, whatever its status. `body` other than bytes/str goes as JSON."""
        response = self.open(method, path, query=query, body=body, headers=headers, timeout=timeout)
        response.read()
        return response

    def request_json(self, method: str, path: str, *, query: Query = None, body: Any = None,
                     headers: Mapping[str, str] | None = None, timeout: Timeout = None) -> Any:
        """One call with JSON in and out, as plain dicts; raises ApiError for an error status."""
        merged = {"Accept": "application/json", **(headers or {})}
        response = self.request(method, path, query=query, body=body, headers=merged, timeout=timeout)
        if not 200 <= response.status <= 299:
            raise error_class()(response.status, response.reason, response.data, response.headers)
        return json.loads(response.data) if response.data else None

    def stream(self, method: str, path: str, *, query: Query = None, headers: Mapping[str, str] | None = None,
               timeout: Timeout = None) -> Response:
        """A call whose body is read as it arrives (`Response.stream()`, for watches); ApiError for an error."""
        merged = {"Accept": "application/json", **(headers or {})}
        response = self.open(method, path, query=query, headers=merged, timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise error_class()(response.status, response.reason, response.data, response.headers)
        return response

    def open(self, method: str, path: str, *, query: Query = None, body: Any = None,
             headers: Mapping[str, str] | None = None, timeout: Timeout = None) -> Response:
        """Send a request and return the answer unread (any status)."""
        import http.client

        connect_timeout, read_timeout = self._timeouts(timeout)
        target = self._prefix + path + _query_string(query)
        payload, content_type = _payload(body)
        lines = self._header_lines(headers, content_type)
        retried = False
        while True:
            tls = self._current_ssl()
            connection = self._pool.take()
            if connection is not None and getattr(connection, "kf_tls", None) is not tls:
                connection.close()  # made with a client certificate since renewed
                connection = None
            reused = connection is not None
            if connection is None:
                connection = self.open_connection(connect_timeout, tls)
            try:
                connection.sock.settimeout(read_timeout)
                connection.putrequest(method, target, skip_accept_encoding=True)
                for name, value in lines:
                    connection.putheader(name, value)
                if payload is not None or method in ("POST", "PUT", "PATCH"):
                    connection.putheader("Content-Length", str(len(payload or b"")))
                connection.endheaders(payload)
                raw = connection.getresponse()
                if raw.status == 401 and not retried and self._retry_unauthorized(lines):
                    raw.read()
                    self._pool.give(connection, not raw.will_close)
                    retried = True
                    lines = self._header_lines(headers, content_type)  # with the fresh credentials
                    continue
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as err:
                connection.close()
                if reused:  # the server closed a keep-alive connection before reading this request
                    continue
                raise TransportError(f"the connection was closed: {err}", host=self.host, port=self.port,
                                     phase="read") from None
            except TimeoutError:
                connection.close()
                raise ReadTimeoutError(f"read timed out after {read_timeout:g} s", host=self.host,
                                       port=self.port, phase="read") from None
            except (OSError, http.client.HTTPException) as err:
                connection.close()
                raise TransportError(f"{type(err).__name__}: {err}", host=self.host, port=self.port,
                                     phase="read") from err
            return Response(raw, connection, self._pool.give)

    def close(self) -> None:
        """Close the idle connections (open answers keep theirs)."""
        self._pool.clear()

    # ---- raw connections, for protocols of their own (websocket upgrades: exec, attach, port-forward) ----

    def open_connection(self, connect_timeout: float | None = None,
                        tls: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
        """A new connection to the API server as every call makes it: the kubeconfig's proxy (or the
        environment's), TLS with its CA, server name and client certificate (a plugin's, renewed). Its
        `.sock` is the connected socket. Send `credential_headers()` with whatever goes over it."""
        tls = tls if tls is not None else self._current_ssl()
        connection = connect(self.host, self.port, timeout=connect_timeout or self.connect_timeout,
                             ssl_context=tls, server_hostname=self._tls_server_name, proxy=self._proxy)
        connection.kf_tls = tls  # type: ignore[attr-defined]  # which client certificate it was made with
        return connection

    def credential_headers(self) -> list[tuple[str, str]]:
        """Authorization and Impersonate-* header lines, as every call sends them (never log them)."""
        return [line for line in self._header_lines(None, None) if line[0] != "User-Agent"]

    def _current_ssl(self) -> ssl.SSLContext | None:
        if self._ssl is None or self._credentials is None:
            return self._ssl
        return self._credentials.ssl_context() or self._ssl

    def _retry_unauthorized(self, lines: list[tuple[str, str]]) -> bool:
        """After a 401: whether the credentials were renewed (an exec plugin re-run) and the call is worth
        repeating once."""
        if self._credentials is None:
            return False
        sent = next((v for k, v in lines if k == "Authorization"), "")
        return self._credentials.unauthorized(sent[len("Bearer "):] if sent.startswith("Bearer ") else None)

    # ---- the shape of kubernetes.client.ApiClient, for callers written against it -------------------
    # Transitional (dispatch/kubeless.py, completion/streams.py): new code calls request/stream.

    def param_serialize(self, method: str, resource_path: str, path_params: Any = None, query_params: Query = None,
                        header_params: Mapping[str, str] | None = None, body: Any = None, post_params: Any = None,
                        files: Any = None, auth_settings: Any = None, collection_formats: Any = None,
                        _host: Any = None, _request_auth: Any = None) -> tuple[str, str, dict[str, str], Any, Any]:
        return method, resource_path + _query_string(query_params), dict(header_params or {}), body, post_params

    def call_api(self, method: str, url: str, header_params: Mapping[str, str] | None = None, body: Any = None,
                 post_params: Any = None, _request_timeout: Timeout = None) -> Response:
        return self.open(method, url, body=body, headers=header_params, timeout=_request_timeout)

    @property
    def rest_client(self) -> RestClient:
        return self

    @property
    def configuration(self) -> Any:
        """Not a kubernetes ApiClient: websocket calls (`kubernetes.stream`), which read this, need one."""
        if self.impersonated_user:  # refuse, rather than let exec run with the function's own rights
            raise ImpersonationUnsupported(
                "exec, attach and port-forward cannot run as the caller from a cluster function "
                "(the websocket client drops impersonation headers); run this command locally")
        raise AttributeError("a RestClient has no kubernetes configuration: for websocket calls use "
                             "kfshell.cluster.kubernetes_client()")

    @property
    def pool_manager(self) -> ConnectionPool:
        """The pool; `pool_manager.connection_pool_kw["maxsize"]` is its size, as with urllib3."""
        return self._pool

    # ---- plumbing ----------------------------------------------------------------------------------

    def _timeouts(self, timeout: Timeout) -> tuple[float, float]:
        if timeout is None:
            return self.connect_timeout, self.read_timeout
        if isinstance(timeout, tuple):
            return float(timeout[0]), float(timeout[1])
        return min(self.connect_timeout, float(timeout)), float(timeout)

    def _header_lines(self, headers: Mapping[str, str] | None, content_type: str | None) -> list[tuple[str, str]]:
        lines = [("User-Agent", "kf")]
        if self.default_headers:
            given_names = {str(name).lower() for name in (headers or {})}
            headers = {**{k: v for k, v in self.default_headers.items() if k.lower() not in given_names},
                       **(headers or {})}
        given = {str(name).lower() for name in (headers or {})}
        if content_type and "content-type" not in given:
            lines.append(("Content-Type", content_type))
        for name, value in (headers or {}).items():
            if self.impersonated_user and str(name).lower().startswith("impersonate-"):
                continue  # an impersonating client acts as its user only: nobody may widen that per call
            lines.append((str(name), str(value)))
        if "authorization" not in given:
            token = self.bearer_token()
            if token:
                lines.append(("Authorization", f"Bearer {token}"))
            elif self._authorization:
                lines.append(("Authorization", self._authorization))
        if self.impersonated_user:
            lines.append(("Impersonate-User", self.impersonated_user))
            lines.extend(("Impersonate-Group", group) for group in self.impersonated_groups)
            if self.impersonated_uid:
                lines.append(("Impersonate-Uid", self.impersonated_uid))
            for key, values in self.impersonated_extra.items():
                name = "Impersonate-Extra-" + quote(key, safe="")  # keys are percent-encoded, as client-go does
                lines.extend((name, value) for value in values)
        return lines

def _query_string(query: Query) -> str:
    if not query:
        return ""
    pairs = query.items() if isinstance(query, Mapping) else query
    encoded = [(str(k), _query_value(v)) for k, v in pairs if v is not None]
    return "?" + urlencode(encoded) if encoded else ""


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _payload(body: Any) -> tuple[bytes | None, str | None]:
    """The bytes to send and their content type (JSON unless the body is already bytes or text)."""
    if body is None:
        return None, None
    if isinstance(body, bytes):
        return body, None
    if isinstance(body, str):
        return body.encode(), None
    return json.dumps(body).encode(), "application/json"


def watch_events(chunks: Iterable[bytes], stopped: Callable[[], bool]) -> Iterator[Any]:
    """The events of a watch response's body (one JSON object per line, lines split across chunks), until
    `stopped()` says the reader has gone: the completion streams and the function controller's informer."""
    pending = b""
    for chunk in chunks:
        if stopped():
            return
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
