"""Which proxy a connection to the API server goes through, and the tunnel through it, as kubectl does it.

- A cluster's `proxy-url` is used for every request to it (NO_PROXY does not apply), as client-go does.
- Without one, the environment decides as Go's `http.ProxyFromEnvironment` does: `HTTPS_PROXY`/`https_proxy`
  for an https server (`HTTP_PROXY`/`http_proxy` for http), unless `NO_PROXY`/`no_proxy` matches the host
  (`*`, host names and `.domain` suffixes, IPs and CIDRs, each optionally with `:port`); loopback addresses and
  `localhost` never go through an environment proxy. A value without a scheme means `http://`.
- Schemes: `http://` (HTTP CONNECT), `https://` (CONNECT inside TLS to the proxy, which Go verifies with the
  cluster's own TLS settings: so does kf; the API server's TLS then runs inside that), `socks5://` and
  `socks5h://` (RFC 1928; the host name goes to the proxy, as Go sends it). Credentials in the URL
  (`user:pass@`) are sent: `Proxy-Authorization: Basic` for CONNECT, RFC 1929 username/password for SOCKS.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

SCHEMES = ("http", "https", "socks5", "socks5h")
DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


class ProxyError(OSError):
    """The proxy refused or failed to open the tunnel (the message says which and why)."""


def parse(proxy: str) -> SplitResult:
    """A proxy URL, checked; ValueError names what kf cannot use."""
    parts = urlsplit(proxy)
    if not parts.scheme or not parts.hostname:
        parts = urlsplit("http://" + proxy)  # as Go: a bare host:port is an http proxy
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError(f"proxy {_redacted(parts)} is not supported (http://, https://, socks5:// and socks5h:// "
                         "are)")
    return parts


def port_of(proxy: SplitResult) -> int:
    return proxy.port or DEFAULT_PORTS[proxy.scheme]


def _redacted(parts: SplitResult) -> str:
    """The proxy URL without its password, for messages."""
    host = parts.hostname or ""
    where = f"{host}:{parts.port}" if parts.port else host
    user = f"{parts.username}:***@" if parts.password else (f"{parts.username}@" if parts.username else "")
    return f"{parts.scheme}://{user}{where}"


def choose(server: str, proxy_url: str | None, environ: Mapping[str, str]) -> str | None:
    """The proxy for requests to `server`: the kubeconfig's `proxy-url`, else the environment's, else None."""
    if proxy_url:
        return proxy_url
    parts = urlsplit(server)
    names = ("HTTPS_PROXY", "https_proxy") if parts.scheme == "https" else ("HTTP_PROXY", "http_proxy")
    value = next((environ[n] for n in names if environ.get(n)), "")
    if not value:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    no_proxy = environ.get("NO_PROXY") or environ.get("no_proxy") or ""
    return value if uses_proxy(parts.hostname or "", port, no_proxy) else None


def uses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Whether a request to host:port goes through the environment's proxy, by Go's NO_PROXY rules."""
    host = host.lower().strip("[]")
    if host == "localhost":
        return False
    ip = _ip(host)
    if ip is not None and ip.is_loopback:
        return False
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return False
        if _matches(entry, host, ip, port):
            return False
    return True


def _matches(entry: str, host: str, ip: ipaddress._BaseAddress | None, port: int) -> bool:
    try:
        network = ipaddress.ip_network(entry, strict=False) if "/" in entry else None
    except ValueError:
        network = None
    if network is not None:
        return ip is not None and ip in network
    name, entry_port = _split_port(entry)
    if entry_port is not None and entry_port != port:
        return False
    entry_ip = _ip(name)
    if entry_ip is not None:
        return ip is not None and ip == entry_ip
    if ip is not None:
        return False
    if name.startswith("*."):
        name = name[1:]
    if name.startswith("."):
        return host.endswith(name)
    return host == name or host.endswith("." + name)


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        return name, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        if port.isdigit():
            return name, int(port)
    return entry, None


def _ip(text: str) -> ipaddress._BaseAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# ---- tunnels ---------------------------------------------------------------------------------------------


def basic_auth(proxy: SplitResult) -> str | None:
    """The Proxy-Authorization value for the URL's credentials, or None."""
    if proxy.username is None:
        return None
    import base64

    pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def socks5_connect(sock: socket.socket, proxy: SplitResult, host: str, port: int) -> None:
    """Ask the SOCKS5 proxy `sock` is connected to for a connection to host:port (RFC 1928 and 1929)."""
    methods = b"\x00\x02" if proxy.username is not None else b"\x00"
    sock.sendall(b"\x05" + bytes([len(methods)]) + methods)
    version, method = _read(sock, 2)
    if version != 5 or method == 0xFF:
        raise ProxyError(f"the SOCKS proxy {_redacted(proxy)} accepts none of kf's authentication methods")
    if method == 2:
        user = unquote(proxy.username or "").encode()
        password = unquote(proxy.password or "").encode()
        sock.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
        if _read(sock, 2)[1] != 0:
            raise ProxyError(f"the SOCKS proxy {_redacted(proxy)} refused the username and password")
    ip = _ip(host.strip("[]"))
    if ip is None:
        name = host.encode("idna")
        address = b"\x03" + bytes([len(name)]) + name
    else:
        address = (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
    sock.sendall(b"\x05\x01\x00" + address + port.to_bytes(2, "big"))
    reply = _read(sock, 4)
    if reply[1] != 0:
        why = {1: "general failure", 2: "not allowed by its rules", 3: "network unreachable",
               4: "host unreachable", 5: "connection refused", 6: "TTL expired"}.get(reply[1], f"code {reply[1]}")
        raise ProxyError(f"the SOCKS proxy {_redacted(proxy)} could not connect to {host}:{port}: {why}")
    kind = reply[3]
    length = 4 if kind == 1 else 16 if kind == 4 else _read(sock, 1)[0]
    _read(sock, length + 2)  # the bound address and port: not needed


def _read(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ProxyError("the SOCKS proxy closed the connection")
        data += chunk
    return data


def connect_tunnel(sock: Any, proxy: SplitResult, host: str, port: int) -> None:
    """HTTP CONNECT host:port over `sock` (already connected to the proxy, in TLS for an https:// one)."""
    import http.client

    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    auth = basic_auth(proxy)
    if auth:
        lines.append(f"Proxy-Authorization: {auth}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    answer = http.client.HTTPResponse(sock, method="CONNECT")  # type: ignore[arg-type]
    answer.begin()
    if answer.status != 200:
        raise ProxyError(f"Tunnel connection failed: {answer.status} {answer.reason}")


class TunnelledTLS:
    """TLS to the API server inside the TLS connection to an https:// proxy, with the socket methods
    http.client and kfshell.transport use (ssl cannot wrap an SSLSocket in another)."""

    def __init__(self, outer: Any, context: Any, server_hostname: str | None) -> None:
        import ssl

        self._ssl = ssl
        self._outer = outer
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        self._call(self._tls.do_handshake)

    def _call(self, operation: Any, *args: Any) -> Any:
        while True:
            try:
                result = operation(*args)
            except self._ssl.SSLWantReadError:
                self._flush()
                data = self._outer.recv(65536)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
                continue
            self._flush()
            return result

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._outer.sendall(data)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._call(self._tls.write, view):]

    def recv(self, size: int) -> bytes:
        try:
            return self._call(self._tls.read, size)
        except (self._ssl.SSLZeroReturnError, self._ssl.SSLEOFError):
            return b""

    def recv_into(self, buffer: Any, size: int = 0) -> int:
        data = self.recv(size or len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def makefile(self, mode: str = "rb", buffering: int = -1) -> Any:
        import io

        sock = self

        class Raw(io.RawIOBase):
            def readable(self) -> bool:
                return True

            def readinto(self, buffer: Any) -> int:
                return sock.recv_into(buffer)

        return io.BufferedReader(Raw())

    def settimeout(self, timeout: float | None) -> None:
        self._outer.settimeout(timeout)

    def fileno(self) -> int:
        return self._outer.fileno()

    def shutdown(self, how: int) -> None:
        self._outer.shutdown(how)

    def close(self) -> None:
        self._outer.close()
