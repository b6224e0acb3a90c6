"""The schema on a real PostgreSQL: migrations agree with the models and round-trip; constraints and indexes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import SQLModel

from backend import cli
from backend.db import models  # noqa: F401 - registers the tables on the metadata
from backend.db.migrate import downgrade, upgrade
from backend.db.urls import normalize_database_url
from backend.tasks import repository
from harness.database import fresh_database
from harness.users import ApiUser, new_user_id

INDEXES = {
    "ix_tasks_user_created": ["user_id", "created_at", "id"],
    "ix_tasks_user_updated": ["user_id", "updated_at", "id"],
    "ix_tasks_user_title": ["user_id", "title", "id"],
}
INDEX_FOR_SORT = {
    "created_at": "ix_tasks_user_created",
    "updated_at": "ix_tasks_user_updated",
    "title": "ix_tasks_user_title",
}


@pytest.fixture
def fresh_database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


def _tables(url: str) -> set[str]:
    engine = create_engine(normalize_database_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.req("DB-MIGRATIONS-MATCH")
def test_the_migrated_schema_matches_the_models(engine):
    with engine.connect() as connection:
        assert _diff(connection) == []


@pytest.mark.req("DB-MIGRATIONS-ROUNDTRIP", "DB-MIGRATIONS-MATCH", "OPS-CLI")
def test_upgrade_downgrade_to_base_and_upgrade_again(fresh_database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    assert cli.main(["migrate"]) == 0  # `todo-api migrate` on an empty database
    assert "at head" in capsys.readouterr().out
    assert {"users", "tasks", "alembic_version"} <= _tables(fresh_database_url)

    downgrade(fresh_database_url, "base")
    assert _tables(fresh_database_url) <= {"alembic_version"}

    upgrade(fresh_database_url)
    engine = create_engine(normalize_database_url(fresh_database_url))
    try:
        with engine.connect() as connection:
            assert _diff(connection) == []
    finally:
        engine.dispose()


@pytest.fixture
def sql_user(engine: Engine) -> str:
    user_id = new_user_id("sql")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO users (id) VALUES (:id)"), {"id": user_id})
    return user_id


def _insert_task(engine: Engine, **values: Any) -> None:
    columns = ", ".join(values)
    placeholders = ", ".join(f":{name}" for name in values)
    with engine.begin() as connection:
        connection.execute(text(f"INSERT INTO tasks ({columns}) VALUES ({placeholders})"), values)  # noqa: S608


@pytest.mark.req("DB-CONSTRAINTS")
@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"title": ""}, IntegrityError),
        ({"title": "   "}, IntegrityError),
        ({"title": " padded "}, IntegrityError),
        ({"title": None}, IntegrityError),
        ({"title": "x" * 201}, DataError),
        ({"description": "d" * 2001}, DataError),
        ({"completed": True}, IntegrityError),  # completed without completed_at
        ({"completed_at": "2026-01-01T00:00:00Z"}, IntegrityError),  # completed_at while pending
        ({"completed": None}, IntegrityError),
        ({"user_id": "nobody-at-all"}, IntegrityError),  # foreign key
    ],
    ids=[
        "empty title",
        "blank title",
        "untrimmed title",
        "null title",
        "title too long",
        "description too long",
        "completed without time",
        "time without completed",
        "null completed",
        "unknown user",
    ],
)
def test_the_database_refuses_rows_the_api_would_refuse(engine, sql_user, values, error):
    with pytest.raises(error):
        _insert_task(engine, **{"user_id": sql_user, "title": "valid", **values})


@pytest.mark.req("DB-CONSTRAINTS")
def test_a_valid_row_is_accepted_so_the_refusals_above_are_about_their_values(engine, sql_user):
    _insert_task(engine, user_id=sql_user, title="valid", completed=True, completed_at="2026-01-01T00:00:00Z")


@pytest.mark.req("DB-CONSTRAINTS")
@pytest.mark.parametrize("user_id", ["", None], ids=["empty", "null"])
def test_the_database_refuses_an_empty_user_id(engine, user_id):
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("INSERT INTO users (id) VALUES (:id)"), {"id": user_id})


@pytest.mark.req("DB-CONSTRAINTS")
def test_user_ids_and_task_ids_are_primary_keys(engine, sql_user):
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("INSERT INTO users (id) VALUES (:id)"), {"id": sql_user})
    schema = inspect(engine)
    assert schema.get_pk_constraint("tasks")["constrained_columns"] == ["id"]
    assert schema.get_pk_constraint("users")["constrained_columns"] == ["id"]
    foreign_key = schema.get_foreign_keys("tasks")[0]
    assert (foreign_key["constrained_columns"], foreign_key["referred_table"]) == (["user_id"], "users")


@pytest.mark.req("DB-INDEXES")
def test_the_list_indexes_exist(engine):
    found = {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("tasks")}
    assert found == INDEXES


@pytest.fixture(scope="module")
def busy_user(engine: Engine, user_factory) -> ApiUser:
    """A user with thousands of tasks, so the planner has a real choice to make."""
    user = user_factory("busy")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO users (id) VALUES (:id)"), {"id": user.id})
        connection.execute(
            text(
                "INSERT INTO tasks (user_id, title, created_at, updated_at) "
                "SELECT :id, 'task ' || n, now() - n * interval '1 second', now() - (n % 97) * interval '1 minute' "
                "FROM generate_series(1, 3000) AS n"
            ),
            {"id": user.id},
        )
        connection.execute(text("ANALYZE tasks"))
    return user


def _captured_list_query(client, user: ApiUser, params: dict[str, Any]) -> tuple[str, Any]:
    """The SQL statement (and parameters) the app runs to serve one list page."""
    statements: list[tuple[str, Any]] = []
    run_for_real = repository._rows

    async def capture(pool: Any, sql: str, parameters: dict[str, Any]) -> Any:
        statements.append((sql, parameters))
        return await run_for_real(pool, sql, parameters)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(repository, "_rows", capture)
        response = client.get(user.tasks_url(), params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    assert len(statements) == 1
    return statements[0]


def _index_names(plan: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Index Name" in plan:
            found.add(plan["Index Name"])
        for value in plan.values():
            found |= _index_names(value)
    elif isinstance(plan, list):
        for item in plan:
            found |= _index_names(item)
    return found


def _plan(engine: Engine, statement: str, parameters: Any) -> Any:
    with engine.connect() as connection, connection.begin():
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        raw = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar_one()
    return raw if not isinstance(raw, str) else json.loads(raw)


@pytest.mark.req("DB-INDEXES")
@pytest.mark.parametrize("sort", ["created_at", "-created_at", "updated_at", "-updated_at", "title", "-title"])
@pytest.mark.parametrize("page", ["first", "next"])
def test_the_list_query_is_served_by_the_index_for_its_sort_order(client, engine, busy_user, sort, page):
    params: dict[str, Any] = {"sort": sort, "limit": 50}
    if page == "next":
        first = client.get(busy_user.tasks_url(), params=params, headers=busy_user.headers)
        params["cursor"] = first.links["next"]["url"].split("cursor=")[1]
    statement, parameters = _captured_list_query(client, busy_user, params)

    plan = _plan(engine, statement, parameters)

    assert _index_names(plan) == {INDEX_FOR_SORT[sort.lstrip("-")]}
    assert "Sort" not in json.dumps(plan), "the index order should serve ORDER BY without a sort step"
