"""backend/logs.py's LineHandler on its own: access lines are held and written in batches of whole lines, never
delayed past flush_seconds, never behind another record, never lost on a normal stop (OPS-LOG-BATCHING)."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest

from backend import logs
from backend.app import create_app
from harness.inprocess import make_settings

pytestmark = pytest.mark.req("OPS-LOG-BATCHING")


class RecordedStream(io.StringIO):
    """A stream that keeps each write apart, to count batches and check their size."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


@pytest.fixture
def stream() -> RecordedStream:
    return RecordedStream()


def handler_for(stream: RecordedStream, flush_seconds: float) -> logs.LineHandler:
    handler = logs.LineHandler(flush_seconds)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    handler.setStream(stream)
    return handler


@pytest.fixture
def held(stream: RecordedStream) -> Iterator[logs.LineHandler]:
    """A handler that holds access lines for a minute: only size, other records, flush and close write them."""
    handler = handler_for(stream, 60)
    yield handler
    handler.close()


def access(handler: logging.Handler, message: str) -> None:
    handler.handle(logging.makeLogRecord({"name": logs.ACCESS_LOGGER, "levelno": logging.INFO, "msg": message}))


def other(handler: logging.Handler, message: str, level: int = logging.INFO) -> None:
    handler.handle(logging.makeLogRecord({"name": "backend.errors", "levelno": level, "msg": message}))


def test_access_lines_are_held_and_then_written_in_one_write(held, stream):
    for n in range(3):
        access(held, f"GET /{n}")
    assert stream.getvalue() == ""

    held.flush()

    assert stream.writes == [f"{logs.ACCESS_LOGGER} GET /0\n{logs.ACCESS_LOGGER} GET /1\n{logs.ACCESS_LOGGER} GET /2\n"]


@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING, logging.ERROR])
def test_any_other_record_writes_the_held_access_lines_first_then_itself_at_once(held, stream, level):
    access(held, "GET /first")
    access(held, "GET /second")

    other(held, "something happened", level)

    assert stream.getvalue().splitlines() == [
        f"{logs.ACCESS_LOGGER} GET /first",
        f"{logs.ACCESS_LOGGER} GET /second",
        "backend.errors something happened",
    ]


def test_an_access_record_at_warning_or_above_is_not_held(held, stream):
    held.handle(logging.makeLogRecord({"name": logs.ACCESS_LOGGER, "levelno": logging.WARNING, "msg": "slow"}))

    assert stream.getvalue() == f"{logs.ACCESS_LOGGER} slow\n"


def test_every_write_is_whole_lines_of_at_most_pipe_buf_bytes(held, stream):
    lines = [f"GET /{n:04d}/{'x' * 250}" for n in range(100)]  # about 25 KB
    for line in lines:
        access(held, line)
    held.flush()

    assert len(stream.writes) >= 25_000 // logs.PIPE_BUF
    for write in stream.writes:
        assert len(write.encode()) <= logs.PIPE_BUF
        assert write.endswith("\n")
    assert stream.getvalue().splitlines() == [f"{logs.ACCESS_LOGGER} {line}" for line in lines]


def test_a_line_longer_than_pipe_buf_is_written_whole_on_its_own(held, stream):
    access(held, "short")
    access(held, "x" * (2 * logs.PIPE_BUF))
    held.flush()

    assert stream.writes == [f"{logs.ACCESS_LOGGER} short\n", f"{logs.ACCESS_LOGGER} {'x' * 2 * logs.PIPE_BUF}\n"]


def test_closing_the_handler_writes_what_it_holds(stream):
    handler = handler_for(stream, 60)
    access(handler, "GET /last")

    handler.close()

    assert stream.getvalue() == f"{logs.ACCESS_LOGGER} GET /last\n"


def test_an_idle_handler_writes_its_lines_once_they_are_flush_seconds_old(stream):
    handler = handler_for(stream, 0.2)
    try:
        access(handler, "GET /idle")
        assert stream.getvalue() == ""  # held ...
        deadline = time.monotonic() + 10
        while not stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stream.getvalue() == f"{logs.ACCESS_LOGGER} GET /idle\n"  # ... and written without another record
    finally:
        handler.close()


def test_flush_seconds_zero_writes_each_access_line_at_once(stream):
    handler = handler_for(stream, 0)
    access(handler, "GET /a")
    access(handler, "GET /b")

    assert stream.writes == [f"{logs.ACCESS_LOGGER} GET /a\n", f"{logs.ACCESS_LOGGER} GET /b\n"]
    handler.close()


@pytest.mark.parametrize(("setting", "held_for"), [({}, 1.0), ({"TODO_ACCESS_LOG_FLUSH_SECONDS": "0"}, 0.0)])
def test_the_app_logs_through_a_line_handler_with_the_configured_flush_seconds(setting, held_for):
    create_app(make_settings("postgresql://nobody@127.0.0.1:1/none", BETTER_AUTH_SECRET="s" * 40, **setting))

    [handler] = logging.getLogger("backend").handlers
    assert isinstance(handler, logs.LineHandler)
    assert handler.flush_seconds == held_for
