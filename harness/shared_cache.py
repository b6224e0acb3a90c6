"""A real shared HTTP cache on loopback: Debian's nginx with `proxy_cache` in front of an upstream URL.

It is deliberately naive: the cache key is the URL alone (nginx's default, no Authorization in it), so what keeps one
user's answer from another is only what the origin's headers tell a standards-following cache. nginx keeps its own
defaults there (`Cache-Control: private/no-cache/no-store` are not stored, `Vary` makes variants), except one: it
ignores RFC 9111 §3.5 (a request with Authorization is stored like any other), which is exactly the shared cache a
deployment may meet. `X-Cache-Status` on every answer says what the cache did (MISS, HIT, EXPIRED, REVALIDATED...).

`strip_cache_headers` makes the control: the same app without its caching headers, which such a cache mixes up.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.net import free_port, wait_ready

NGINX = "/usr/sbin/nginx"
INSTALL = "apt-get install -y nginx-light (or nginx)"
READY_PATH = "/.shared-cache/ready"  # answered by nginx itself: readiness neither reaches nor fills the cache
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0
# Every module with a compiled-in temp dir under /var/lib/nginx creates it at startup, used or not.
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_missing_reason(binary: str = NGINX) -> str | None:
    return None if os.access(binary, os.X_OK) else f"{binary} is not installed: {INSTALL}"


def require_nginx(binary: str = NGINX) -> None:
    """Skip without nginx, except under CI, which must run these tests rather than skip them."""
    reason = nginx_missing_reason(binary)
    if reason and os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run them, not skip them)", pytrace=False)
    if reason:
        pytest.skip(reason)


def _workers_user() -> str:
    """As root the master drops its workers to `user` (default `nobody`, which could not enter our 0700 temp dir):
    keep them as the current user. Not root, nginx cannot switch and warns about the directive, so it is omitted."""
    if os.geteuid() != 0:
        return ""
    entry = pwd.getpwuid(os.geteuid())
    return f"user {entry.pw_name} {grp.getgrgid(entry.pw_gid).gr_name};\n"


class NginxCache:
    """nginx caching `upstream_url` on a free loopback port, for the length of a `with` block."""

    def __init__(self, upstream_url: str, *, binary: str = NGINX) -> None:
        self.upstream_url = upstream_url.rstrip("/")
        self.binary = binary
        self.port = free_port()
        self._prefix = Path(tempfile.mkdtemp(prefix="nginx-cache-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        p = self._prefix
        # Every path the binary has compiled in (/var/lib/nginx, /run/nginx.pid, /var/log/nginx) is moved into the
        # prefix, so a non-root user can run it and parallel instances never share a file.
        temp_paths = "".join(f"    {kind}_temp_path {p}/temp/{kind};\n" for kind in TEMP_DIRS)
        return f"""{_workers_user()}daemon off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log notice;
events {{ worker_connections 128; }}
http {{
    log_format cache '$request $status $upstream_cache_status inm=$http_if_none_match';
    access_log {p}/access.log cache;
{temp_paths}    proxy_cache_path {p}/cache levels=1:2 keys_zone=shared:1m max_size=16m inactive=10m use_temp_path=off;
    # With proxy_cache on, nginx replaces the client's If-None-Match with $upstream_cache_etag, which is set only
    # while it revalidates an expired entry of its own (proxy_cache_revalidate). Otherwise forward the client's: a
    # response the cache may not store is answered by the origin, and only the origin can say 304 for it.
    map $upstream_cache_etag $forward_if_none_match {{
        "" $http_if_none_match;
        default $upstream_cache_etag;
    }}
    server {{
        listen 127.0.0.1:{self.port};
        location = {READY_PATH} {{ return 200 "ready\\n"; }}
        location / {{
            proxy_pass {self.upstream_url};
            proxy_set_header Host $http_host;
            proxy_set_header If-None-Match $forward_if_none_match;
            proxy_connect_timeout 5s;
            proxy_read_timeout 30s;
            proxy_cache shared;
            # The URL only, on purpose: user ids are in the path, tokens are not in the key.
            proxy_cache_key $scheme$proxy_host$request_uri;
            proxy_cache_methods GET HEAD;
            proxy_cache_valid 200 10m;
            proxy_cache_revalidate on;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""

    def log(self) -> str:
        """The end of the error log and the access log (each request with its cache status), for failure messages."""
        parts = []
        for name in ("error.log", "access.log"):
            path = self._prefix / name
            if path.exists():
                parts.append(f"--- nginx {name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def start(self) -> NginxCache:
        conf = self._prefix / "nginx.conf"
        conf.write_text(self.config())
        for kind in TEMP_DIRS:
            (self._prefix / "temp" / kind).mkdir(parents=True)
        # -e: the log nginx writes before it has read the config (else the compiled-in path) goes to the prefix too.
        command = [self.binary, "-p", f"{self._prefix}/", "-e", f"{self._prefix}/error.log", "-c", str(conf)]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(self.url, self._process, timeout=START_TIMEOUT_SECONDS, path=READY_PATH)
        except RuntimeError as exc:
            log = self.log()
            self.stop()
            raise RuntimeError(f"nginx did not start: {exc}\n{log}") from None
        return self

    def stop(self) -> None:
        # SIGQUIT: graceful shutdown (workers finish their requests); SIGKILL if that overruns its bound.
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
        shutil.rmtree(self._prefix, ignore_errors=True)

    def __enter__(self) -> NginxCache:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


# What a cache reads to decide whether and for whom it may store a response (RFC 9111 §4.2, §4.1).
CACHE_HEADERS = frozenset({b"cache-control", b"expires", b"vary"})


class StripCacheHeaders:
    """ASGI middleware removing Cache-Control, Expires and Vary from every response: the control upstream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def strip(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in CACHE_HEADERS]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, strip if scope["type"] == "http" else send)


def strip_cache_headers(app: FastAPI) -> FastAPI:
    """`app` answering without its caching headers (outermost of its middleware: nothing adds them back)."""
    app.add_middleware(StripCacheHeaders)
    return app
