"""FastAPI dependencies: `Authenticated` (any valid token) and `CurrentUser` (the token owns the path's user)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path, Request

from backend.auth.principal import Principal
from backend.auth.verifier import AuthError
from backend.deps import settings_of, verifier_of
from backend.errors import ProblemError

# RFC 6750 b64token.
_BEARER = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)

# The OpenAPI security scheme; `backend/openapi_docs.py` puts it on every operation that depends on `authenticate`
# or `require_path_owner`.
# (FastAPI's HTTPBearer would document it too, but as a dependency it parses the header once more on every request:
# 1.5 points of GET one's throughput, specs/performance.md.)
BEARER_SCHEME_NAME = "bearerAuth"
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A Better Auth JWT (`GET /api/auth/token`), sent as `Authorization: Bearer <token>`.",
}


def _challenge(realm: str, reason: str | None) -> dict[str, str]:
    if reason is None:
        return {"WWW-Authenticate": f'Bearer realm="{realm}"'}
    return {"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token", error_description="{reason}"'}


def _unauthorized(realm: str, reason: str | None) -> ProblemError:
    detail = None if reason is None else f"Invalid token: {reason}."
    return ProblemError(401, detail, headers=_challenge(realm, reason))


async def _principal(request: Request) -> Principal:
    """The token's principal, or a 401 with the RFC 6750 challenge."""
    realm = settings_of(request).auth_realm
    values = [value for name, value in request.scope["headers"] if name == b"authorization"]
    if not values:
        raise _unauthorized(realm, None)
    match = _BEARER.fullmatch(values[0].decode("latin-1").strip()) if len(values) == 1 else None
    if match is None:
        raise _unauthorized(realm, "malformed authorization header")
    verifier, token = verifier_of(request), match.group(1)
    principal = verifier.cached(token)
    if principal is not None:
        return principal
    try:
        return await verifier.verify_uncached(token)
    except AuthError as exc:
        raise _unauthorized(realm, exc.reason) from None


async def authenticate(request: Request) -> Principal:
    return await _principal(request)


Authenticated = Annotated[Principal, Depends(authenticate)]


async def require_path_owner(
    request: Request,
    user_id: Annotated[str, Path(description="The user id; must equal the token's `sub`.")],
) -> Principal:
    # Authenticates by itself rather than through `Authenticated`: one dependency instead of two on every API
    # request (specs/performance.md). The order holds: no token, no 403.
    principal = await _principal(request)
    if principal.user_id != user_id:
        raise ProblemError(403)
    return principal


CurrentUser = Annotated[Principal, Depends(require_path_owner)]
# What `backend/openapi_docs.py` documents as needing the bearer scheme.
AUTHENTICATING = frozenset({authenticate, require_path_owner})
