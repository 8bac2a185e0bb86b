"""Connections to the API server for `kfshell.rest`: TLS contexts, connecting, answers, and the keep-alive pool.

All from the standard library (`http.client`, `ssl`), imported when first needed. Failures to get an answer
raise `TransportError` (with host, port and phase), which `kfshell.cluster.translate` turns into one line.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import http.client
    import ssl
    from urllib.parse import SplitResult


class TransportError(Exception):
    """No answer from the API server. `phase` is where it failed: connect, tls or read.

    The original error is the exception's `__context__` (for -v tracebacks); `kfshell.cluster.translate`
    turns this into the one line a person reads.
    """

    def __init__(self, message: str, *, host: str, port: int, phase: str) -> None:
        super().__init__(message)
        self.host = host
        self.port = port
        self.phase = phase

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


class ConnectTimeoutError(TransportError):
    """Connecting (TCP or the TLS handshake) took longer than the connect timeout."""


class ReadTimeoutError(TransportError):
    """Connected, but the answer did not come within the read timeout."""


def connect(host: str, port: int, *, timeout: float, ssl_context: ssl.SSLContext | None = None,
            server_hostname: str | None = None, proxy: SplitResult | None = None) -> http.client.HTTPConnection:
    """A new connection to host:port: TCP (tunnelled through `proxy` when given: kfshell.proxies), then TLS
    when `ssl_context` is given, all within `timeout`. Failures raise TransportError naming host:port."""
    import http.client
    import ssl

    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if proxy is None:
            connection.connect()
        else:
            connection.sock = _tunnel(proxy, host, port, timeout, ssl_context, server_hostname)
            if proxy.scheme == "https" and ssl_context is not None:
                return connection  # TLS to the server already runs inside the proxy's
    except TimeoutError:
        connection.close()
        raise ConnectTimeoutError(f"no connection within {timeout:g} s", host=host, port=port,
                                  phase="connect") from None
    except (OSError, http.client.HTTPException) as err:  # a proxy's refusal is a ProxyError (an OSError)
        connection.close()
        raise TransportError(f"{type(err).__name__}: {err}", host=host, port=port, phase="connect") from err
    if ssl_context is None:
        return connection
    try:
        connection.sock = ssl_context.wrap_socket(connection.sock, server_hostname=server_hostname or host)
    except TimeoutError:
        connection.close()
        raise ConnectTimeoutError(f"no TLS handshake within {timeout:g} s", host=host, port=port,
                                  phase="tls") from None
    except (ssl.SSLError, OSError) as err:
        connection.close()
        raise TransportError(f"{type(err).__name__}: {err}", host=host, port=port, phase="tls") from err
    return connection


def _tunnel(proxy: SplitResult, host: str, port: int, timeout: float, ssl_context: ssl.SSLContext | None,
            server_hostname: str | None) -> Any:
    """A socket to host:port through `proxy` (kfshell.proxies); for an https:// proxy, with the API server's
    TLS already running inside the proxy's (both with the cluster's TLS settings, as Go does)."""
    import socket

    from kfshell import proxies

    sock: Any = socket.create_connection((proxy.hostname or "", proxies.port_of(proxy)), timeout)
    try:
        if proxy.scheme.startswith("socks5"):
            proxies.socks5_connect(sock, proxy, host, port)
            return sock
        if proxy.scheme == "https":
            if ssl_context is None:
                import ssl

                ssl_context = ssl.create_default_context()
            sock = ssl_context.wrap_socket(sock, server_hostname=proxy.hostname)
        proxies.connect_tunnel(sock, proxy, host, port)
        if proxy.scheme == "https":
            return proxies.TunnelledTLS(sock, ssl_context, server_hostname or host)
        return sock
    except BaseException:
        sock.close()
        raise


def tls_context(*, ca_file: str | None = None, ca_data: str | None = None, insecure: bool = False,
                cert_file: str | None = None, key_file: str | None = None, cert_pem: bytes | None = None,
                key_pem: bytes | None = None) -> ssl.SSLContext:
    """A client TLS context: trust `ca_*` only (else certifi's or the system's roots), with a client certificate.

    `cert_pem`/`key_pem` (from `client-certificate-data` / `client-key-data`) are loaded without ever resting
    on disk where memfd exists, else through a 0600 temporary file removed at once. Raises OSError or
    ssl.SSLError for files that are missing or not certificates.
    """
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif ca_file or ca_data:
        context.load_verify_locations(cafile=ca_file or None, cadata=ca_data or None)
    else:
        _load_default_roots(context)
    if cert_pem is not None or key_pem is not None:
        with _private_file((cert_pem or b"") + b"\n" + (key_pem or b"")) as path:
            context.load_cert_chain(cert_file or path, key_file or path)
    elif cert_file:
        context.load_cert_chain(cert_file, key_file or None)
    return context


def _load_default_roots(context: ssl.SSLContext) -> None:
    try:
        import certifi  # what the kubernetes client trusted: keep trusting the same roots
    except ImportError:
        context.load_default_certs()
    else:
        context.load_verify_locations(cafile=certifi.where())


@contextmanager
def _private_file(data: bytes) -> Iterator[str]:
    """The path of a file holding `data`, readable only by us, gone when the block ends."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("kf-client-cert", os.MFD_CLOEXEC)  # in memory only: the key never touches a disk
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    import tempfile

    fd, path = tempfile.mkstemp(prefix="kf-client-cert-", dir=os.environ.get("XDG_RUNTIME_DIR") or None)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        yield path
    finally:
        os.unlink(path)


class Response:
    """An answer: `status`, `reason`, `headers`; `read()` the whole body, or `stream()` it in chunks.

    Reading to the end hands the connection back to the pool; `close()` (or `shutdown()` from another
    thread, to stop a blocked reader) drops it.
    """

    def __init__(self, raw: http.client.HTTPResponse, connection: http.client.HTTPConnection,
                 done: Callable[[http.client.HTTPConnection, bool], None]) -> None:
        self._raw = raw
        self._connection = connection
        self._done: Callable[[http.client.HTTPConnection, bool], None] | None = done
        self._data: bytes | None = None
        self._shut = False
        self.status = raw.status
        self.reason = raw.reason
        self.headers = {name.lower(): value for name, value in raw.getheaders()}

    @property
    def data(self) -> bytes:
        return self.read()

    def read(self) -> bytes:
        if self._data is None:
            try:
                with self._reading():
                    self._data = self._raw.read()
            except BaseException:
                self._release(reuse=False)
                raise
            self._release(reuse=not self._raw.will_close)
        return self._data

    def stream(self, chunk_size: int = 65536) -> Iterator[bytes]:
        """The body as it arrives (a watch's events); the connection is dropped afterwards.

        Ends quietly once `shutdown()` was called; other failures raise TransportError.
        """
        try:
            while True:
                try:
                    with self._reading():
                        chunk = self._raw.read1(chunk_size)
                except TransportError:
                    if self._shut:
                        return
                    raise
                if not chunk:
                    return
                yield chunk
        finally:
            self._release(reuse=False)

    def shutdown(self) -> None:
        """Stop a read blocked in another thread (the socket is shut down under it)."""
        import socket

        self._shut = True
        sock = self._connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: nothing is blocked on it

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Failures while reading the body, as TransportErrors naming the server."""
        import http.client

        host, port = self._connection.host, self._connection.port
        try:
            yield
        except TimeoutError:
            raise ReadTimeoutError("read timed out", host=host, port=port, phase="read") from None
        except (OSError, http.client.HTTPException) as err:
            raise TransportError(f"{type(err).__name__}: {err}", host=host, port=port, phase="read") from err

    def close(self) -> None:
        self._release(reuse=False)

    release_conn = close

    def detach(self) -> tuple[Any, Any]:
        """Take over the connection after a protocol upgrade (101, websockets): `(socket, reader)`.

        Read through `reader` (it may already hold bytes the server sent after its answer), write to
        `socket`; the connection never goes back to the pool, and closing both is the caller's job.
        """
        self._done = None
        reader, self._raw.fp = self._raw.fp, None  # else the answer's finaliser would close it under us
        return self._connection.sock, reader

    def getheaders(self) -> dict[str, str]:
        return dict(self.headers)

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def response(self) -> Response:
        """Itself: the shape of the kubernetes client's RESTResponse, whose `.response` is the raw answer."""
        return self

    def _release(self, reuse: bool) -> None:
        done, self._done = self._done, None
        if done is not None:
            done(self._connection, reuse)


class ConnectionPool:
    """Idle keep-alive connections, shared by the threads using one client (and its impersonating copies)."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._idle: list[http.client.HTTPConnection] = []
        self.connection_pool_kw: dict[str, Any] = {"maxsize": size}  # the name urllib3 gives this setting

    def take(self) -> http.client.HTTPConnection | None:
        """An idle connection the server has not closed meanwhile, or None."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection = self._idle.pop()
            if not _dropped(connection):
                return connection
            connection.close()

    def give(self, connection: http.client.HTTPConnection, reuse: bool) -> None:
        if reuse and connection.sock is not None:
            with self._lock:
                if len(self._idle) < int(self.connection_pool_kw.get("maxsize") or 1):
                    self._idle.append(connection)
                    return
        connection.close()

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection was closed by the server (it would be readable: EOF, or stray bytes)."""
    import select

    sock = connection.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True
