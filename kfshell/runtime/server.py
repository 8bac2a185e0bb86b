"""The HTTP side of the runtime: Kubeless's routes on the standard library's ThreadingHTTPServer.

GET /healthz is 200 "OK"; GET /metrics is the Prometheus text format; GET, POST, PUT, DELETE and
PATCH on any other path call the function with the event Kubeless builds from the request.
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kfshell.runtime.config import RuntimeConfig
from kfshell.runtime.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from kfshell.runtime.metrics import Metrics
from kfshell.runtime.pool import WorkerPool
from kfshell.runtime.request import FunctionRequest, Headers, is_json
from kfshell.runtime.worker import Reply


class RuntimeServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung call must not keep the process alive at shutdown

    def __init__(self, config: RuntimeConfig, pool: WorkerPool, metrics: Metrics | None = None) -> None:
        self.config = config
        self.pool = pool
        self.metrics = metrics or Metrics()
        super().__init__((config.host, config.port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    server: RuntimeServer
    protocol_version = "HTTP/1.1"  # keep-alive, which the API server's proxy uses
    server_version = "kf-runtime"
    timeout = 120  # seconds an idle keep-alive connection is kept
    # TCP_NODELAY: a reply's last segment must not wait for the ACK of the one before it. With Nagle on, the
    # proxy's delayed ACK held every reply ~40 ms (a function's call took 52 ms, its handler 8).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(Reply(200, "text/plain; charset=utf-8", b"OK"))
        elif path == "/metrics":
            self._send(Reply(200, METRICS_CONTENT_TYPE, self.server.metrics.exposition().encode()))
        else:
            self._call()

    def do_POST(self) -> None:
        self._call()

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _call(self) -> None:
        try:
            body = self._read_body()
            event = self._event(body)
        except _BadRequest as exc:
            self.close_connection = True  # the rest of a refused body may still be on the wire
            self._send(Reply.error(exc.status, "BadRequest", str(exc), failed=False))
            return
        config = self.server.config
        started = time.monotonic()
        reply = self.server.pool.call(event, config.context(), config.timeout)
        self.server.metrics.record(self.command, time.monotonic() - started, reply.failed)
        self._send(reply)

    def _event(self, body: bytes) -> dict[str, Any]:
        headers = Headers(self.headers.items())
        request = FunctionRequest(
            method=self.command, url=self.path, headers=headers, body=body, remote_addr=self.client_address[0]
        )
        data: Any = body
        if is_json(headers.get("Content-Type")):
            try:
                data = json.loads(body) if body else None
            except ValueError as exc:
                raise _BadRequest(400, f"the request body is not valid JSON: {exc}") from None
        return {
            "data": data,
            "event-id": headers.get("event-id"),
            "event-type": headers.get("event-type"),
            "event-time": headers.get("event-time"),
            "event-namespace": headers.get("event-namespace"),
            "extensions": {"request": request},
        }

    def _read_body(self) -> bytes:
        limit = self.server.config.max_body
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        raw = self.headers.get("Content-Length", "0") or "0"
        try:
            length = int(raw)
        except ValueError:
            raise _BadRequest(400, f"bad Content-Length {raw!r}") from None
        if length < 0:
            raise _BadRequest(400, f"bad Content-Length {raw!r}")
        if length > limit:
            raise _BadRequest(413, f"the request body is {length} bytes; the limit is {limit} (FUNC_MEMFILE_MAX)")
        return self.rfile.read(length)

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        size_read = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise _BadRequest(400, "malformed chunked request body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            size_read += size
            if size_read > limit:
                raise _BadRequest(413, f"the request body exceeds the limit of {limit} bytes (FUNC_MEMFILE_MAX)")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # the CRLF after each chunk

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        # The request line and status only: headers (which carry tokens) are never logged.
        sys.stderr.write(f"{self.client_address[0]} - [{self.log_date_time_string()}] {format % args}\n")
