"""A clock that moves only when the test says so."""

from __future__ import annotations


class FakeClock:
    """Moves only when the test says so; start it at real time when PyJWT (which reads time.time()) checks too."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
