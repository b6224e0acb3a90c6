"""Another team's todo API: same routes as backend/, plain FastAPI contract, secure unless a defect is switched on.

Contract differences from backend/: POST answers 200 without Location, DELETE answers 200 {"deleted": true}, the task
path parameter is `id`, errors are FastAPI's {"detail": ...}, unknown body fields are ignored, lists are not paged.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, ClassVar, TypeGuard, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

import jwt
from fastapi import Depends, FastAPI, HTTPException, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from psycopg import Connection, DatabaseError, sql
from psycopg.rows import TupleRow, dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field, StrictBool, field_validator
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFECTS: tuple[str, ...] = (
    "owner-filter-missing",  # GET one selects by id only
    "owner-case-insensitive",  # the path-owner check ignores case
    "forbidden-foreign-id",  # another user's task id answers 403, a missing one 404
    "exp-not-required",
    "iat-unchecked",
    "crit-ignored",  # unknown `crit` extensions accepted, as PyJWT < 2.10 did
    "identity-claim",  # the user comes from Better Auth's `user.id` / `id` claims before `sub`
    "alg-from-header",  # the token's own `alg` is the allow-list
    "nul-500",  # NUL reaches PostgreSQL
    "poisoned-row",  # "   " is stored as an empty title that every later read fails to serialise
    "precondition-oracle",  # If-Match / If-None-Match checked against the task found by id alone: 412 on others'
)
MAX_BODY = 64 * 1024
MAX_TOKEN = 8 * 1024
MAX_KID = 256
MAX_USER_ID = 255
MAX_NUMERIC_DATE = 2**53  # beyond this a float loses whole seconds
LEEWAY = 30
_BEARER = re.compile(r"(?i:bearer) ([A-Za-z0-9\-._~+/]+=*)")  # exactly one RFC 6750 b64token
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
Row = dict[str, Any]
TaskId = int | UUID
IntId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # BIGINT's range: anything else is a 422, never a database error
_UNCHECKED_CLAIMS = (("exp-not-required", "exp"), ("iat-unchecked", "iat"))
EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])


class TaskIn(BaseModel):
    """Create and replace body. Unknown fields (user_id, id, created_at...) are ignored: pydantic's default."""

    refuse_nul: ClassVar[bool] = True  # off for nul-500
    strip_first: ClassVar[bool] = True  # off for poisoned-row: min_length then sees "   ", which strips to ""

    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)

    @field_validator("title", mode="before")
    @classmethod
    def _strip_first(cls, value: object) -> object:
        return value.strip() if cls.strip_first and isinstance(value, str) else value

    @field_validator("title")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("title", "description")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL; lone surrogates are already refused by pydantic's str.
        if cls.refuse_nul and value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class CompleteIn(BaseModel):
    completed: StrictBool  # "yes" or 1 is a 422, not True


class TaskOut(BaseModel):
    id: int | UUID
    title: str = Field(min_length=1)
    description: str | None
    completed: bool
    created_at: datetime
    updated_at: datetime


def _task_in(defects: frozenset[str]) -> type[TaskIn]:
    class TaskBody(TaskIn):
        refuse_nul = "nul-500" not in defects
        strip_first = "poisoned-row" not in defects

    return TaskBody


class _RefusedError(Exception):
    """The token failed one of our own checks (PyJWT raises its own errors)."""


class _LaxJWS(jwt.PyJWS):
    def _validate_crit(self, headers: dict[str, Any]) -> None:
        return None


def _numeric_date(value: object) -> bool:
    # PyJWT int()s time claims, so "9999999999" and 10**400 pass it: RFC 7519 wants a JSON number.
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < MAX_NUMERIC_DATE


def _valid_user_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_USER_ID and not _CONTROL.search(value)


class Verifier:
    """HS256 with a shared secret or EdDSA from a JWKS; algorithms come from configuration, never from the token."""

    def __init__(
        self,
        key: bytes | jwt.PyJWKClient,
        algorithms: list[str],
        issuer: str | None,
        audience: str | None,
        defects: frozenset[str],
    ) -> None:
        self.key, self.algorithms, self.issuer, self.audience, self.defects = key, algorithms, issuer, audience, defects
        self.decoder = jwt.PyJWT()
        self.decoder._jws = _LaxJWS() if "crit-ignored" in defects else jwt.PyJWS()  # PyJWT has no public hook
        skipped = {claim for defect, claim in _UNCHECKED_CLAIMS if defect in defects}
        self.time_claims = [name for name in ("exp", "iat", "nbf") if name not in skipped]
        configured = [name for name, value in (("iss", issuer), ("aud", audience)) if value is not None]
        self.required = [*(name for name in ("exp", "iat") if name not in skipped), "sub", *configured]

    def user_for(self, token: str) -> str | None:
        """The token's user, or None when refused for any reason."""
        try:
            return self._verify(token)
        except Exception:  # noqa: BLE001 - whatever PyJWT or the JWKS client raises is a 401, never a 500
            return None

    def _verify(self, token: str) -> str:
        if len(token) > MAX_TOKEN:
            raise _RefusedError
        header = self.decoder._jws.get_unverified_header(token)  # validates `crit` too
        kid = header.get("kid")
        if kid is not None and not (isinstance(kid, str) and len(kid) <= MAX_KID):
            raise _RefusedError
        claims = self.decoder.decode(
            token,
            self._key(kid),
            algorithms=[header["alg"]] if "alg-from-header" in self.defects else self.algorithms,
            issuer=self.issuer,
            audience=self.audience,
            leeway=LEEWAY,
            options={
                "require": self.required,
                "verify_aud": self.audience is not None,
                "verify_iat": "iat" in self.time_claims,
            },
        )
        for name in self.time_claims:
            if name in claims and not _numeric_date(claims[name]):
                raise _RefusedError
        if "iat" in self.time_claims and claims["iat"] > time.time() + LEEWAY:
            raise _RefusedError
        user = claims["sub"]
        if "identity-claim" in self.defects:
            user = (claims.get("user") or {}).get("id") or claims.get("id") or claims["sub"]
        if _valid_user_id(claims["sub"]) and _valid_user_id(user):
            return user
        raise _RefusedError

    def _key(self, kid: str | None) -> bytes | jwt.PyJWK:
        if isinstance(self.key, bytes):
            return self.key
        if not kid:
            raise _RefusedError
        return self.key.get_signing_key(kid)  # by kid only: jwk, jku, x5u and x5c headers are never looked at


def build_verifier(
    auth: str,
    secret: str | None,
    jwks_url: str | None,
    issuer: str | None,
    audience: str | None,
    defects: frozenset[str],
) -> Verifier:
    if auth == "secret":
        if secret is None or len(secret.encode()) < 32:
            raise ValueError("auth='secret' needs a secret of at least 32 bytes")
        return Verifier(secret.encode(), ["HS256"], issuer, audience, defects)
    if auth == "jwks":
        if not jwks_url:
            raise ValueError("auth='jwks' needs jwks_url")
        base = urlsplit(jwks_url)._replace(path="", query="", fragment="").geturl()  # Better Auth's iss and aud
        client = jwt.PyJWKClient(jwks_url, lifespan=300, timeout=5)  # caches the set; refetches at most every 30 s
        return Verifier(client, ["EdDSA"], issuer or base, audience or base, defects)
    raise ValueError(f"unknown auth mode {auth!r}")


class BodyLimit:
    """413 for a body over MAX_BODY, whether its Content-Length says so or it streams past the limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
            await JSONResponse({"detail": "Payload too large"}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                raise HTTPException(413, "Payload too large")  # FastAPI re-raises it from its body reading
            return message

        await self.app(scope, limited, send)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's own 422 body minus the echoed `input`: an echoed 1e999 (inf) or undecodable bytes cannot be
    # rendered as JSON, which would turn the 422 into a 500.
    errors = [{key: value for key, value in error.items() if key != "input"} for error in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def _server_error(_: Request, exc: Exception) -> PlainTextResponse:
    # Starlette's own 500, but answered per exception class: its catch-all re-raises, and uvicorn then drops the
    # keep-alive connection under the client's next request.
    logging.getLogger("tools.variants").error("unhandled error", exc_info=exc)
    return PlainTextResponse("Internal Server Error", status_code=500)


_COLUMNS = sql.SQL("id, title, description, completed, created_at, updated_at")
_DDL = """CREATE TABLE IF NOT EXISTS {table} ({id_column}, user_id text NOT NULL, title text NOT NULL, description text,
    completed boolean NOT NULL DEFAULT false, created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS {index} ON {table} (user_id, created_at)"""


class Store:
    """Every statement is scoped by the path's user_id, except where a defect says otherwise."""

    def __init__(self, pool: ConnectionPool[Connection[TupleRow]], id_type: str, defects: frozenset[str]) -> None:
        self.pool, self.defects = pool, defects
        # One table per id type, so that int and uuid variants can share a database.
        self.name = "variant_tasks" if id_type == "int" else "variant_tasks_uuid"
        self.id_column = (
            "id bigserial PRIMARY KEY" if id_type == "int" else "id uuid PRIMARY KEY DEFAULT gen_random_uuid()"
        )

    def create_table(self) -> None:
        with self.pool.connection() as connection:
            # Variants started together on one database: concurrent CREATE TABLE IF NOT EXISTS can still collide.
            connection.execute("SELECT pg_advisory_xact_lock(hashtext('variant_tasks'))")
            connection.execute(
                sql.SQL(_DDL).format(
                    table=sql.Identifier(self.name),
                    id_column=sql.SQL(self.id_column),
                    index=sql.Identifier(f"{self.name}_user_idx"),
                )
            )

    def _rows(self, query: str, *params: object) -> list[Row]:
        statement = sql.SQL(query).format(table=sql.Identifier(self.name), columns=_COLUMNS)
        with self.pool.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()

    def _row(self, query: str, *params: object) -> Row | None:
        rows = self._rows(query, *params)
        return rows[0] if rows else None

    def list_tasks(self, user_id: str) -> list[Row]:
        return self._rows("SELECT {columns} FROM {table} WHERE user_id = %s ORDER BY created_at, id", user_id)

    def create(self, user_id: str, title: str, description: str | None) -> Row:
        query = "INSERT INTO {table} (user_id, title, description) VALUES (%s, %s, %s) RETURNING {columns}"
        return self._rows(query, user_id, title, description)[0]

    def get(self, user_id: str, task_id: TaskId) -> Row | None:
        if "owner-filter-missing" in self.defects:  # "the path owner was checked already"
            return self._row("SELECT {columns} FROM {table} WHERE id = %s", task_id)
        return self._row("SELECT {columns} FROM {table} WHERE id = %s AND user_id = %s", task_id, user_id)

    def replace(self, user_id: str, task_id: TaskId, title: str, description: str | None) -> Row | None:
        query = (
            "UPDATE {table} SET title = %s, description = %s, updated_at = now()"
            " WHERE id = %s AND user_id = %s RETURNING {columns}"
        )
        return self._row(query, title, description, task_id, user_id)

    def complete(self, user_id: str, task_id: TaskId, completed: bool | None) -> Row | None:
        query = (
            "UPDATE {table} SET completed = COALESCE(%s::boolean, NOT completed), updated_at = now()"
            " WHERE id = %s AND user_id = %s RETURNING {columns}"
        )
        return self._row(query, completed, task_id, user_id)

    def delete(self, user_id: str, task_id: TaskId) -> Row | None:
        return self._row("DELETE FROM {table} WHERE id = %s AND user_id = %s RETURNING id", task_id, user_id)

    def exists(self, task_id: TaskId) -> bool:
        return self._row("SELECT id FROM {table} WHERE id = %s", task_id) is not None


def _bearer(request: Request) -> str | None:
    values = request.headers.getlist("authorization")
    match = _BEARER.fullmatch(values[0]) if len(values) == 1 else None
    return match.group(1) if match else None


def _retyper(**types: object) -> Callable[[EndpointT], EndpointT]:
    """Sets per-app parameter types: FastAPI resolves the (string) annotations in module globals only."""

    def retype(endpoint: EndpointT) -> EndpointT:
        endpoint.__annotations__.update({name: types[name] for name in endpoint.__annotations__.keys() & types})
        return endpoint

    return retype


def create_variant_app(
    database_url: str,
    *,
    auth: str,
    secret: str | None = None,
    jwks_url: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    id_type: str = "int",
    docs: bool = True,
    defects: frozenset[str] = frozenset(),
) -> FastAPI:
    if unknown := defects - set(DEFECTS):
        raise ValueError(f"unknown defects: {sorted(unknown)}")
    if id_type not in ("int", "uuid"):
        raise ValueError(f"unknown id type {id_type!r}")
    verifier = build_verifier(auth, secret, jwks_url, issuer, audience, defects)
    pool: ConnectionPool[Connection[TupleRow]] = ConnectionPool(database_url, min_size=1, max_size=8, open=False)
    store = Store(pool, id_type, defects)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True, timeout=30)
        try:
            store.create_table()
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="todo-api (variant)",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.add_middleware(BodyLimit)
    app.exception_handler(RequestValidationError)(_validation_error)
    for unexpected in (DatabaseError, ResponseValidationError):  # what nul-500 and poisoned-row raise
        app.exception_handler(unexpected)(_server_error)
    retype = _retyper(id=IntId if id_type == "int" else UUID, body=_task_in(defects))

    def owner(request: Request, user_id: str) -> None:
        token = _bearer(request)
        user = verifier.user_for(token) if token else None
        if user is None:
            raise HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        same = user.lower() == user_id.lower() if "owner-case-insensitive" in defects else user == user_id
        if not same:
            raise HTTPException(403, "Forbidden")

    def found(row: Row | None, task_id: TaskId, request: Request) -> Row:
        if row is not None:
            return row
        conditional = {"if-match", "if-none-match"} & set(request.headers.keys())
        if "precondition-oracle" in defects and conditional and store.exists(task_id):
            raise HTTPException(412, "Precondition Failed")  # "the tag cannot match a task we did not return"
        if "forbidden-foreign-id" in defects and store.exists(task_id):
            raise HTTPException(403, "Forbidden")
        raise HTTPException(404, "Task not found")  # a missing task and another user's answer alike

    guard = [Depends(owner)]
    tasks, task = "/api/{user_id}/tasks", "/api/{user_id}/tasks/{id}"

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get(tasks, response_model=list[TaskOut], dependencies=guard)
    def list_tasks(user_id: str) -> list[Row]:
        return store.list_tasks(user_id)

    @app.post(tasks, dependencies=guard)
    @retype
    def create_task(user_id: str, body: TaskIn) -> Row:
        return store.create(user_id, body.title, body.description)

    @app.get(task, response_model=TaskOut, dependencies=guard)
    @retype
    def get_task(user_id: str, id: TaskId, request: Request) -> Row:
        return found(store.get(user_id, id), id, request)

    @app.put(task, dependencies=guard)
    @retype
    def replace_task(user_id: str, id: TaskId, body: TaskIn, request: Request) -> Row:
        return found(store.replace(user_id, id, body.title, body.description), id, request)

    @app.delete(task, dependencies=guard)
    @retype
    def delete_task(user_id: str, id: TaskId, request: Request) -> dict[str, bool]:
        found(store.delete(user_id, id), id, request)
        return {"deleted": True}

    @app.patch(f"{task}/complete", dependencies=guard)
    @retype
    def complete_task(user_id: str, id: TaskId, request: Request, change: CompleteIn | None = None) -> Row:
        # No body toggles; {"completed": bool} sets.
        return found(store.complete(user_id, id, None if change is None else change.completed), id, request)

    return app
