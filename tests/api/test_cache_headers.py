"""How responses may be cached (RFC 9111; specs/caching.md): a user's own data `private, no-cache` with
`Vary: Authorization`, so only that user's client keeps it and revalidates it with the ETag; errors and refusals
`no-store`; and `X-Content-Type-Options: nosniff` and a ban on framing on every response."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harness.users import ApiUser, create_task

PRIVATE = "private, no-cache"
Call = Callable[[httpx.Client, ApiUser, int], httpx.Response]

SERVED: dict[str, Call] = {
    "list": lambda c, u, t: c.get(u.tasks_url(), headers=u.headers),
    "create": lambda c, u, t: c.post(u.tasks_url(), json={"title": "x"}, headers=u.headers),
    "read": lambda c, u, t: c.get(u.tasks_url(t), headers=u.headers),
    "replace": lambda c, u, t: c.put(u.tasks_url(t), json={"title": "y"}, headers=u.headers),
    "complete": lambda c, u, t: c.patch(u.tasks_url(t, "/complete"), headers=u.headers),
    "delete": lambda c, u, t: c.delete(u.tasks_url(t), headers=u.headers),
}
REFUSED: dict[str, Call] = {
    "401 no token": lambda c, u, t: c.get(u.tasks_url(t)),
    "403 another user's path": lambda c, u, t: c.get(f"/api/someone-else/tasks/{t}", headers=u.headers),
    "404 no such task": lambda c, u, t: c.get(u.tasks_url(2**40), headers=u.headers),
    "404 no route": lambda c, u, t: c.get("/api/nowhere", headers=u.headers),
    "405 wrong method": lambda c, u, t: c.post(u.tasks_url(t), headers=u.headers),
    "412 stale tag": lambda c, u, t: c.put(
        u.tasks_url(t), json={"title": "z"}, headers={**u.headers, "If-Match": '"0"'}
    ),
    "413 too large": lambda c, u, t: c.post(u.tasks_url(), content=b"{" + b" " * 70_000 + b"}", headers=u.headers),
    "415 not json": lambda c, u, t: c.post(u.tasks_url(), content=b"title=x", headers=u.headers),
    "422 invalid": lambda c, u, t: c.post(u.tasks_url(), json={"title": ""}, headers=u.headers),
}
PUBLIC = ["/healthz", "/readyz", "/openapi.json", "/docs"]


def _vary(response: httpx.Response) -> set[str]:
    return {part.strip().lower() for part in response.headers.get("vary", "").split(",") if part.strip()}


@pytest.mark.req("API-CACHE-HEADERS")
@pytest.mark.parametrize("call", SERVED.values(), ids=SERVED.keys())
def test_a_users_own_data_is_private_revalidated_and_varies_by_authorization(client, alice, call):
    task = create_task(client, alice)
    response = call(client, alice, task["id"])
    assert response.is_success, response.text
    assert response.headers["cache-control"] == PRIVATE
    assert "authorization" in _vary(response)
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.req("API-CACHE-HEADERS")
@pytest.mark.parametrize("of", ["task", "page"])
def test_a_304_keeps_the_private_policy(client, alice, of):
    created = client.post(alice.tasks_url(), json={"title": "x"}, headers=alice.headers)
    answer = created if of == "task" else client.get(alice.tasks_url(), headers=alice.headers)
    url = created.headers["location"] if of == "task" else alice.tasks_url()
    response = client.get(url, headers={**alice.headers, "If-None-Match": answer.headers["etag"]})
    assert response.status_code == 304
    assert response.headers["cache-control"] == PRIVATE
    assert "authorization" in _vary(response)


@pytest.mark.req("API-CACHE-HEADERS")
@pytest.mark.parametrize("call", REFUSED.values(), ids=REFUSED.keys())
def test_errors_and_refusals_are_never_stored(client, alice, call):
    task = create_task(client, alice)
    response = call(client, alice, task["id"])
    assert response.status_code >= 400
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.req("API-CACHE-HEADERS")
@pytest.mark.parametrize("path", PUBLIC)
def test_public_routes_are_not_stored_and_not_sniffed(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.req("API-NO-FRAMING")
@pytest.mark.parametrize(
    "call",
    [*SERVED.values(), *REFUSED.values(), *(lambda c, u, t, path=path: c.get(path) for path in PUBLIC)],
    ids=[*SERVED.keys(), *REFUSED.keys(), *PUBLIC],
)
def test_no_response_may_be_framed(client, alice, call):
    task = create_task(client, alice)
    response = call(client, alice, task["id"])
    assert response.headers.get_list("content-security-policy") == ["frame-ancestors 'none'"]
    assert response.headers.get_list("x-frame-options") == ["DENY"]
