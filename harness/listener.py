"""A loopback HTTP listener that records every request and answers with a configurable body: bait for jku/x5u
headers (it must never be called) and a hostile JWKS endpoint (garbage, wrong shapes, oversized)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        listener = self.server.listener
        listener.requests.append(self.path)
        self.send_response(listener.status)
        self.send_header("Content-Type", listener.content_type)
        self.send_header("Content-Length", str(len(listener.body)))
        for name, value in listener.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(listener.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    listener: Listener


class Listener:
    def __init__(
        self,
        body: bytes = b"{}",
        status: int = 200,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.body = body
        self.headers = headers or {}
        self.status = status
        self.content_type = content_type
        self.requests: list[str] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.listener = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
