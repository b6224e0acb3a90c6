"""Virtual users of the todo API. Each has its own identity (user id, token, tasks), follows weighted journeys
(mostly listing and paging, then creating, toggling, editing, deleting, reading one) the way the frontend makes
them (every create carries an Idempotency-Key, one in ten is retried; every change sends If-Match with the ETag the
user holds; half the reads revalidate with If-None-Match: specs/caching.md) and checks every response:
status, shape, and that no task of another user ever appears (a failure named "ISOLATION BREACH ...", requirement
LOAD-ISOLATION; the run's verdict against specs/slo.yaml is LOAD-SLO).

The identity comes from the token source (loadtests/tokens.py): a minted `load-...` user, a throwaway Better Auth
account, or a user of a tokens file (possibly shared with other virtual users: each still judges and acts on its own
tasks only). A virtual user that cannot get its credentials records a failed request and stops; what the sources did
(sign-ups, /api/auth/token calls, tokens used) is `credentials` in summary.json.

Configured by environment (the runner, loadtests/run.py, sets it): LOADTEST_PROFILE, LOADTEST_USERS,
LOADTEST_DURATION, LOADTEST_THINK_TIME ("min,max" seconds), LOADTEST_SLO_BUDGET, LOADTEST_SLO_FILE,
LOADTEST_REPORT_DIR, LOADTEST_SEED_TASKS and the token source (loadtests/tokens.py).
"""

from __future__ import annotations

import json
import logging
import os
import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from locust import FastHttpUser, between, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtests import shapes
from loadtests.checks import ContractError, OwnTasks, check_page, check_task, next_page_path
from loadtests.slo import ISOLATION_BREACH, SLO_FILE, breaches, budget_name_for, load_slo
from loadtests.stats import isolation_breaches, run_stats
from loadtests.tokens import CredentialError, Identity, source_from_env

log = logging.getLogger("loadtests")
# Better Auth's calls (sign-ups, token renewals) are counted in summary.json, not logged one line each.
logging.getLogger("httpx").setLevel(logging.WARNING)

PROFILE = os.environ.get("LOADTEST_PROFILE", "smoke")
SLO_PATH = Path(os.environ.get("LOADTEST_SLO_FILE", str(SLO_FILE)))
BUDGET = os.environ.get("LOADTEST_SLO_BUDGET") or budget_name_for(PROFILE, SLO_PATH)
SEED_TASKS = int(os.environ.get("LOADTEST_SEED_TASKS", "25"))
PAGE_SIZE = 20
MAX_PAGES = 5
MAX_OWN_TASKS = 60  # deletes outpace creates above this, so a long soak does not grow without bound
MIN_OWN_TASKS = 5

# The one shape Locust finds in this module.
SelectedProfile = shapes.configure(
    PROFILE,
    users=int(os.environ["LOADTEST_USERS"]) if os.environ.get("LOADTEST_USERS") else None,
    duration=float(os.environ["LOADTEST_DURATION"]) if os.environ.get("LOADTEST_DURATION") else None,
    budget=BUDGET,
    slo_path=SLO_PATH,
)

# What the credential source did in this process (sign-ups, token fetches, tokens used); workers report theirs to the
# master, which adds them up for summary.json.
CREDENTIALS: Counter[str] = Counter()
_source = source_from_env(os.environ, CREDENTIALS)

LIST = "/api/[user]/tasks"
NEXT = "/api/[user]/tasks?cursor=[next]"
ONE = "/api/[user]/tasks/[id]"
COMPLETE = "/api/[user]/tasks/[id]/complete"
RETRY = "/api/[user]/tasks (retried key)"
REVALIDATE = "/api/[user]/tasks/[id] (If-None-Match)"
RETRY_EVERY = 10  # one keyed create in ten is sent twice
REVALIDATE_SHARE = 0.5  # of reads of a task whose ETag the user holds


Check = Callable[[Any, Mapping[str, str]], Any]


THINK_TIME = tuple(float(x) for x in os.environ.get("LOADTEST_THINK_TIME", "").split(",") if x.strip())


class TodoUser(FastHttpUser):
    wait_time = between(*(THINK_TIME if len(THINK_TIME) == 2 else SelectedProfile.think_time))
    network_timeout = 30.0
    connection_timeout = 10.0

    identity: Identity | None = None
    stopped = False  # after a fatal credential failure: no more requests, and Locust stops the user

    def on_start(self) -> None:
        try:
            self.identity = _source.identity()  # e.g. signs up a Better Auth account
        except CredentialError as exc:
            self.credential_failure(exc)
            return
        self.user_id = self.identity.user_id
        # The marker is the user id, or "<user id> vu-<tag>" when virtual users may share the account.
        self.own = OwnTasks(marker=self.identity.marker, account=self.user_id)
        self.base = f"/api/{quote(self.user_id, safe='')}/tasks"
        self.last_token: str | None = None
        self.created = 0
        self.etags: dict[int, str] = {}
        for _ in range(SEED_TASKS):
            self.create()
        self.tour()

    def on_stop(self) -> None:
        if self.identity is not None:
            self.identity.close()

    # --- plumbing ---

    def credential_failure(self, exc: CredentialError) -> None:
        """Report it as a failed request (so the run breaches its error budget); stop the user when it is fatal
        (gracefully: Locust ends it before its next task, without a traceback)."""
        self.environment.events.request.fire(
            request_type=exc.method,
            name=exc.name,
            response_time=exc.elapsed_ms,
            response_length=0,
            response=None,
            context={},
            exception=exc,
        )
        CREDENTIALS["credential_failures"] += 1
        if exc.fatal:
            log.error("virtual user stopped: %s", exc)
            self.stopped = True
            self.stop()
        else:
            log.warning("%s", exc)

    def headers(self, json_body: bool) -> dict[str, str]:
        assert self.identity is not None
        token = self.identity.token()  # renewed when about to expire, as a browser renews its Better Auth token
        if token != self.last_token:
            CREDENTIALS["tokens_used"] += 1
            self.last_token = token
        headers = {"Authorization": f"Bearer {token}"}
        if json_body:
            headers["Content-Type"] = "application/json"
        return headers

    def call(
        self,
        method: str,
        path: str,
        name: str,
        expect: int,
        check: Check,
        body: Any = None,
        extra: Mapping[str, str] | None = None,
    ) -> Any:
        """One request (with `extra` headers), checked inside the response context so a broken contract fails that
        very request. Returns whatever `check` returns, or None after recording a failure."""
        if self.stopped:
            return None
        payload = json.dumps(body) if body is not None else None
        try:
            headers = {**self.headers(payload is not None), **(extra or {})}
        except CredentialError as exc:
            self.credential_failure(exc)  # the request is not sent without a token
            return None
        with self.client.request(
            method, path, name=name, data=payload, headers=headers, catch_response=True
        ) as response:
            if response.status_code != expect:
                response.failure(f"status {response.status_code} (expected {expect})")
                return None
            try:
                return check(None if expect in (204, 304) else response.json(), response.headers)
            except ContractError as exc:
                if ISOLATION_BREACH in str(exc):
                    log.error("%s: %s %s as %s", exc, method, path, self.user_id)
                response.failure(str(exc))
            except ValueError:
                response.failure("the body is not JSON")
        return None

    def pick(self) -> int | None:
        return random.choice(list(self.own.titles)) if self.own.titles else None

    def if_match(self, task_id: int) -> dict[str, str]:
        """Every change is conditional: a 412 would mean this user's own view of its task went stale."""
        tag = self.etags.get(task_id)
        return {"If-Match": tag} if tag else {}

    def tagged(self, got: Any, headers: Mapping[str, str]) -> Any:
        """Remembers the task's ETag: this user's next change sends it as If-Match (specs/caching.md)."""
        tag = headers.get("etag")
        if not tag:
            _fail("a task answer without an ETag")
        self.etags[got["id"]] = tag
        return got

    def tour(self) -> None:
        """Every journey once, before the weighted mix: even a run of a few seconds then judges every endpoint the
        SLOs name (slo.yaml `endpoints`), instead of missing a rare journey by chance."""
        self.create(retry=True)
        self.list_first_page()
        self.page_through()
        self.read_one(revalidate=False)
        self.read_one(revalidate=True)
        self.toggle()
        self.edit()
        self.remove()

    # --- journeys ---

    def create(self, retry: bool = False) -> None:
        """A keyed create, as the frontend sends it; one in RETRY_EVERY (or this one, with `retry`) is sent again with
        the same key, as after a lost reply, and must replay the same task (the count of own tasks does not grow)."""
        self.created += 1
        title = self.own.title(self.created)
        key = {"Idempotency-Key": uuid.uuid4().hex}

        def check(body: Any, headers: Mapping[str, str]) -> Any:
            created = check_task(self.own, body)
            if created["title"] != title:
                _fail("the created task does not echo its title")
            if headers.get("location") != f"{self.base}/{created['id']}":
                _fail("the Location header does not name the new task")
            return self.tagged(created, headers)

        body = {"title": title, "description": "load"}
        created = self.call("POST", self.base, LIST, 201, check, body, key)
        if created is None:
            return
        self.own.remember(created)
        if retry or self.created % RETRY_EVERY == 0:

            def replayed(body: Any, headers: Mapping[str, str]) -> Any:
                if check(body, headers) != created or headers.get("etag") != self.etags[created["id"]]:
                    _fail("a retried Idempotency-Key did not replay the original 201")
                return body

            self.call("POST", self.base, RETRY, 201, replayed, body, key)

    @task(8)
    def list_first_page(self) -> None:
        sort = random.choice(["-created_at", "title", "-updated_at"])
        self.call("GET", f"{self.base}?limit={PAGE_SIZE}&sort={sort}", LIST, 200, self._page)

    def _page(self, body: Any, headers: Mapping[str, str]) -> tuple[list[dict[str, Any]], str | None]:
        return check_page(self.own, body, limit=PAGE_SIZE), next_page_path(headers.get("link"), self.base)

    @task(4)
    def page_through(self) -> None:
        path: str | None = f"{self.base}?limit={PAGE_SIZE}"
        name, seen = LIST, set[int]()
        for _ in range(MAX_PAGES):
            if path is None:
                return

            def check(body: Any, headers: Mapping[str, str]) -> str | None:
                page, following = self._page(body, headers)
                ids = {task["id"] for task in page}
                if ids & seen:
                    _fail("a task appeared on two pages")
                seen.update(ids)
                return following or ""

            following = self.call("GET", path, name, 200, check)
            path, name = following or None, NEXT

    @task(4)
    def read_one(self, revalidate: bool | None = None) -> None:
        """Reads a task; revalidates its kept copy instead (If-None-Match) in REVALIDATE_SHARE of the reads of a task
        whose ETag the user holds, or as `revalidate` says."""
        task_id = self.pick()
        if task_id is None:
            return
        expected_title = self.own.titles[task_id]

        def check(body: Any, headers: Mapping[str, str]) -> Any:
            got = check_task(self.own, body, expected_id=task_id)
            if got["title"] != expected_title:
                _fail("reading a task returned stale or foreign content")
            return self.tagged(got, headers)

        tag = self.etags.get(task_id)
        if revalidate is None:
            revalidate = random.random() < REVALIDATE_SHARE
        if tag is not None and revalidate:
            # A client revalidating its kept copy: only this user changes the task, so the tag is current.
            def unchanged(_: Any, headers: Mapping[str, str]) -> bool:
                if headers.get("etag") != tag:
                    _fail("a 304 without the current ETag")
                return True

            self.call("GET", f"{self.base}/{task_id}", REVALIDATE, 304, unchanged, extra={"If-None-Match": tag})
            return
        self.call("GET", f"{self.base}/{task_id}", ONE, 200, check)

    @task(3)
    def add(self) -> None:
        if len(self.own.titles) >= MAX_OWN_TASKS:
            self.remove()
        else:
            self.create()

    @task(2)
    def toggle(self) -> None:
        task_id = self.pick()
        if task_id is None:
            return
        before = self.own.completed[task_id]

        def check(body: Any, headers: Mapping[str, str]) -> Any:
            got = check_task(self.own, body, expected_id=task_id)
            if got["completed"] == before:
                _fail("toggling did not flip completed")
            return self.tagged(got, headers)

        got = self.call("PATCH", f"{self.base}/{task_id}/complete", COMPLETE, 200, check, extra=self.if_match(task_id))
        if got is not None:
            self.own.remember(got)

    @task(1)
    def edit(self) -> None:
        task_id = self.pick()
        if task_id is None:
            return
        title = f"{self.own.titles[task_id]}+"[:200]

        def check(body: Any, headers: Mapping[str, str]) -> Any:
            got = check_task(self.own, body, expected_id=task_id)
            if got["title"] != title or got["description"] is not None:
                _fail("the replaced task does not echo its new fields")
            return self.tagged(got, headers)

        body = {"title": title, "description": None}
        got = self.call("PUT", f"{self.base}/{task_id}", ONE, 200, check, body, self.if_match(task_id))
        if got is not None:
            self.own.remember(got)

    @task(1)
    def remove(self) -> None:
        if len(self.own.titles) <= MIN_OWN_TASKS:
            self.create()
            return
        task_id = self.pick()
        assert task_id is not None
        if self.call("DELETE", f"{self.base}/{task_id}", ONE, 204, lambda _b, _h: True, extra=self.if_match(task_id)):
            self.own.forget(task_id)
            self.etags.pop(task_id, None)


def _fail(message: str) -> Any:
    raise ContractError(message)


@events.report_to_master.add_listener
def _report_credentials(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["credentials"] = dict(CREDENTIALS)
    CREDENTIALS.clear()


@events.worker_report.add_listener
def _add_credentials(client_id: str, data: dict[str, Any], **_: Any) -> None:
    CREDENTIALS.update(data.get("credentials") or {})


@events.quitting.add_listener
def _verdict(environment: Environment, **_: Any) -> None:
    """On the master (or a single process): the SLO verdict, the JSON summary, and the exit code."""
    if isinstance(environment.runner, WorkerRunner) or environment.runner is None:
        return
    stats = environment.runner.stats
    endpoints = run_stats(stats)
    breaches_found = breaches(load_slo(BUDGET, SLO_PATH), endpoints, isolation_breaches=isolation_breaches(stats))
    shape = environment.shape_class
    if isinstance(shape, shapes.Stress):
        # A stress run is meant to break the SLOs: it is judged on the capacity it held, not on its last step.
        breaches_found = [line for line in breaches_found if line.startswith("ISOLATION")] + shape.capacity_breaches()
    if environment.runner.exceptions:
        breaches_found.append(f"{len(environment.runner.exceptions)} exception(s) in the load test itself")
    summary = {
        "profile": PROFILE,
        "slo_budget": BUDGET,
        "host": environment.host,
        "passed": not breaches_found,
        "breaches": breaches_found,
        "isolation_breaches": isolation_breaches(stats),
        "errors": {str(e.error): e.occurrences for e in stats.errors.values()},
        "credentials": {**_source.summary(), **dict(sorted(CREDENTIALS.items()))},
        "endpoints": {entry.endpoint: entry.as_dict() for entry in endpoints},
        **(shape.results() if isinstance(shape, shapes.Profile) else {}),
    }
    report_dir = Path(os.environ.get("LOADTEST_REPORT_DIR", f"reports/load/{PROFILE}"))
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    environment.process_exit_code = 1 if breaches_found else 0
