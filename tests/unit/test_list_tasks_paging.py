"""repository.list_tasks on the real PostgreSQL: one extra row tells the caller a next page exists, and a cursor
starts the next page exactly after the row it names."""

from __future__ import annotations

import pytest

from backend.tasks import repository
from backend.tasks.pagination import Cursor, SortOrder, StatusFilter
from backend.tasks.schemas import TaskWrite
from harness.calls import Repository
from harness.users import new_user_id


def titles(repo: Repository, user: str, limit: int, after: Cursor | None = None) -> list[str]:
    rows = repo(
        repository.list_tasks, user, status=StatusFilter.ALL, sort=SortOrder.TITLE_ASC, limit=limit, after=after
    )
    return [row["title"] for row in rows]


@pytest.fixture
def user(repo: Repository) -> str:
    user = new_user_id("paging")
    for title in ("a", "a", "b", "c"):  # a tie on the sort key: the cursor's id breaks it
        repo(repository.create_task, user, TaskWrite(title=title))
    return user


@pytest.mark.req("API-PAGINATION")
def test_a_page_fetches_exactly_one_row_more_than_its_limit(repo: Repository, user: str) -> None:
    assert titles(repo, user, limit=2) == ["a", "a", "b"]


@pytest.mark.req("API-PAGINATION")
def test_the_next_page_starts_after_the_cursors_row(repo: Repository, user: str) -> None:
    [first, second, *_] = repo(
        repository.list_tasks, user, status=StatusFilter.ALL, sort=SortOrder.TITLE_ASC, limit=1, after=None
    )
    assert (first["title"], second["title"]) == ("a", "a")
    after = Cursor(SortOrder.TITLE_ASC, first["title"], first["id"])
    assert titles(repo, user, limit=1, after=after) == ["a", "b"]
