"""Kubernetes' websocket channel protocol (exec, attach, port-forward), over kfshell's own connections.

The API server upgrades `GET .../pods/NAME/exec?...` (or `/portforward`) to a websocket (RFC 6455) whose
binary messages start with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (the command's final
`Status` as JSON), 4 resize (`{"Width": W, "Height": H}`). `v5.channel.k8s.io` adds channel 255, which
closes one of the others (stdin's end of file); `v4.channel.k8s.io` has no way to end stdin.

The upgrade request goes through `RestClient.open`, so it carries the same TLS, proxy and credentials
(token files, exec plugins) as every other call; the connection is then taken out of the pool.
Only the standard library is used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import threading
from collections.abc import Mapping, Sequence
from typing import Any

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255  # v5: the next byte names the channel to close

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's fixed key suffix
_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class ChannelSocket:
    """An upgraded connection speaking the channel protocol. `recv` from one thread, `send` from any."""

    def __init__(self, sock: Any, reader: Any, protocol: str) -> None:
        self._sock = sock
        self._reader = reader
        self.protocol = protocol
        self._send_lock = threading.Lock()
        self._closed = False

    @property
    def can_close_stdin(self) -> bool:
        return self.protocol.startswith("v5.")

    def send(self, channel: int, data: bytes = b"") -> None:
        """One binary message on `channel`."""
        self._frame(_BINARY, bytes([channel]) + data)

    def close_channel(self, channel: int) -> None:
        """Tell the server a channel is done (stdin's end of file); v5 only, a no-op on v4."""
        if self.can_close_stdin:
            self._frame(_BINARY, bytes([CLOSE, channel]))

    def resize(self, columns: int, rows: int) -> None:
        self.send(RESIZE, json.dumps({"Width": columns, "Height": rows}).encode())

    def recv(self) -> tuple[int, bytes] | None:
        """The next message as (channel, data); None when the server closed the connection."""
        while True:
            message = self._message()
            if message is None:
                return None
            opcode, payload = message
            if opcode in (_BINARY, _TEXT) and payload:
                return payload[0], payload[1:]

    def close(self) -> None:
        """Send a close frame (best effort) and drop the connection."""
        if self._closed:
            return
        self._closed = True
        try:
            self._frame(_CLOSE, struct.pack("!H", 1000))
        except OSError:
            pass
        self.shutdown()
        try:
            self._sock.close()
        except OSError:
            pass

    def shutdown(self) -> None:
        """Unblock a `recv` in another thread (it then returns None)."""
        import socket

        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ---- RFC 6455 framing --------------------------------------------------------------------------

    def _frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)  # a client masks every frame
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        with self._send_lock:
            self._sock.sendall(header + mask + _masked(payload, mask))

    def _read(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            try:
                chunk = self._reader.read(size - len(data))
            except (OSError, ValueError):
                return None  # shut down under us, or the connection broke
            if not chunk:
                return None
            data += chunk
        return data

    def _message(self) -> tuple[int, bytes] | None:
        """One whole message (fragments joined), answering pings on the way; None at close or EOF."""
        opcode, parts = None, []
        while True:
            head = self._read(2)
            if head is None:
                return None
            fin, code, masked, length = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x80, head[1] & 0x7F
            if length == 126:
                extra = self._read(2)
                length = struct.unpack("!H", extra)[0] if extra else 0
            elif length == 127:
                extra = self._read(8)
                length = struct.unpack("!Q", extra)[0] if extra else 0
            mask = self._read(4) if masked else None
            payload = self._read(length) if length else b""
            if payload is None:
                return None
            if mask:
                payload = _masked(payload, mask)
            if code == _CLOSE:
                return None
            if code == _PING:
                self._frame(_PONG, payload)
                continue
            if code == _PONG:
                continue
            if code != _CONT:
                opcode = code
            parts.append(payload)
            if fin:
                return opcode or _BINARY, b"".join(parts)


def _masked(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    key = int.from_bytes((mask * (len(data) // 4 + 1))[:len(data)], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(len(data), "big")


def connect(api: Any, path: str, query: Sequence[tuple[str, Any]] | Mapping[str, Any],
            protocols: Sequence[str] = (V5, V4), *, timeout: float = 30.0) -> ChannelSocket:
    """Upgrade `GET path?query` to a channel socket, offering `protocols` in order of preference.

    An error answer raises `cluster.ApiError` with the server's Status (403 names what is missing);
    no answer raises `TransportError`, as every other call does.
    """
    from kfshell.rest import error_class

    key = base64.b64encode(os.urandom(16)).decode()
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": key, "Sec-WebSocket-Protocol": ", ".join(protocols)}
    response = api.open("GET", path, query=query, headers=headers, timeout=timeout)
    if response.status != 101:
        response.read()
        raise error_class()(response.status, response.reason, response.data, response.headers)
    expected = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    sock, reader = response.detach()
    if response.headers.get("sec-websocket-accept") != expected:
        sock.close()
        raise error_class()(502, "Bad Gateway", b'{"message": "the websocket handshake was not answered properly"}')
    sock.settimeout(None)  # a shell may sit idle for hours
    protocol = response.headers.get("sec-websocket-protocol") or protocols[-1]
    return ChannelSocket(sock, reader, protocol)


def exit_code(status: Mapping[str, Any]) -> int | None:
    """The remote command's exit code from the error channel's Status: 0 for Success, N for the
    kubelet's NonZeroExitCode with its ExitCode cause; None for any other failure (a real error)."""
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message", ""))
                except ValueError:
                    return None
    return None


def parse_status(data: bytes) -> dict[str, Any]:
    """The error channel's payload as a Status dict (a bare message when it is not JSON)."""
    try:
        found = json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return {"status": "Failure", "message": data.decode("utf-8", "replace").strip()}
    return found if isinstance(found, dict) else {"status": "Failure", "message": str(found)}
