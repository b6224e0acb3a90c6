"""The per-response checks every virtual user applies (loadtests/checks.py): shape, and only its own tasks."""

from __future__ import annotations

from typing import Any

import pytest

from loadtests.checks import ContractError, OwnTasks, check_page, check_task, next_page_path, shape_problem

OWN_PATH = "/api/load-me/tasks"


def task(task_id: int, title: str, **fields: Any) -> dict[str, Any]:
    base = {
        "id": task_id,
        "title": title,
        "description": None,
        "completed": False,
        "created_at": "2026-01-05T09:30:00Z",
        "updated_at": "2026-01-05T09:30:00Z",
        "completed_at": None,
    }
    return {**base, **fields}


@pytest.fixture
def own() -> OwnTasks:
    tasks = OwnTasks(marker="load-me")
    tasks.remember(task(1, tasks.title(1)))
    tasks.remember(task(2, tasks.title(2)))
    return tasks


@pytest.mark.req("LOAD-ISOLATION")
def test_a_page_of_own_tasks_passes(own: OwnTasks):
    assert [t["id"] for t in check_page(own, [task(2, own.title(2)), task(1, own.title(1))], limit=20)] == [2, 1]


@pytest.mark.req("LOAD-ISOLATION")
def test_a_foreign_task_in_a_page_is_an_isolation_breach(own: OwnTasks):
    with pytest.raises(ContractError, match=r"^ISOLATION BREACH"):
        check_page(own, [task(1, own.title(1)), task(99, "load-someone-else task 1")], limit=20)


@pytest.mark.req("LOAD-ISOLATION")
def test_reading_one_task_that_answers_with_another_id_is_an_isolation_breach(own: OwnTasks):
    with pytest.raises(ContractError, match=r"^ISOLATION BREACH"):
        check_task(own, task(2, own.title(2)), expected_id=1)


@pytest.mark.req("LOAD-ISOLATION")
def test_an_own_task_whose_create_answer_was_lost_is_adopted_not_flagged(own: OwnTasks):
    lost = task(7, own.title(7))
    check_page(own, [lost], limit=20)
    assert own.titles[7] == own.title(7)


@pytest.mark.req("LOAD-ISOLATION")
def test_a_next_link_outside_the_users_own_tasks_is_an_isolation_breach():
    with pytest.raises(ContractError, match=r"^ISOLATION BREACH"):
        next_page_path('<http://host/api/load-victim/tasks?cursor=abc>; rel="next"', OWN_PATH)


@pytest.mark.req("API-PAGINATION")
def test_the_next_link_becomes_a_path_and_query_on_the_same_host():
    assert next_page_path(f'<http://h:1{OWN_PATH}?limit=20&cursor=abc>; rel="next"', OWN_PATH) == (
        f"{OWN_PATH}?limit=20&cursor=abc"
    )
    assert next_page_path(None, OWN_PATH) is None
    encoded = "/api/ops%40example.test/tasks"  # a tokens file's user id that needs percent-encoding
    assert next_page_path('<http://h/api/ops@example.test/tasks?cursor=c>; rel="next"', encoded) is not None


@pytest.mark.req("API-TASK-SHAPE")
@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (["not", "an", "object"], "not a JSON object"),
        ({**task(1, "x"), "user_id": "someone"}, "missing or extra fields"),
        (task(True, "x"), "not a positive integer"),
        (task(1, "x", completed=True), "completed_at disagrees"),
        (task(1, "x", description=5), "description has the wrong type"),
    ],
    ids=["array", "extra-field", "bool-id", "completed-without-time", "description-type"],
)
def test_a_malformed_task_is_named_by_what_is_wrong(bad: Any, problem: str):
    assert problem in (shape_problem(bad) or "")


@pytest.mark.req("LOAD-ISOLATION")
def test_a_page_longer_than_its_limit_is_refused(own: OwnTasks):
    with pytest.raises(ContractError, match="longer than the requested limit"):
        check_page(own, [task(1, own.title(1)), task(2, own.title(2))], limit=1)


@pytest.fixture
def sharing() -> tuple[OwnTasks, OwnTasks]:
    """Two virtual users on one account (a tokens file with fewer users than virtual users)."""
    first = OwnTasks(marker="acct-a vu-1111", account="acct-a")
    second = OwnTasks(marker="acct-a vu-2222", account="acct-a")
    first.remember(task(1, first.title(1)))
    second.remember(task(2, second.title(1)))
    return first, second


@pytest.mark.req("LOAD-ISOLATION")
def test_a_sibling_virtual_users_task_on_a_shared_account_is_no_breach_and_is_never_adopted(sharing):
    first, second = sharing
    page = check_page(first, [task(2, second.title(1)), task(1, first.title(1))], limit=20)
    assert [t["id"] for t in page] == [2, 1]
    assert set(first.titles) == {1}, "the sibling's task must not become this virtual user's to toggle or delete"


@pytest.mark.req("LOAD-ISOLATION")
def test_another_accounts_task_is_a_breach_even_when_accounts_are_shared(sharing):
    first, _ = sharing
    other = OwnTasks(marker="acct-b vu-3333", account="acct-b")
    with pytest.raises(ContractError, match=r"^ISOLATION BREACH"):
        check_page(first, [task(1, first.title(1)), task(9, other.title(1))], limit=20)
    with pytest.raises(ContractError, match=r"^ISOLATION BREACH"):
        check_page(first, [task(9, "acct-ab vu-4444 task 1")], limit=20)  # a prefix of the id is not the account
    with pytest.raises(ContractError, match=r"^ISOLATION BREACH"):
        check_task(first, task(2, "acct-a vu-2222 task 1"), expected_id=1)
