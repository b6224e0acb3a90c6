"""The benchmark's framework-free reference (LOAD-BENCH-REFERENCE): raw ASGI on uvicorn (uvloop, httptools, one
worker, no access log) doing the work the API cannot avoid, and nothing else.

    python -m loadtests.reference_server --port 8100 --database-url URL --jwks-url URL --issuer ISS [--audience AUD]

It trusts what the deployment trusts (the JWKS's EdDSA keys, the issuer and the audience, through PyJWT), keeps a
dict of verified tokens (steady state: one dict lookup, like the app's TOKEN_CACHE), checks `sub` against the path's
user, runs the app's own SQL text (backend/tasks/repository.py) on the same database through a psycopg
AsyncConnectionPool shaped like the app's, and answers the app's JSON bytes and ETag. Routes:

- GET /healthz
- GET /api/{user_id}/tasks/{task_id}
- GET /api/{user_id}/tasks (the first page of 50, newest first, with its weak ETag: the bench's lists hold 20, so it
  never pages)
- PATCH /api/{user_id}/tasks/{task_id}/complete (no body: the toggle)
- POST /api/{user_id}/tasks (the body validated by the app's TaskWrite)

Anything else, or any refusal, is a bare status with an empty body: refusals are not what it measures. The gap
between this server and the app on the same route is the app's own per-request cost: framework, middlewares,
dependency resolution, logs, metrics (specs/performance.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx
import jwt
import uvicorn
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError
from pydantic_core import to_json

from backend.db.urls import normalize_database_url
from backend.tasks import repository
from backend.tasks.pagination import SortOrder, StatusFilter
from backend.tasks.preconditions import etag, page_tag, weak_etag
from backend.tasks.schemas import TaskWrite

PAGE = 50  # the app's default limit
_JSON = (b"content-type", b"application/json")
_HEALTHZ = to_json({"status": "ok"})
# The app's own SQL text, so both servers run the very same statements.
_LIST = repository._list_statement(StatusFilter.ALL, SortOrder.CREATED_DESC, False)
_TOGGLE = repository._STATEMENTS["toggle"][0]
Receive = Any
Send = Any


class Reference:
    """The ASGI app. Token cache: token -> (sub, expiry); refused tokens are not cached (the bench sends none)."""

    def __init__(self, database_url: str, jwks_url: str, issuer: str, audience: str | None, pool_max: int) -> None:
        url = normalize_database_url(database_url).set(drivername="postgresql")
        self.pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
            url.render_as_string(hide_password=False),
            connection_class=AsyncConnection[DictRow],
            # As the app's pool: autocommit single statements, dict rows, psycopg's default prepare threshold.
            kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 5},
            min_size=1,
            max_size=pool_max,
            open=False,
        )
        self.jwks_url, self.issuer, self.audience = jwks_url, issuer, audience
        self.keys: dict[str, jwt.PyJWK] = {}
        self.tokens: dict[str, tuple[str, float]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            status, body, headers = await self._answer(scope, receive)
            headers.append((b"content-length", str(len(body)).encode()))  # else uvicorn would chunk the body
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                async with httpx.AsyncClient(timeout=10) as client:
                    document = (await client.get(self.jwks_url)).raise_for_status().json()
                self.keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(document) if key.key_id}
                await self.pool.open(wait=True)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _subject(self, scope: dict[str, Any]) -> str | None:
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if not authorization.startswith(b"Bearer "):
            return None
        token = authorization[7:].decode("ascii")
        cached = self.tokens.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        try:
            key = self.keys[jwt.get_unverified_header(token)["kid"]]
            claims = jwt.decode(
                token,
                key,
                algorithms=["EdDSA"],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "iat", "sub"], "verify_aud": self.audience is not None},
            )
        except (jwt.PyJWTError, KeyError):
            return None
        self.tokens[token] = (claims["sub"], float(claims["exp"]))
        return str(claims["sub"])

    async def _answer(self, scope: dict[str, Any], receive: Receive) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        path, method = scope["path"], scope["method"]
        if path == "/healthz" and method == "GET":
            return 200, _HEALTHZ, [_JSON]
        parts = path.split("/")  # "", "api", user, "tasks", [id, ["complete"]]
        if len(parts) < 4 or parts[1] != "api" or parts[3] != "tasks" or len(parts) > 6:
            return 404, b"", []
        subject = self._subject(scope)
        if subject is None:
            return 401, b"", []
        user_id = parts[2]
        if subject != user_id:
            return 403, b"", []
        if len(parts) == 4:
            if method == "GET":
                rows = await self._rows(_LIST, {"owner": user_id, "page_rows": PAGE + 1})
                body = to_json(rows[:PAGE])
                return 200, body, [_JSON, (b"etag", weak_etag(page_tag(body, None)).encode())]
            if method == "POST":
                try:
                    task = TaskWrite.model_validate_json(await _body(receive))
                except ValidationError:
                    return 422, b"", []
                params = {"owner": user_id, "new_title": task.title, "new_description": task.description}
                row = (await self._rows(repository._CREATE, params))[0]
                location = f"/api/{user_id}/tasks/{row['id']}".encode()
                return 201, *_task(row, (b"location", location))
            return 405, b"", []
        if not parts[4].isdigit():
            return 422, b"", []
        params = {"task_id": int(parts[4]), "owner": user_id}
        if len(parts) == 5 and method == "GET":
            rows = await self._rows(repository._GET, params)
        elif len(parts) == 6 and parts[5] == "complete" and method == "PATCH":
            rows = await self._rows(_TOGGLE, params)
        else:
            return 405, b"", []
        return (200, *_task(rows[0])) if rows else (404, b"", [])

    async def _rows(self, sql: str, params: dict[str, Any]) -> list[DictRow]:
        async with self.pool.connection() as connection:
            cursor = await connection.execute(sql, params)
            return await cursor.fetchall()


def _task(row: DictRow, *headers: tuple[bytes, bytes]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    tag = etag(row.pop("version")).encode()
    return to_json(row), [_JSON, (b"etag", tag), *headers]


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.reference_server", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--jwks-url", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", help="default: the issuer (as Better Auth's JWT plugin)")
    parser.add_argument("--pool-max", type=int, default=15, help="as the app's DB_POOL_SIZE + DB_MAX_OVERFLOW")
    args = parser.parse_args(argv)
    app = Reference(args.database_url, args.jwks_url, args.issuer, args.audience or args.issuer, args.pool_max)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
        lifespan="on",
        # The bench alternates servers every slice: an idle keep-alive connection must outlive a few slices.
        timeout_keep_alive=30,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
