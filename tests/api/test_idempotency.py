"""Idempotency-Key on create (IETF httpapi idempotency-key draft): a retry replays the original 201 and writes
nothing; another body under the key is a 422 of its own type; a key held by a request in flight is a 409; keys are
1 to 255 printable ASCII characters; expired keys are purged in bounded batches. specs/caching.md."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from backend import cli
from backend.settings import Settings
from backend.tasks.repository import PURGE_BATCH
from harness.checks import assert_problem, error_fields, field_errors
from harness.users import ApiUser


def _post(client: httpx.Client, user: ApiUser, key: str | None, **body: Any) -> httpx.Response:
    headers = {**user.headers, **({"Idempotency-Key": key} if key is not None else {})}
    return client.post(user.tasks_url(), json={"title": "keyed", **body}, headers=headers)


def _rows(engine: Engine, user: ApiUser) -> int:
    with engine.connect() as connection:
        query = text("SELECT count(*) FROM tasks WHERE user_id = :owner")
        return int(connection.execute(query, {"owner": user.id}).scalar_one())


def _keys(engine: Engine, user: ApiUser) -> set[str]:
    with engine.connect() as connection:
        query = text("SELECT key FROM idempotency_keys WHERE user_id = :owner")
        return set(connection.execute(query, {"owner": user.id}).scalars())


def _age_keys(engine: Engine, user: ApiUser, hours: int) -> None:
    with engine.begin() as connection:
        query = text(
            "UPDATE idempotency_keys SET created_at = now() - make_interval(hours => :hours) WHERE user_id = :o"
        )
        connection.execute(query, {"hours": hours, "o": user.id})


def _answer(response: httpx.Response) -> tuple[int, str, str, Any]:
    return response.status_code, response.headers["location"], response.headers["etag"], response.json()


@pytest.mark.req("API-IDEMPOTENT-CREATE")
def test_a_retried_create_gets_the_original_201_and_writes_no_second_row(client, alice, engine):
    first = _post(client, alice, "retry-1", description="2 litres")

    retried = [_post(client, alice, "retry-1", description="2 litres") for _ in range(3)]

    assert first.status_code == 201
    assert [_answer(response) for response in retried] == [_answer(first)] * 3
    assert _rows(engine, alice) == 1


@pytest.mark.req("API-IDEMPOTENT-CREATE")
def test_the_replay_is_the_original_answer_even_after_the_task_changed(client, alice):
    first = _post(client, alice, "then-edited")
    client.put(first.headers["location"], json={"title": "edited"}, headers=alice.headers)

    retried = _post(client, alice, "then-edited")

    assert _answer(retried) == _answer(first)


@pytest.mark.req("API-IDEMPOTENT-CREATE")
def test_the_same_body_spelled_differently_is_the_same_request(client, alice, engine):
    # "The same request" is the same validated body: trimmed titles and key order do not make a new one.
    first = client.post(
        alice.tasks_url(),
        json={"title": "milk", "description": None},
        headers={**alice.headers, "Idempotency-Key": "k"},
    )
    again = client.post(
        alice.tasks_url(),
        json={"description": None, "title": "  milk "},
        headers={**alice.headers, "Idempotency-Key": "k"},
    )
    assert _answer(again) == _answer(first)
    assert _rows(engine, alice) == 1


@pytest.mark.req("API-IDEMPOTENT-CREATE")
def test_distinct_keys_and_no_key_each_create_a_task(client, alice, engine):
    answers = [_post(client, alice, key) for key in ("a", "b", None, None)]
    assert [response.status_code for response in answers] == [201] * 4
    assert len({response.json()["id"] for response in answers}) == 4
    assert _rows(engine, alice) == 4
    assert _keys(engine, alice) == {"a", "b"}


@pytest.mark.req("API-IDEMPOTENCY-MISMATCH")
def test_the_same_key_with_another_body_is_a_422_of_its_own_type_and_writes_nothing(client, alice, engine):
    _post(client, alice, "reused", description="first")

    response = _post(client, alice, "reused", description="second")

    assert_problem(response, 422, "idempotency-key-reused")
    assert field_errors(response) == {"header.Idempotency-Key"}
    assert _rows(engine, alice) == 1


@pytest.mark.req("API-IDEMPOTENCY-KEY-FORMAT")
@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "caf\u00e9", "tab\there", "bell\x07"],
    ids=["empty", "256-chars", "non-ascii", "tab", "control"],
)
def test_a_key_that_is_not_1_to_255_printable_ascii_characters_is_a_422_and_writes_nothing(client, alice, engine, key):
    response = client.post(
        alice.tasks_url(),
        json={"title": "keyed"},
        headers=httpx.Headers([*alice.headers.items(), ("Idempotency-Key", key.encode("latin-1", "replace"))]),
    )
    assert_problem(response, 422, "validation-error")
    assert error_fields(response) == {"header.Idempotency-Key"}
    assert _rows(engine, alice) == 0


@pytest.mark.req("API-IDEMPOTENCY-KEY-FORMAT")
@pytest.mark.parametrize("key", ["x", "x" * 255, "~!#$%&'*+-.^_`|" + '"(),/:;<=>?@[\\]{} 09AZaz'])
def test_any_1_to_255_printable_ascii_characters_are_a_key(client, alice, key):
    assert _post(client, alice, key).status_code == 201
    assert _post(client, alice, key).status_code == 201


@pytest.mark.req("API-IDEMPOTENCY-RETENTION")
def test_a_key_older_than_the_retention_window_creates_a_new_task(client, alice, engine):
    first = _post(client, alice, "old")
    _age_keys(engine, alice, hours=25)

    again = _post(client, alice, "old")

    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
    assert _rows(engine, alice) == 2
    assert _post(client, alice, "old").json()["id"] == again.json()["id"], "the reclaimed key replays the new task"


@pytest.mark.req("API-IDEMPOTENCY-RETENTION")
def test_an_expired_key_reused_with_another_body_creates_that_task(client, alice, engine):
    _post(client, alice, "old", description="first")
    _age_keys(engine, alice, hours=25)

    again = _post(client, alice, "old", description="second")

    assert again.status_code == 201
    assert again.json()["description"] == "second"
    assert _rows(engine, alice) == 2


@pytest.mark.req("API-IDEMPOTENCY-RETENTION")
def test_each_keyed_create_purges_a_bounded_batch_of_the_users_expired_keys(client, alice, bob, engine):
    expired = [f"expired-{n}" for n in range(PURGE_BATCH + 5)]
    for key in expired:
        _post(client, alice, key)
    _post(client, bob, "bobs-expired")
    _age_keys(engine, alice, hours=25)
    _age_keys(engine, bob, hours=25)

    _post(client, alice, "fresh")

    left = _keys(engine, alice)
    assert "fresh" in left
    assert len(left & set(expired)) == 5, "one keyed create purges exactly PURGE_BATCH expired keys"
    assert _keys(engine, bob) == {"bobs-expired"}, "a user's create purges only that user's keys"


@pytest.mark.req("API-IDEMPOTENCY-IN-FLIGHT")
def test_a_key_held_by_a_request_in_flight_gets_409_with_retry_after(client, alice, engine):
    # A transaction holding the key row uncommitted is a create in flight: the POST waits on the row lock, and when
    # the holder commits its statement's snapshot cannot see the row, so it answers 409 rather than guess.
    _post(client, alice, "warm-up")  # the user row exists, so the holder's insert needs nothing else
    key = f"in-flight-{uuid.uuid4().hex[:8]}"
    answers: list[httpx.Response] = []
    with engine.connect() as holder:
        holder.execute(
            text(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, task_id, title, description) "
                "VALUES (:owner, :key, 'other', nextval(pg_get_serial_sequence('tasks', 'id')), 'held', NULL)"
            ),
            {"owner": alice.id, "key": key},
        )
        waiting = threading.Thread(target=lambda: answers.append(_post(client, alice, key)))
        waiting.start()
        _wait_until_blocked(engine)
        holder.commit()
        waiting.join(timeout=20)

    assert answers, "the POST never answered"
    assert_problem(answers[0], 409, "idempotency-key-in-flight")
    assert answers[0].headers["retry-after"] == "1"
    assert _rows(engine, alice) == 1  # the warm-up task only


def _wait_until_blocked(engine: Engine) -> None:
    """Until a session of this database waits on a lock (the POST, on the held key row); bounded."""
    deadline = time.monotonic() + 10
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with engine.connect() as probe:
        while time.monotonic() < deadline:
            if probe.execute(query).scalar_one():
                return
            time.sleep(0.02)
    raise AssertionError("the POST never waited on the held key")


@pytest.mark.req("API-IDEMPOTENCY-RETENTION", "OPS-CLI")
def test_todo_api_purge_deletes_every_expired_key_and_keeps_the_rest(client, alice, bob, engine, monkeypatch, capsys):
    for user in (alice, bob):
        for n in range(3):
            _post(client, user, f"old-{n}")
        _age_keys(engine, user, hours=25)
        _post(client, user, "fresh")
    for field in Settings.model_fields.values():
        if field.validation_alias:
            monkeypatch.delenv(str(field.validation_alias), raising=False)
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))

    code = cli.main(["purge"])

    assert code == 0
    assert "expired idempotency key(s)" in capsys.readouterr().out
    assert _keys(engine, alice) == {"fresh"}
    assert _keys(engine, bob) == {"fresh"}
