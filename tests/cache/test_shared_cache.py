"""API-SHARED-CACHE: behind a real shared cache whose key is the URL alone (nginx, harness/shared_cache.py), one
user's list or task is never served to another, and If-None-Match revalidates through it with a 304.

The user id is in the path, so the dangerous request is bob's (or an anonymous one) on alice's URL: the cache key
is the same as alice's. The control runs the same steps against the app without its caching headers and shows the
cache then hands alice's data to bob, so these tests can fail. X-Cache-Status is nginx's $upstream_cache_status.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from harness.checks import describe
from harness.users import ApiUser, create_task

# A resource of alice's behind the cache: her list, or one of her tasks.
Resource = Callable[[ApiUser, int], str]
RESOURCES = {
    "list": lambda user, _task_id: user.tasks_url(),
    "task": lambda user, task_id: user.tasks_url(task_id),
}


def private_title() -> str:
    return f"alice's private task {uuid.uuid4().hex}"


def cache_status(response: httpx.Response) -> str:
    return response.headers.get("x-cache-status", "(no X-Cache-Status)")


def seen(response: httpx.Response) -> str:
    return f"{describe(response)} (cache: {cache_status(response)})"


def assert_shows(response: httpx.Response, title: str) -> None:
    assert response.status_code == 200, seen(response)
    assert title in response.text, f"{seen(response)} without the task {title!r}"


@pytest.fixture(params=sorted(RESOURCES))
def alices_url(request: pytest.FixtureRequest, client: httpx.Client, alice: ApiUser) -> tuple[str, str]:
    """The URL of alice's list or of one task, and the unique title it shows."""
    title = private_title()
    task = create_task(client, alice, title)
    return RESOURCES[request.param](alice, task["id"]), title


@pytest.mark.req("API-SHARED-CACHE")
def test_without_the_caching_headers_the_cache_serves_alices_answer_to_bob(
    control_cache: httpx.Client, alices_url: tuple[str, str], alice: ApiUser, bob: ApiUser
) -> None:
    """The control: stripped of Cache-Control and Vary, the app's answers are stored under the URL and replayed to
    anyone. This is the leak the other tests rule out, so the cache is real and dangerous."""
    url, title = alices_url
    first = control_cache.get(url, headers=alice.headers)
    again = control_cache.get(url, headers=alice.headers)
    bobs = control_cache.get(url, headers=bob.headers)
    assert_shows(first, title)
    assert cache_status(again) == "HIT", f"the cache did not store alice's answer: {seen(again)}"
    assert cache_status(bobs) == "HIT", f"expected the leak: {seen(bobs)}"
    assert_shows(bobs, title)


@pytest.mark.req("API-SHARED-CACHE")
def test_bob_on_alices_url_gets_his_403_from_the_origin_never_alices_cached_answer(
    shared_cache: httpx.Client, alices_url: tuple[str, str], alice: ApiUser, bob: ApiUser
) -> None:
    url, title = alices_url
    assert_shows(shared_cache.get(url, headers=alice.headers), title)
    bobs = shared_cache.get(url, headers=bob.headers)
    assert bobs.status_code == 403, seen(bobs)
    assert title not in bobs.text, f"alice's task leaked to bob through the cache: {seen(bobs)}"


@pytest.mark.req("API-SHARED-CACHE")
def test_the_cache_stores_none_of_alices_answers(
    shared_cache: httpx.Client, alices_url: tuple[str, str], alice: ApiUser
) -> None:
    """Her repeat GET goes to the origin too: nothing of hers was stored for anyone to be served."""
    url, title = alices_url
    first = shared_cache.get(url, headers=alice.headers)
    again = shared_cache.get(url, headers=alice.headers)
    assert_shows(first, title)
    assert_shows(again, title)
    assert cache_status(again) == "MISS", f"the shared cache stored alice's answer: {seen(again)}"


@pytest.mark.req("API-SHARED-CACHE")
def test_an_anonymous_request_for_alices_url_gets_401_never_her_cached_answer(
    shared_cache: httpx.Client, alices_url: tuple[str, str], alice: ApiUser
) -> None:
    url, title = alices_url
    assert_shows(shared_cache.get(url, headers=alice.headers), title)
    anonymous = shared_cache.get(url)
    assert anonymous.status_code == 401, seen(anonymous)
    assert title not in anonymous.text, f"alice's task leaked to an anonymous client: {seen(anonymous)}"


@pytest.mark.req("API-SHARED-CACHE")
def test_if_none_match_with_the_current_etag_answers_304_through_the_cache(
    shared_cache: httpx.Client, client: httpx.Client, alice: ApiUser
) -> None:
    url = alice.tasks_url(create_task(client, alice, private_title())["id"])
    read = shared_cache.get(url, headers=alice.headers)
    tag = read.headers.get("etag")
    assert read.status_code == 200, seen(read)
    assert tag, "the task came without an ETag"
    revalidated = shared_cache.get(url, headers={**alice.headers, "If-None-Match": tag})
    assert revalidated.status_code == 304, seen(revalidated)
    assert revalidated.headers.get("etag") == tag, f"304 with ETag {revalidated.headers.get('etag')!r}, not {tag}"
    assert revalidated.content == b"", f"a 304 has no body; got {revalidated.content[:100]!r}"


@pytest.mark.req("API-SHARED-CACHE")
def test_after_a_change_the_old_etag_gets_200_with_the_new_task_never_the_stale_one(
    shared_cache: httpx.Client, client: httpx.Client, alice: ApiUser
) -> None:
    old_title, new_title = private_title(), private_title()
    url = alice.tasks_url(create_task(client, alice, old_title)["id"])
    read = shared_cache.get(url, headers=alice.headers)
    old_tag = read.headers.get("etag")
    assert read.status_code == 200, seen(read)
    assert old_tag, "the task came without an ETag"
    conditional = {**alice.headers, "If-None-Match": old_tag}
    assert shared_cache.get(url, headers=conditional).status_code == 304  # a 304 the cache could keep, if it kept any
    changed = shared_cache.put(url, json={"title": new_title}, headers=alice.headers)
    assert changed.status_code == 200, seen(changed)
    after = shared_cache.get(url, headers=conditional)
    assert after.status_code == 200, f"the old ETag {old_tag} still matched after the change: {seen(after)}"
    assert after.headers.get("etag") not in (None, old_tag), f"ETag {after.headers.get('etag')!r} after the change"
    assert after.headers.get("etag") == changed.headers.get("etag"), "the GET's ETag differs from the PUT's"
    assert after.json()["title"] == new_title, f"stale task: {after.text[:200]}"
