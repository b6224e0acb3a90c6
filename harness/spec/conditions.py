"""How to produce each named condition of specs/taxonomy.yaml, and what any correct implementation must do with it:
the one place each one is implemented.

A condition picks one value on each axis (credentials, task id, body, query); every axis value is a small function of
the scene (an owner with a task, an intruder with a task) or of the route. Its `kind` says how the security and seed
layers judge the answer, whatever the row's exact status (harness/judgements.py):
- refused: a token that must not be accepted (`guard` names the security requirement);
- foreign: another user's path or task id (ISO-MATRIX);
- invalid: input the API need not accept; `must_refuse` when a 2xx could only be wrong.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.exchange import derive, remember
from harness.scenes import Owner, Scene

BIGINT_MAX = 2**63 - 1
OVERSIZED_BYTES = 64 * 1024 + 1  # the documented limit is 64 KiB
STALE_TAG = '"0"'  # an entity tag no task ever has
Kind = Literal["refused", "foreign", "invalid"]


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    bodies: dict[str, Any] = field(default_factory=dict)
    invalid_field: str | None = None
    served: bool = True  # False: a method the seed API does not define on this path

    def url(self, collection: str, task_id: str, complete_suffix: str = "/complete") -> str:
        """This route's URL under `collection` (a user's task collection URL)."""
        path = self.path.replace("/{task_id}", f"/{task_id}").replace("/complete", complete_suffix)
        return collection + path.removeprefix("/api/{user_id}/tasks")


@dataclass(frozen=True)
class Probe:
    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]
    content: bytes | None
    token: str | None  # the credential the request carries; it must never come back
    caller: Owner | None  # whose token it is, when it is one of the scene's users


# --- credentials: the Authorization header value, or None for no header ---


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _alg_none(token: str) -> str:
    payload = token.split(".")[1]
    return remember(f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}.", "unsigned (alg none)")


def _tampered_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    changed = f"{head}.{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    return derive(token, changed, "the first character of its signature changed")


def _payload_swapped(token: str, new_sub: str) -> str:
    """The intruder's signed token with its `sub` rewritten to the owner after signing."""
    head, payload, signature = token.split(".")
    claims = json.loads(_unb64(payload))
    claims.update(sub=new_sub, id=new_sub)
    changed = f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"
    return derive(token, changed, "its payload rewritten to name another user after signing")


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def _expired(s: Scene) -> str:
    now = int(time.time())
    return s.minter.mint(s.owner.user.id, iat=now - 1000, exp=now - 120)


AUTH: dict[str, Callable[[Scene], str | None]] = {
    "owner": lambda s: _bearer(s.owner.user.token),
    "none": lambda s: None,
    "intruder": lambda s: _bearer(s.intruder.user.token),
    "empty_bearer": lambda s: "Bearer",
    "basic_scheme": lambda s: "Basic " + base64.b64encode(f"{s.owner.user.id}:password".encode()).decode(),
    "not_a_jwt": lambda s: _bearer("not-a-jwt"),
    "alg_none": lambda s: _bearer(_alg_none(s.owner.user.token)),
    "tampered_signature": lambda s: _bearer(_tampered_signature(s.owner.user.token)),
    "payload_swapped": lambda s: _bearer(_payload_swapped(s.intruder.user.token, s.owner.user.id)),
    "expired": lambda s: _bearer(_expired(s)),
    "not_yet_valid": lambda s: _bearer(s.minter.mint(s.owner.user.id, nbf=int(time.time()) + 600)),
    "without_exp": lambda s: _bearer(s.minter.mint(s.owner.user.id, drop=("exp",))),
    "without_sub": lambda s: _bearer(s.minter.mint(s.owner.user.id, drop=("sub", "id"))),
}

# --- the {task_id} in the path ---

TASK: dict[str, Callable[[Scene, str], str]] = {
    "owner": lambda s, _: s.owner.task_id,
    "intruder": lambda s, _: s.intruder.task_id,
    # No such task: the largest bigint for integer ids, a fresh UUID for text ids.
    "missing": lambda s, id_type: str(BIGINT_MAX) if id_type == "integer" else "00000000-0000-4000-8000-000000000000",
    "text": lambda s, _: "first",
    "zero": lambda s, _: "0",
    "over_bigint": lambda s, _: str(BIGINT_MAX + 1),
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
    headers: dict[str, str] = field(default_factory=dict)  # request headers besides Authorization and Content-Type
    kind: Kind = "invalid"
    guard: str | None = None  # the security requirement a refused or foreign probe protects
    must_refuse: bool = False  # invalid input a 2xx could only be wrong about
    seed_any_4xx: bool = False  # the seed layer wants a 4xx, not the kind's usual pair (combinations)

    def probe(self, scene: Scene, route: Route, collection: str, id_type: str, complete_suffix: str) -> Probe:
        authorization = AUTH[self.auth](scene)
        content, content_type = BODY[self.body](route)
        headers = {"Authorization": authorization} if authorization is not None else {}
        headers.update(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        token = authorization.partition(" ")[2] if authorization else ""
        callers = {"owner": scene.owner, "intruder": scene.intruder}
        return Probe(
            method=route.method,
            url=route.url(collection, TASK[self.task](scene, id_type), complete_suffix),
            headers=headers,
            params=dict(self.query),
            content=content,
            token=token or None,
            caller=callers.get(self.auth),
        )


def _refused(guard: str, **axes: Any) -> Condition:
    return Condition(kind="refused", guard=guard, **axes)


def _foreign(**axes: Any) -> Condition:
    return Condition(kind="foreign", guard="ISO-MATRIX", **axes)


_CREDENTIALS = "AUTH-CREDENTIALS-REQUIRED"

CONDITIONS: dict[str, Condition] = {
    "valid": Condition(),  # an error row with this condition is a method the path does not serve
    "no_body": Condition(body="none", must_refuse=True),
    # task ids
    "missing_task": Condition(task="missing", must_refuse=True),
    "other_users_task": _foreign(task="intruder"),
    "text_task_id": Condition(task="text", must_refuse=True),
    "zero_task_id": Condition(task="zero", must_refuse=True),
    "task_id_over_bigint": Condition(task="over_bigint", must_refuse=True),
    # bodies
    "invalid_body": Condition(body="invalid"),
    "read_only_field": Condition(body="extra_field"),
    "malformed_json": Condition(body="malformed_json", must_refuse=True),
    "empty_json_body": Condition(body="empty_json", must_refuse=True),
    "non_json_body": Condition(body="non_json"),
    "no_content_type": Condition(body="no_content_type"),
    "oversized_body": Condition(body="oversized"),
    # preconditions and idempotency keys: a tag the task never has (versions start at 1), any tag, an unusable key
    "stale_if_match": Condition(headers={"If-Match": STALE_TAG}),
    "if_none_match_any": Condition(headers={"If-None-Match": "*"}),
    "idempotency_key_too_long": Condition(headers={"Idempotency-Key": "k" * 256}),
    # list query
    "limit_zero": Condition(query={"limit": "0"}),
    "limit_over_max": Condition(query={"limit": "201"}),
    "unknown_status_filter": Condition(query={"status": "done"}),
    "unknown_sort": Condition(query={"sort": "owner"}),
    "forged_cursor": Condition(query={"cursor": _b64(b'{"s":"-created_at","v":"yesterday","i":1}')}),
    # credentials
    "no_token": _refused(_CREDENTIALS, auth="none"),
    "empty_bearer": _refused(_CREDENTIALS, auth="empty_bearer"),
    "basic_scheme": _refused(_CREDENTIALS, auth="basic_scheme"),
    "not_a_jwt": _refused(_CREDENTIALS, auth="not_a_jwt"),
    "alg_none_token": _refused("AUTH-ALG-ALLOWLIST", auth="alg_none"),
    "tampered_signature": _refused("AUTH-SIGNATURE", auth="tampered_signature"),
    "payload_swapped_after_signing": _refused("AUTH-SIGNATURE", auth="payload_swapped"),
    "expired_token": _refused("AUTH-EXPIRY", auth="expired"),
    "not_yet_valid_token": _refused("AUTH-NBF", auth="not_yet_valid"),
    "token_without_exp": _refused("AUTH-EXPIRY", auth="without_exp"),
    "token_without_sub": _refused("AUTH-SUBJECT", auth="without_sub"),
    "foreign_token": _foreign(auth="intruder"),
    "foreign_token_on_own_task_id": _foreign(auth="intruder", task="intruder"),
    # combinations that pin the order of checks (reference); any 4xx is a proper class for the seed
    "oversized_body_without_token": _refused(_CREDENTIALS, auth="none", body="oversized", seed_any_4xx=True),
    "non_json_body_without_token": _refused(_CREDENTIALS, auth="none", body="non_json", seed_any_4xx=True),
    "invalid_body_with_foreign_token": _foreign(auth="intruder", body="invalid", seed_any_4xx=True),
    "non_json_body_on_missing_task": Condition(task="missing", body="non_json", must_refuse=True),
    "invalid_body_on_missing_task": Condition(task="missing", body="invalid", must_refuse=True),
    "text_task_id_without_token": _refused(_CREDENTIALS, auth="none", task="text", seed_any_4xx=True),
    "stale_if_match_without_token": _refused(_CREDENTIALS, auth="none", headers={"If-Match": STALE_TAG}),
    "stale_if_match_with_foreign_token": _foreign(auth="intruder", headers={"If-Match": STALE_TAG}),
    "stale_if_match_with_invalid_body": Condition(body="invalid", headers={"If-Match": STALE_TAG}),
    "stale_if_match_on_missing_task": Condition(task="missing", headers={"If-Match": STALE_TAG}, must_refuse=True),
}
