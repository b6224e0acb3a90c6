"""How to produce each named condition of specs/taxonomy.yaml: the one place each one is implemented.

A condition picks one value on each axis (credentials, task id, body, query); every axis value is a small function of
the scene (an owner with a task, an intruder with a task) or of the route.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt

from harness.issuer import TokenIssuer
from harness.users import ApiUser

BIGINT_MAX = 2**63 - 1
OVERSIZED_BYTES = 64 * 1024 + 1  # the documented limit is 64 KiB


class Minter(Protocol):
    def __call__(self, sub: str, *, drop: tuple[str, ...] = (), **claims: Any) -> str: ...


def minter(issuer: TokenIssuer, secret: str | None) -> Minter:
    """Tokens for a chosen `sub` with chosen claims, signed the way the target trusts (its JWKS or its secret)."""
    if not secret:
        return issuer.mint

    def mint(sub: str, *, drop: tuple[str, ...] = (), **claims: Any) -> str:
        now = int(time.time())
        payload = {"sub": sub, "iat": now, "exp": now + 900, **claims}
        for name in drop:
            payload.pop(name, None)
        return jwt.encode(payload, secret, algorithm="HS256")

    return mint


@dataclass(frozen=True)
class Scene:
    owner: ApiUser  # the path's user
    owner_task: int
    intruder: ApiUser
    intruder_task: int
    mint: Minter


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    bodies: dict[str, Any] = field(default_factory=dict)
    invalid_field: str | None = None

    def url(self, user_id: str, task_id: str) -> str:
        return self.path.replace("{user_id}", user_id).replace("{task_id}", task_id)


@dataclass(frozen=True)
class Probe:
    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]
    content: bytes | None
    secrets: tuple[str, ...]  # credential text the response must never echo


# --- credentials: the Authorization header value, or None for no header ---


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _alg_none(token: str) -> str:
    payload = token.split(".")[1]
    return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}."


def _tampered_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    return f"{head}.{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def _payload_swapped(token: str, new_sub: str) -> str:
    """The intruder's signed token with its `sub` rewritten to the owner after signing."""
    head, payload, signature = token.split(".")
    claims = json.loads(_unb64(payload))
    claims.update(sub=new_sub, id=new_sub)
    return f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"


def _bearer(token: str) -> str:
    return f"Bearer {token}"


AUTH: dict[str, Callable[[Scene], str | None]] = {
    "owner": lambda s: _bearer(s.owner.token),
    "none": lambda s: None,
    "intruder": lambda s: _bearer(s.intruder.token),
    "empty_bearer": lambda s: "Bearer",
    "basic_scheme": lambda s: "Basic " + base64.b64encode(f"{s.owner.id}:password".encode()).decode(),
    "not_a_jwt": lambda s: _bearer("not-a-jwt"),
    "alg_none": lambda s: _bearer(_alg_none(s.owner.token)),
    "tampered_signature": lambda s: _bearer(_tampered_signature(s.owner.token)),
    "payload_swapped": lambda s: _bearer(_payload_swapped(s.intruder.token, s.owner.id)),
    "expired": lambda s: _bearer(s.mint(s.owner.id, iat=int(time.time()) - 1000, exp=int(time.time()) - 120)),
    "not_yet_valid": lambda s: _bearer(s.mint(s.owner.id, nbf=int(time.time()) + 600)),
    "without_exp": lambda s: _bearer(s.mint(s.owner.id, drop=("exp",))),
    "without_sub": lambda s: _bearer(s.mint(s.owner.id, drop=("sub", "id"))),
}

# --- the {task_id} in the path ---

TASK: dict[str, Callable[[Scene], str]] = {
    "owner": lambda s: str(s.owner_task),
    "intruder": lambda s: str(s.intruder_task),
    "missing": lambda s: str(BIGINT_MAX),
    "text": lambda s: "first",
    "zero": lambda s: "0",
    "over_bigint": lambda s: str(BIGINT_MAX + 1),
}

# --- the body: (content, Content-Type) ---

Body = tuple[bytes | None, str | None]
_JSON = "application/json"


def _json(route: Route, name: str) -> Body:
    return json.dumps(route.bodies[name]).encode(), _JSON


def _oversized(route: Route) -> Body:
    padded = {**route.bodies["valid"], "description": "x" * OVERSIZED_BYTES}
    return json.dumps(padded).encode(), _JSON


BODY: dict[str, Callable[[Route], Body]] = {
    "valid": lambda r: _json(r, "valid") if r.bodies else (None, None),
    "none": lambda r: (None, None),
    "invalid": lambda r: _json(r, "invalid"),
    "extra_field": lambda r: _json(r, "extra_field"),
    "malformed_json": lambda r: (b'{"title": ', _JSON),
    "empty_json": lambda r: (b"", _JSON),
    "non_json": lambda r: (b"title=taxonomy+probe", "application/x-www-form-urlencoded"),
    "no_content_type": lambda r: (_json(r, "valid")[0], None),
    "oversized": _oversized,
}
# Body values that need the route to declare a JSON body.
NEEDS_BODY = frozenset(BODY) - {"valid", "none"}


@dataclass(frozen=True)
class Condition:
    auth: str = "owner"
    task: str = "owner"
    body: str = "valid"
    query: dict[str, str] = field(default_factory=dict)

    def probe(self, scene: Scene, route: Route) -> Probe:
        authorization = AUTH[self.auth](scene)
        content, content_type = BODY[self.body](route)
        headers = {"Authorization": authorization} if authorization is not None else {}
        if content_type:
            headers["Content-Type"] = content_type
        token = authorization.partition(" ")[2] if authorization else ""
        return Probe(
            method=route.method,
            url=route.url(scene.owner.id, TASK[self.task](scene)),
            headers=headers,
            params=dict(self.query),
            content=content,
            secrets=(token,) if len(token) >= 16 else (),
        )


CONDITIONS: dict[str, Condition] = {
    "valid": Condition(),
    "no_body": Condition(body="none"),
    # task ids
    "missing_task": Condition(task="missing"),
    "other_users_task": Condition(task="intruder"),
    "text_task_id": Condition(task="text"),
    "zero_task_id": Condition(task="zero"),
    "task_id_over_bigint": Condition(task="over_bigint"),
    # bodies
    "invalid_body": Condition(body="invalid"),
    "read_only_field": Condition(body="extra_field"),
    "malformed_json": Condition(body="malformed_json"),
    "empty_json_body": Condition(body="empty_json"),
    "non_json_body": Condition(body="non_json"),
    "no_content_type": Condition(body="no_content_type"),
    "oversized_body": Condition(body="oversized"),
    # list query
    "limit_zero": Condition(query={"limit": "0"}),
    "limit_over_max": Condition(query={"limit": "201"}),
    "unknown_status_filter": Condition(query={"status": "done"}),
    "unknown_sort": Condition(query={"sort": "owner"}),
    "forged_cursor": Condition(query={"cursor": _b64(b'{"s":"-created_at","v":"yesterday","i":1}')}),
    # credentials
    "no_token": Condition(auth="none"),
    "empty_bearer": Condition(auth="empty_bearer"),
    "basic_scheme": Condition(auth="basic_scheme"),
    "not_a_jwt": Condition(auth="not_a_jwt"),
    "alg_none_token": Condition(auth="alg_none"),
    "tampered_signature": Condition(auth="tampered_signature"),
    "payload_swapped_after_signing": Condition(auth="payload_swapped"),
    "expired_token": Condition(auth="expired"),
    "not_yet_valid_token": Condition(auth="not_yet_valid"),
    "token_without_exp": Condition(auth="without_exp"),
    "token_without_sub": Condition(auth="without_sub"),
    "foreign_token": Condition(auth="intruder"),
    "foreign_token_on_own_task_id": Condition(auth="intruder", task="intruder"),
    # combinations that pin the order of checks
    "oversized_body_without_token": Condition(auth="none", body="oversized"),
    "non_json_body_without_token": Condition(auth="none", body="non_json"),
    "invalid_body_with_foreign_token": Condition(auth="intruder", body="invalid"),
    "non_json_body_on_missing_task": Condition(task="missing", body="non_json"),
    "invalid_body_on_missing_task": Condition(task="missing", body="invalid"),
    "text_task_id_without_token": Condition(auth="none", task="text"),
}
