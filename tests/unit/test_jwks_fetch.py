"""How the JWKS key store fetches: the request it sends, the redirects and sizes it refuses, its timeout.

A scripted endpoint on loopback answers each test exactly as the test says; no mocks of httpx.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from backend.auth.jwks import MAX_JWKS_BYTES, JwksKeyStore, SigningKeyNotFoundError
from harness.issuer import SigningKey

KEY = SigningKey(kid="fetch-key")
JWKS_PATH = "/jwks"


@dataclass
class Script:
    """What the endpoint answers, and what it saw."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    answered: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)  # ends a delay early (at teardown)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        script = self.server.script
        script.seen.append((self.path, dict(self.headers.items())))
        script.released.wait(script.delay)
        # Where a redirect points: a valid JWKS the store must never fetch.
        answer = script if self.path == JWKS_PATH else Script(body=jwks_body())
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the store gave up waiting (the timeout test)
        finally:
            script.answered.set()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    script: Script


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def script(server: _Server) -> Iterator[Script]:
    server.script = Script(body=jwks_body())
    yield server.script
    server.script.released.set()  # no handler outlives its test


@pytest.fixture
def url(server: _Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}{JWKS_PATH}"


def jwks_body(size: int | None = None) -> bytes:
    """The JWKS with KEY, padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps({"keys": [KEY.public_jwk()]}).encode()
    if size is not None:
        assert size >= len(body)
        body = body[:-1] + b" " * (size - len(body)) + body[-1:]
    return body


def make_store(url: str, timeout: float = 2.0) -> JwksKeyStore:
    return JwksKeyStore(
        url,
        allowed_algorithms=frozenset({"EdDSA"}),
        cache_seconds=300,
        refetch_cooldown_seconds=30,
        timeout_seconds=timeout,
    )


def loads_key(store: JwksKeyStore) -> bool:
    try:
        asyncio.run(store.key_for(KEY.kid))
    except SigningKeyNotFoundError:
        return False
    return True


@pytest.mark.req("AUTH-JWKS-CACHE")
def test_the_fetch_asks_for_json(url: str, script: Script) -> None:
    assert loads_key(make_store(url))
    [(_, headers)] = script.seen
    assert {name.lower(): value for name, value in headers.items()}["accept"] == "application/json"


@pytest.mark.req("AUTH-JWKS-CACHE", "AUTH-KEY-INJECTION")
def test_a_redirect_is_not_followed(url: str, script: Script) -> None:
    script.status, script.body, script.headers = 302, b"", {"Location": "/elsewhere"}
    assert not loads_key(make_store(url))
    assert [path for path, _ in script.seen] == [JWKS_PATH]


@pytest.mark.req("AUTH-JWKS-CACHE")
def test_a_document_of_exactly_the_size_limit_is_accepted(url: str, script: Script) -> None:
    script.body = jwks_body(MAX_JWKS_BYTES)
    assert loads_key(make_store(url))


@pytest.mark.req("AUTH-JWKS-CACHE")
def test_a_document_one_byte_over_the_size_limit_is_refused(url: str, script: Script) -> None:
    script.body = jwks_body(MAX_JWKS_BYTES + 1)
    assert not loads_key(make_store(url))


@pytest.mark.req("AUTH-JWKS-CACHE", "AUTH-JWKS-OUTAGE")
def test_a_slow_endpoint_is_abandoned_after_the_configured_timeout(url: str, script: Script) -> None:
    # The endpoint answers after 4 s: within httpx's 5 s default, 20 times the store's 0.2 s. A store that waited for
    # it (no timeout, or httpx's default) would load the key; one that applies its 0.2 s gives up while the endpoint
    # still holds the request. Neither check reads the wall clock, so a loaded machine cannot fail them: it would
    # have to stall the store for the whole 4 s.
    script.delay = 4.0
    assert not loads_key(make_store(url, timeout=0.2))
    assert not script.answered.is_set(), "the store waited for the endpoint's answer"
    assert [path for path, _ in script.seen] == [JWKS_PATH]
