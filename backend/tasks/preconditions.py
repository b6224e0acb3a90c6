"""HTTP preconditions and idempotency keys for the task routes: what the headers say, parsed once, in one place.

- ETag (RFC 9110 §8.8.3): a task's representation changes exactly when its `version` does, so `"<version>"` is a
  strong validator. If-Match compares strongly (a weak tag never matches); If-None-Match weakly.
- A page of the list is validated by a digest of what the client would keep: its body and its next-page link (the
  same rows can gain or lose a next page). That tag is weak: it names the content, not a stored version.
- Idempotency-Key (IETF httpapi idempotency-key draft): 1 to 255 printable ASCII characters, scoped to the user.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pydantic import BaseModel

_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*')
# Declared on the header parameter (backend/tasks/routes.py), so FastAPI validates it and OpenAPI states it.
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]+$"


def etag(version: int) -> str:
    return f'"{version}"'


def weak_etag(opaque_tag: str) -> str:
    return f'W/"{opaque_tag}"'


def page_tag(body: bytes, next_link: str | None) -> str:
    """The opaque part of a page's weak ETag (`W/"<page_tag>"`)."""
    digest = hashlib.blake2b(body, digest_size=16)
    digest.update(b"\nlink:" + (next_link or "").encode())
    return digest.hexdigest()


def none_match(if_none_match: str | None, opaque_tag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 §13.1.2), for a task (`str(version)`) and a page alike: True when the
    header is `*` or names `opaque_tag`, weak or strong. Malformed members simply never match."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(
        (match := _ENTITY_TAG.fullmatch(part)) is not None and match.group(2) == opaque_tag
        for part in if_none_match.split(",")
    )


@dataclass(frozen=True)
class Condition:
    """A parsed If-Match: `any` for `*`, else the versions its strong entity tags name (a weak tag never matches)."""

    any: bool
    versions: list[int]


def parse_condition(value: str | None) -> Condition | None:
    """None when the header is absent. Tags that are not one of ours (not a version) simply never match."""
    if value is None:
        return None
    if value.strip() == "*":
        return Condition(any=True, versions=[])
    versions: list[int] = []
    for part in value.split(","):
        match = _ENTITY_TAG.fullmatch(part)
        if match and not match.group(1) and match.group(2).isdigit() and len(match.group(2)) <= 18:
            versions.append(int(match.group(2)))
    return Condition(any=False, versions=versions)


def request_hash(body: BaseModel) -> str:
    """What "the same request" means for a key: the same validated body (key order and trimmed spaces aside)."""
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()
