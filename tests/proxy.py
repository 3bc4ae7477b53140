"""A loopback HTTP proxy for cloud tests: forwards to a real server, and misbehaves on request.

    with LoopbackProxy("http://127.0.0.1:8080/v1") as proxy:
        client = CloudClient(proxy.base_url, ...)
        proxy.fail_next(429)          # the next request gets a 429, the one after is forwarded
        proxy.drop_next()             # the next connection is closed without an answer
        proxy.cut_next_stream(2)      # the next streamed answer stops after 2 chunks
        proxy.serve_next(lines, 0.05) # the next request gets these SSE lines (any iterable, even
                                      # an endless one) instead of the server's answer
        proxy.delay_s = 3.0           # every answer waits first
        proxy.transform_body = fn     # rewrite each JSON request body before forwarding
        proxy.requests                # [{"method", "path", "body"}] seen so far
        proxy.error_headers = {"Retry-After": "1"}  # sent with every error answer
        proxy.max_in_flight           # the most requests it held at once before answering

Streamed answers (SSE) are relayed chunk by chunk with chunked transfer encoding,
so a cut stream is a real protocol error at the client, as a dropped network is.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
              "accept-encoding", "proxy-connection", "te", "trailer", "upgrade"}
ERROR_TYPES = {401: "invalid_request_error", 403: "permission_denied", 404: "not_found",
               429: "rate_limit_exceeded", 500: "server_error", 503: "server_error"}


class LoopbackProxy:
    def __init__(self, upstream: str, *, upstream_timeout_s: float = 60.0) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.upstream_timeout_s = upstream_timeout_s
        self.delay_s = 0.0
        self.transform_body: Callable[[dict], dict] | None = None
        self.requests: list[dict[str, Any]] = []
        self.error_headers: dict[str, str] = {}
        self.in_flight = self.max_in_flight = 0
        self._faults: deque[tuple[str, Any, str]] = deque()  # (kind, number or lines, message)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control ---------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def fail_next(self, status: int, times: int = 1, message: str = "") -> None:
        """The next `times` requests get `status` with an OpenAI-style error body."""
        self._add_faults(("status", status, message), times)

    def drop_next(self, times: int = 1) -> None:
        self._add_faults(("drop", 0, ""), times)

    def cut_next_stream(self, after_chunks: int) -> None:
        self._add_faults(("cut", after_chunks, ""), 1)

    def serve_next(self, lines: Iterable[str], interval_s: float = 0.0) -> None:
        """The next request gets a 200 event stream of `lines` (each sent as one SSE line), one every
        interval_s, until the lines end, the client goes away or the proxy stops."""
        self._add_faults(("serve", lines, str(interval_s)), 1)

    def _add_faults(self, fault: tuple[str, Any, str], times: int) -> None:
        with self._lock:
            self._faults.extend([fault] * times)

    def take_fault(self) -> tuple[str, Any, str] | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def record(self, method: str, path: str, raw: bytes) -> dict | None:
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append({"method": method, "path": path, "body": body})
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return body

    def answered(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def wait_delay(self) -> bool:
        """Waits delay_s; False when the proxy is stopping meanwhile."""
        return not self._stopping.wait(self.delay_s) if self.delay_s > 0 else True

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> "LoopbackProxy":
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"loopback-proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # delayed handlers return at once
        self._server.shutdown()
        self._server.server_close()  # joins the handler threads (daemon_threads is off)
        self._thread.join(timeout=10)
        self._server = None

    def __enter__(self) -> "LoopbackProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() waits for every handler: no leaked threads
    proxy: LoopbackProxy


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # for chunked relays; every answer still closes the connection
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._handle_counted()

    def do_POST(self) -> None:
        self._handle_counted()

    def _handle_counted(self) -> None:
        self._counted = True
        try:
            self._handle()
        finally:
            self._release()

    def _release(self) -> None:
        """A request stops counting as in flight once its answer starts: the client may read the
        answer and send its next request before this thread returns from writing it."""
        if getattr(self, "_counted", False):
            self._counted = False
            self.server.proxy.answered()

    def send_response(self, code: int, message: str | None = None) -> None:
        self._release()
        super().send_response(code, message)

    def _handle(self) -> None:
        proxy = self.server.proxy
        self.close_connection = True
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = proxy.record(self.command, self.path, raw)
        if not proxy.wait_delay():
            return
        kind, value, message = proxy.take_fault() or ("forward", 0, "")
        if kind == "drop":
            return  # closes the socket without a status line
        if kind == "status":
            return self._send_error(value, message)
        if kind == "serve":
            try:
                return self._serve_lines(value, float(message))
            except OSError:
                return  # the client closed the stream (its deadline or token cap)
        if body is not None and proxy.transform_body is not None:
            raw = json.dumps(proxy.transform_body(body)).encode()
        try:
            self._forward(raw, cut_after=value if kind == "cut" else None)
        except OSError:
            pass  # the client went away (e.g. it timed out): nothing left to answer

    def _send_error(self, status: int, message: str) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        # Like a careless server, the 401 echoes the key: the client must not pass it on.
        if not message:
            message = f"Incorrect API key provided: {token}" if status == 401 else f"proxy says {status}"
        error = {"message": message, "type": ERROR_TYPES.get(status, "error"), "code": None}
        data = json.dumps({"error": error}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for key, value in self.server.proxy.error_headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _serve_lines(self, lines: Iterable[str], interval_s: float) -> None:
        self.send_response(200)
        for key, value in {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked",
                           "Connection": "close"}.items():
            self.send_header(key, value)
        self.end_headers()
        for line in lines:
            if self.server.proxy.stopping:
                return
            data = (line + "\n\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            time.sleep(interval_s)
        self.wfile.write(b"0\r\n\r\n")

    def _forward(self, raw: bytes, cut_after: int | None) -> None:
        proxy = self.server.proxy
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port,
                                              timeout=proxy.upstream_timeout_s)
        try:
            upstream.request(self.command, self.path, body=raw or None, headers=headers)
            response = upstream.getresponse()
            if "text/event-stream" in (response.getheader("Content-Type") or ""):
                self._relay_stream(response, cut_after)
            else:
                self._relay_whole(response)
        finally:
            upstream.close()

    def _start_answer(self, response: http.client.HTTPResponse, extra: dict[str, str]) -> None:
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() not in {"server", "date"}:
                self.send_header(key, value)
        for key, value in {**extra, "Connection": "close"}.items():
            self.send_header(key, value)
        self.end_headers()

    def _relay_whole(self, response: http.client.HTTPResponse) -> None:
        data = response.read()
        self._start_answer(response, {"Content-Length": str(len(data))})
        self.wfile.write(data)

    def _relay_stream(self, response: http.client.HTTPResponse, cut_after: int | None) -> None:
        self._start_answer(response, {"Transfer-Encoding": "chunked"})
        sent = 0
        while not self.server.proxy.stopping:
            chunk = response.read1(65536)
            if not chunk:
                break
            if cut_after is not None and sent >= cut_after:
                return  # no terminating chunk: the client sees an incomplete body
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
            sent += 1
        self.wfile.write(b"0\r\n\r\n")
