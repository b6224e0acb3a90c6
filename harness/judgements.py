"""How each kind of probe is judged, in one place and always in the same order: what leaked and what changed first
(security), then the status class (seed). The caller records this backend's exact answer (reference) afterwards.
Every check is recorded, so a contract deviation never hides a security violation.

- `refused_token`: a token that must not be accepted. Security: nothing changed, not a 2xx (the attack's own
  requirement), no 5xx (AUTH-ANY-FAILURE-401); seed: 401 or 403.
- `foreign_reach`: another user's path or task id. Security: nothing read, changed or served (ISO-MATRIX), no 5xx;
  seed: 403 or 404.
- `hostile_input`: input the API need not accept. Security: no 5xx, a 4xx changed nothing, later reads still work;
  seed: a 4xx where one is the only sane answer.

`seed=ANY_4XX` asks the seed layer for any 4xx (combinations whose order of checks is a contract choice), and
`seed=None` for nothing (a refusal that is itself only this backend's choice).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from harness import checks
from harness.users import ApiUser, Listing, snapshot_tasks
from harness.verdicts import PASS, Judge, Verdict, could_not_run, fail

ANY_4XX = tuple(range(400, 500))
# What a refused-token probe is judged against, besides the attack's own requirement.
REFUSAL_REQS = ("ERR-NO-LEAK", "ERR-NO-POISON", "AUTH-ANY-FAILURE-401", "ERR-STATUS-CLASSES")
FOREIGN_REQS = ("ERR-NO-LEAK", "ERR-NO-POISON", "ISO-MATRIX", "ERR-NO-5XX", "ERR-STATUS-CLASSES")
HOSTILE_REQS = ("ERR-NO-LEAK", "ERR-NO-POISON", "ERR-REFUSAL-NO-EFFECT", "ERR-NO-5XX", "ERR-STATUS-CLASSES")


def _diff(user: ApiUser, before: Listing, after: Listing) -> str:
    old, new = before.by_id, after.by_id
    changes = [f"task {i} appeared" for i in new.keys() - old.keys()]
    changes += [f"task {i} disappeared" for i in old.keys() - new.keys()]
    for task_id in old.keys() & new.keys():
        fields = sorted(
            k for k in old[task_id].keys() | new[task_id].keys() if old[task_id].get(k) != new[task_id].get(k)
        )
        if fields:
            changes.append(f"task {task_id} changed {', '.join(fields)}")
    return f"{user.id}'s tasks: {'; '.join(changes[:5])}"


@dataclass
class Watch:
    """Users whose tasks must not change, with their tasks as they were before the probe."""

    client: httpx.Client
    before: list[tuple[ApiUser, Listing]]

    @classmethod
    def of(cls, client: httpx.Client, *users: ApiUser) -> Watch:
        listings = []
        for user in users:
            listing = snapshot_tasks(client, user)
            if listing.tasks is None:
                assert listing.failed is not None
                could_not_run(f"could not list tasks before the probe: {checks.describe(listing.failed)}")
            listings.append((user, listing))
        return cls(client, listings)

    def after(self) -> tuple[Verdict, Verdict]:
        """(unchanged, still readable): whether every watched user's tasks are as before, and can still be listed."""
        changed, unreadable = [], []
        for user, before in self.before:
            now = snapshot_tasks(self.client, user)
            if now.tasks is None:
                assert now.failed is not None
                unreadable.append(f"afterwards {checks.describe(now.failed)}: {now.failed.text[:120]}")
            elif now.by_id != before.by_id:
                changed.append(_diff(user, before, now))
        return (
            fail("; ".join(changed)) if changed else PASS,
            fail("; ".join(unreadable)) if unreadable else PASS,
        )


def _state(judge: Judge, requirement: str, response: httpx.Response, watch: Watch, *, refused: bool) -> None:
    unchanged, readable = watch.after()
    judge.expect("ERR-NO-POISON", readable, response)
    if refused:
        judge.expect(requirement, unchanged, response)


def refused_token(
    judge: Judge,
    requirement: str,
    response: httpx.Response,
    watch: Watch,
    *,
    token: str | None,
    seed: tuple[int, ...] | None = (401, 403),
) -> None:
    judge.expect("ERR-NO-LEAK", checks.no_token_echo(response, token), response)
    _state(judge, requirement, response, watch, refused=True)
    judge.expect(requirement, checks.not_accepted(response, "a request with this token"), response)
    judge.expect("AUTH-ANY-FAILURE-401", checks.no_server_error(response), response)
    _seed_class(judge, response, seed)


def _seed_class(judge: Judge, response: httpx.Response, seed: tuple[int, ...] | None) -> None:
    if seed is not None:
        judge.expect("ERR-STATUS-CLASSES", checks.status_in(response, seed), response)


def foreign_reach(
    judge: Judge,
    response: httpx.Response,
    watch: Watch,
    *,
    private: Iterable[str | None],
    token: str | None,
    seed: tuple[int, ...] | None = (403, 404),
) -> None:
    """A request aimed at another user's data. `private` are that user's values that must not come back."""
    judge.expect("ERR-NO-LEAK", checks.no_token_echo(response, token), response)
    _state(judge, "ISO-MATRIX", response, watch, refused=True)
    judge.expect("ISO-MATRIX", checks.not_in_body(response, "another user's task", *private), response)
    judge.expect("ISO-MATRIX", checks.not_accepted(response, "a request for another user's data"), response)
    judge.expect("ERR-NO-5XX", checks.no_server_error(response), response)
    _seed_class(judge, response, seed)


def hostile_input(
    judge: Judge,
    response: httpx.Response,
    watch: Watch,
    *,
    token: str | None,
    must_refuse: bool,
) -> None:
    """Input the API need not accept: never a 5xx; if refused, nothing changed; afterwards reads still work."""
    judge.expect("ERR-NO-LEAK", checks.no_token_echo(response, token), response)
    unchanged, readable = watch.after()
    judge.expect("ERR-NO-POISON", readable, response)
    if 400 <= response.status_code < 500:
        judge.expect("ERR-REFUSAL-NO-EFFECT", unchanged, response)
    judge.expect("ERR-NO-5XX", checks.no_server_error(response), response)
    if must_refuse:
        judge.expect("ERR-STATUS-CLASSES", checks.client_error(response), response)


def refused_anonymous(judge: Judge, requirement: str, response: httpx.Response, watch: Watch) -> None:
    """A request without a usable token: nothing changed, not served, no 5xx; seed: 401 or 403."""
    _state(judge, requirement, response, watch, refused=True)
    judge.expect(requirement, checks.not_accepted(response, "a request without a valid token"), response)
    judge.expect("ERR-NO-5XX", checks.no_server_error(response), response)
    _seed_class(judge, response, (401, 403))


def served(judge: Judge, requirement: str, response: httpx.Response) -> bool:
    """Seed: the owner's valid request succeeds (any 2xx)."""
    return judge.expect(requirement, checks.success(response), response)


def unchanged_after(judge: Judge, requirement: str, response: httpx.Response, watch: Watch) -> None:
    """Whatever the answer, the watched users' tasks are as they were (and can still be read)."""
    unchanged, readable = watch.after()
    judge.expect("ERR-NO-POISON", readable, response)
    judge.expect(requirement, unchanged, response)
