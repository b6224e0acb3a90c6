"""Snapshots of one request and its response, fit for a bug report: a token appears as its decoded header and claims
plus how it was signed, never as raw text; a signing secret never appears at all.

Whatever makes a token registers how it was signed (`remember`), so a finding can say "HS256 with the target's
secret" or "EdDSA by a key the target does not trust" next to the claims.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections import OrderedDict
from typing import Any

import httpx

BODY_LIMIT = 2000
RESPONSE_LIMIT = 800
_MAX_REMEMBERED = 20_000
_SHOWN_RESPONSE_HEADERS = ("content-type", "www-authenticate", "location", "allow", "retry-after")
# Something shaped like a compact JWS/JWE: dot-separated base64url segments (whether it is a token is decided by
# whether its first segment decodes to a JSON object).
_TOKENISH = re.compile(r"(?<![A-Za-z0-9_\-.])[A-Za-z0-9_\-]{4,}(?:\.[A-Za-z0-9_\-]*){1,4}")

_provenance: OrderedDict[str, str] = OrderedDict()
_secrets: set[str] = set()


def remember(token: str, how: str) -> str:
    """Record how `token` was made; returns the token."""
    _provenance[token] = how
    _provenance.move_to_end(token)
    while len(_provenance) > _MAX_REMEMBERED:
        _provenance.popitem(last=False)
    return token


def provenance(token: str) -> str | None:
    return _provenance.get(token)


def derive(original: str, changed: str, what: str) -> str:
    """`changed` was made from `original` by `what` (e.g. "its signature segment replaced")."""
    how = provenance(original) or "a token"
    return remember(changed, f"{how}; then {what}")


def hide_secret(secret: str | None) -> None:
    """Never show `secret` (a signing secret) in a snapshot, whatever carries it."""
    if secret:
        _secrets.add(secret)


def _b64_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def describe_token(token: str) -> dict[str, Any] | None:
    """{header, claims, signed} for something token-shaped whose header decodes, else None."""
    segments = token.split(".")
    try:
        header = _b64_json(segments[0])
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    try:
        claims: Any = _b64_json(segments[1]) if len(segments) > 1 else None
    except ValueError:
        claims = f"<not base64url JSON: {segments[1][:40]!r}>"
    signature = segments[-1] if len(segments) == 3 else ""
    how = provenance(token) or (
        f"not made by the harness as shown ({len(segments)} segments, a {len(signature)}-character signature)"
    )
    return {"header": header, "claims": claims, "signed": how}


class _Redactor:
    """Replaces tokens with `<token N>` placeholders (described once each) and secrets with `<secret>`."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}  # token -> label
        self.described: list[dict[str, Any]] = []

    def __call__(self, text: str) -> str:
        for secret in _secrets:
            text = text.replace(secret, "<secret>")
        return _TOKENISH.sub(self._label, text)

    def _label(self, match: re.Match[str]) -> str:
        token = match.group(0)
        if token in self.tokens:
            return self.tokens[token]
        description = describe_token(token)
        if description is None:
            return token
        label = f"<token {chr(ord('A') + len(self.tokens))}>" if len(self.tokens) < 26 else "<token>"
        self.tokens[token] = label
        self.described.append({"label": label, **description})
        return label


def _body_text(content: bytes, limit: int) -> str:
    text = content.decode("utf-8", errors="replace")
    return text if len(text) <= limit else f"{text[:limit]}... <{len(content)} bytes in all>"


def _request_body(request: httpx.Request) -> str | None:
    try:
        content = request.content
    except httpx.RequestNotRead:
        return "<streamed body>"
    return _body_text(content, BODY_LIMIT) if content else None


def snapshot(response: httpx.Response) -> dict[str, Any]:
    """The request and its response as plain data (it travels from xdist workers to the controller)."""
    redact = _Redactor()
    request = response.request
    headers = [[name, redact(value)] for name, value in request.headers.multi_items() if name.lower() != "host"]
    body = _request_body(request)
    try:
        response_text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        response_text = "<unreadable body>"
    return {
        "request": {
            "method": request.method,
            "url": redact(str(request.url)),
            "headers": [h for h in headers if h[0].lower() not in _NOISE_HEADERS],
            "body": redact(body) if body is not None else None,
        },
        "response": {
            "status": response.status_code,
            "headers": {k: redact(v) for k, v in response.headers.items() if k.lower() in _SHOWN_RESPONSE_HEADERS},
            "body": redact(_body_text(response_text.encode(), RESPONSE_LIMIT)) if response_text else "",
        },
        "tokens": redact.described,
    }


_NOISE_HEADERS = {"accept", "accept-encoding", "connection", "user-agent", "content-length"}


def size(exchange: dict[str, Any]) -> int:
    """How big the request is: the smallest reproduction is the easiest to file."""
    request = exchange["request"]
    return len(request["url"]) + len(request["body"] or "") + sum(len(v) for _, v in request["headers"])


def curl(exchange: dict[str, Any]) -> str:
    """The request as a curl command line; tokens stay placeholders (their claims are listed beside it)."""
    request = exchange["request"]
    parts = ["curl", "-i", "-X", request["method"], shlex.quote(request["url"])]
    for name, value in request["headers"]:
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    if request["body"] is not None:
        parts += ["--data-raw", shlex.quote(request["body"])]
    return " ".join(parts)
