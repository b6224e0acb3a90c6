"""A bounded write load over real HTTP that records the fate of every request, for the fault and pooler tests.

Every create carries a unique title, so afterwards the database can be compared with what the clients were told.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from harness.users import ApiUser

CLIENT_TIMEOUT_SECONDS = 10.0


@dataclass
class Outcomes:
    """What each client was told. `unknown` holds requests with no answer (timeout, reset): they may or may not
    have been written."""

    acknowledged: dict[str, int] = field(default_factory=dict)  # title -> task id, from a 201
    refused: set[str] = field(default_factory=set)  # titles answered 503 with Retry-After
    unknown: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)  # anything the contract forbids: 500, 503 without Retry-After...
    slowest_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, title: str, response: httpx.Response | None, elapsed: float, error: str | None = None) -> None:
        with self._lock:
            self.slowest_seconds = max(self.slowest_seconds, elapsed)
            if response is None:
                self.unknown.add(title)
                self.statuses[f"no answer ({error})"] += 1
                return
            self.statuses[str(response.status_code)] += 1
            if response.status_code == 201:
                self.acknowledged[title] = response.json()["id"]
            elif response.status_code == 503 and response.headers.get("retry-after", "").isdigit():
                self.refused.add(title)
            else:
                self.bad.append(f"{response.status_code} {response.headers.get('retry-after')!r} {response.text[:200]}")


class WriteLoad:
    """`workers` threads, each its own user, creating tasks until stopped or `max_requests` each (both bounded)."""

    def __init__(self, base_url: str, users: list[ApiUser], *, max_requests: int = 1500, pause: float = 0.01) -> None:
        self.base_url = base_url
        self.users = users
        self.max_requests = max_requests
        self.pause = pause
        self.outcomes = Outcomes()
        self.last_success_at = 0.0
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=len(users))
        self._futures: list[object] = []

    def _worker(self, user: ApiUser) -> None:
        with httpx.Client(base_url=self.base_url, timeout=CLIENT_TIMEOUT_SECONDS, headers=user.headers) as client:
            for _ in range(self.max_requests):
                if self._stop.is_set():
                    return
                title = f"load-{uuid.uuid4().hex}"
                started = time.monotonic()
                try:
                    response = client.post(user.tasks_url(), json={"title": title})
                except httpx.TransportError as exc:
                    self.outcomes.record(title, None, time.monotonic() - started, type(exc).__name__)
                else:
                    self.outcomes.record(title, response, time.monotonic() - started)
                    if response.status_code == 201:
                        self.last_success_at = time.monotonic()
                time.sleep(self.pause)

    def __enter__(self) -> WriteLoad:
        self._futures = [self._pool.submit(self._worker, user) for user in self.users]
        return self

    def join(self) -> None:
        """Wait for every worker to finish its `max_requests`."""
        for future in self._futures:
            future.result()  # type: ignore[attr-defined]

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)
        for future in self._futures:
            future.result()  # type: ignore[attr-defined]

    def wait_for_success_after(self, moment: float, timeout: float) -> float | None:
        """Seconds from `moment` until some create succeeded after it, or None if none did within `timeout`."""
        deadline = moment + timeout
        while time.monotonic() < deadline:
            if self.last_success_at > moment:
                return self.last_success_at - moment
            time.sleep(0.05)
        return None
