"""List filters, sort orders, limits and keyset pagination, also while tasks are added and deleted."""

from __future__ import annotations

import random
import string
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from harness.checks import describe
from harness.cleanup import clean_user
from harness.users import ApiUser, create_task
from harness.verdicts import could_not_run

SORTS = ["created_at", "-created_at", "updated_at", "-updated_at", "title", "-title"]


@dataclass
class Page:
    tasks: list[dict[str, Any]]
    next_url: str | None

    @property
    def ids(self) -> list[int]:
        return [task["id"] for task in self.tasks]


def walk(
    client: httpx.Client, user: ApiUser, between: Callable[[Page], None] | None = None, **params: Any
) -> list[Page]:
    """Every page of the list, following Link rel="next"; `between` runs after each page but the last."""
    pages: list[Page] = []
    response = client.get(user.tasks_url(), params=params, headers=user.headers)
    while True:
        assert response.status_code == 200, response.text
        page = Page(response.json(), response.links.get("next", {}).get("url"))
        pages.append(page)
        assert len(pages) < 200, "pagination does not end"
        if page.next_url is None:
            return pages
        if between is not None:
            between(page)
        response = client.get(page.next_url, headers=user.headers)


def flat_ids(pages: list[Page]) -> list[int]:
    return [task_id for page in pages for task_id in page.ids]


def word(rng: random.Random) -> str:
    # Lowercase ASCII only: byte order and any locale's collation agree, so Python's sort is a valid oracle.
    return "".join(rng.choices(string.ascii_lowercase, k=10))


@dataclass
class OrderedUser:
    """A user whose tasks were created, then edited, in known and different orders."""

    user: ApiUser
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    by_title: list[int] = field(default_factory=list)

    def expected(self, sort: str) -> list[int]:
        ascending = {"created_at": self.created, "updated_at": self.updated, "title": self.by_title}[sort.lstrip("-")]
        return list(reversed(ascending)) if sort.startswith("-") else list(ascending)


@pytest.fixture(scope="module")
def ordered(client, user_factory, target_url, created_tasks) -> Iterator[OrderedUser]:
    rng = random.Random(2)
    user = user_factory("sorted")
    tasks = [create_task(client, user, word(rng)) for _ in range(7)]
    result = OrderedUser(user, created=[t["id"] for t in tasks])
    result.by_title = [t["id"] for t in sorted(tasks, key=lambda t: t["title"])]
    edit_order = rng.sample(tasks, k=len(tasks))
    for task in edit_order:
        response = client.put(user.tasks_url(task["id"]), json={"title": task["title"]}, headers=user.headers)
        if not response.is_success:
            could_not_run(f"could not edit a task to order it: {describe(response)}")
    result.updated = [t["id"] for t in edit_order]
    assert result.updated != result.created
    assert result.by_title != result.created
    yield result
    if target_url:
        clean_user(client, user, created_tasks)


@pytest.mark.req("API-LIST-SORT", "API-PAGINATION")
@pytest.mark.parametrize("sort", SORTS)
def test_each_sort_order_holds_across_pages(client, ordered, sort):
    pages = walk(client, ordered.user, sort=sort, limit=3)
    assert flat_ids(pages) == ordered.expected(sort)


@pytest.mark.req("API-LIST-SORT")
def test_the_default_order_is_newest_first(client, ordered):
    response = client.get(ordered.user.tasks_url(), headers=ordered.user.headers)
    assert [task["id"] for task in response.json()] == ordered.expected("-created_at")


@pytest.mark.req("API-PAGINATION")
@pytest.mark.parametrize(("limit", "sizes"), [(3, [3, 3, 1]), (1, [1] * 7), (6, [6, 1]), (7, [7]), (200, [7])])
def test_link_next_is_announced_on_every_page_but_the_last(client, ordered, limit, sizes):
    pages = walk(client, ordered.user, sort="title", limit=limit)
    assert [len(page.tasks) for page in pages] == sizes
    assert [page.next_url is not None for page in pages] == [True] * (len(sizes) - 1) + [False]


@pytest.mark.req("API-PAGINATION")
def test_the_next_link_keeps_the_query_and_adds_a_cursor(client, ordered):
    response = client.get(
        ordered.user.tasks_url(),
        params={"sort": "-title", "limit": 2, "status": "pending"},
        headers=ordered.user.headers,
    )
    assert response.headers["link"].endswith('>; rel="next"')
    params = httpx.URL(response.links["next"]["url"]).params
    assert (params["sort"], params["limit"], params["status"]) == ("-title", "2", "pending")
    assert params["cursor"]


@pytest.mark.req("API-LIST-FILTER", "API-PAGINATION")
def test_the_status_filter_selects_pending_or_completed_tasks_across_pages(client, alice):
    tasks = [create_task(client, alice, f"task {n}") for n in range(5)]
    done = {tasks[1]["id"], tasks[3]["id"]}
    for task_id in done:
        assert client.patch(alice.tasks_url(task_id, "/complete"), headers=alice.headers).status_code == 200

    def seen(status: str) -> list[int]:
        return flat_ids(walk(client, alice, status=status, limit=1))

    assert sorted(seen("completed")) == sorted(done)
    assert sorted(seen("pending")) == sorted({t["id"] for t in tasks} - done)
    assert sorted(seen("all")) == sorted(t["id"] for t in tasks)


@pytest.mark.req("API-LIST-LIMIT")
def test_the_page_size_defaults_to_50(client, alice):
    for n in range(51):
        create_task(client, alice, f"task {n}")
    pages = walk(client, alice)
    assert [len(page.tasks) for page in pages] == [50, 1]


@pytest.mark.req("API-LIST-LIMIT")
@pytest.mark.parametrize("limit", [1, 200])
def test_limits_from_1_to_200_are_accepted(client, alice, limit):
    create_task(client, alice)
    response = client.get(alice.tasks_url(), params={"limit": limit}, headers=alice.headers)
    assert response.status_code == 200
    assert len(response.json()) == 1


class Churn:
    """Between two page requests: add tasks, delete one task not yet seen and one already seen."""

    def __init__(self, client: httpx.Client, user: ApiUser, initial: set[int], seed: int) -> None:
        self.client, self.user = client, user
        self.rng = random.Random(seed)
        self.unseen = set(initial)
        self.deleted_unseen: set[int] = set()
        self.deleted_seen: set[int] = set()

    def _delete(self, task_id: int, into: set[int]) -> None:
        assert self.client.delete(self.user.tasks_url(task_id), headers=self.user.headers).status_code == 204
        into.add(task_id)

    def __call__(self, page: Page) -> None:
        self.unseen -= set(page.ids)
        for _ in range(2):
            create_task(self.client, self.user, word(self.rng))
        if self.unseen:
            victim = self.rng.choice(sorted(self.unseen))
            self.unseen.discard(victim)
            self._delete(victim, self.deleted_unseen)
        seen_alive = sorted(set(page.ids) - self.deleted_seen)
        if seen_alive:
            self._delete(self.rng.choice(seen_alive), self.deleted_seen)


def assert_stable(pages: list[Page], initial: set[int], deleted_unseen: set[int]) -> None:
    """No task served twice; every initial task not deleted before its page was served exactly once."""
    counts = Counter(flat_ids(pages))
    assert [task_id for task_id, n in counts.items() if n > 1] == [], "a task was served twice"
    assert (initial - deleted_unseen) - counts.keys() == set(), "a task that existed all along was skipped"
    assert deleted_unseen & counts.keys() == set(), "a task deleted before its page was served"


@pytest.mark.req("API-PAGINATION-STABLE")
@pytest.mark.parametrize("sort", SORTS)
def test_pages_have_no_duplicates_or_skips_while_tasks_are_added_and_deleted(client, alice, sort):
    rng = random.Random(sort)
    initial = {create_task(client, alice, word(rng))["id"] for _ in range(14)}
    churn = Churn(client, alice, initial, seed=len(sort))

    pages = walk(client, alice, between=churn, sort=sort, limit=3)

    assert churn.deleted_unseen, "the churn should have deleted tasks not yet served"
    assert churn.deleted_seen, "the churn should have deleted tasks already served"
    assert_stable(pages, initial, churn.deleted_unseen)


@pytest.mark.req("API-PAGINATION-STABLE")
@pytest.mark.parametrize("sort", ["-created_at", "title"])
def test_pages_stay_correct_while_another_client_inserts_concurrently(live_url, make_user, sort):
    user = make_user("paged")
    rng = random.Random(sort)
    stop = threading.Event()
    inserted: list[int] = []
    with httpx.Client(base_url=live_url, timeout=10) as reader, httpx.Client(base_url=live_url, timeout=10) as writer:
        initial = {create_task(reader, user, word(rng))["id"] for _ in range(30)}

        def insert_until_stopped() -> None:
            writer_rng = random.Random(7)
            deadline = time.monotonic() + 10
            while not stop.is_set() and len(inserted) < 200 and time.monotonic() < deadline:
                inserted.append(create_task(writer, user, word(writer_rng))["id"])

        thread = threading.Thread(target=insert_until_stopped)
        thread.start()
        try:
            while len(inserted) < 3:  # the reader starts while the writer is already busy
                time.sleep(0.005)
            pages = walk(reader, user, between=lambda _: time.sleep(0.005), sort=sort, limit=4)
        finally:
            stop.set()
            thread.join()

    assert len(pages) >= 8
    assert len(inserted) > 3, "the writer should have been inserting during the walk"
    assert_stable(pages, initial, deleted_unseen=set())
