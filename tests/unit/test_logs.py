"""backend/logs.py on its own: what `escape` leaves and what it spells out, and both formatters on real records,
including uvicorn's records as `todo-api serve` configures them."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
import unicodedata
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend import logs
from backend.request_context import RequestIdLogFilter, reset_request_id, set_request_id

UNSAFE_CATEGORIES = {"Cc", "Zl", "Zp", "Cs"}  # control, line separator, paragraph separator, surrogate


def unescape(text: str) -> str:
    """The inverse of logs.escape, for these tests: Python's own escape syntax, so it needs no parser of ours."""
    return text.encode("ascii", "backslashreplace").decode("unicode_escape")


@pytest.mark.req("OPS-LOG-INJECTION")
def test_every_control_and_line_breaking_code_point_is_escaped_and_nothing_else_changes():
    changed = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        escaped = logs.escape(char)
        unsafe = unicodedata.category(char) in UNSAFE_CATEGORIES
        assert (escaped != char) == (unsafe or char == "\\"), f"U+{code:04X}"
        if escaped != char:
            assert escaped.isascii(), f"U+{code:04X} -> {escaped!r}"
            assert escaped.isprintable(), f"U+{code:04X} -> {escaped!r}"
            assert len(f"a{escaped}b".splitlines()) == 1
            changed.append(code)
    # C0 (32), DEL, C1 (32), U+2028, U+2029, 2048 surrogates and the backslash.
    assert len(changed) == 32 + 1 + 32 + 2 + 2048 + 1


@pytest.mark.req("OPS-LOG-INJECTION")
@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a\nb", "a\\x0ab"),
        ("a\r\nb", "a\\x0d\\x0ab"),
        ("\x00", "\\x00"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("\x9b31m", "\\x9b31m"),
        ("\x7f", "\\x7f"),
        ("\x85", "\\x85"),
        ("a\u2028b\u2029", "a\\u2028b\\u2029"),
        ("back\\slash", "back\\\\slash"),
        ("plain /api/alice/tasks é ü 漢 🙂", "plain /api/alice/tasks é ü 漢 🙂"),
    ],
    ids=["LF", "CRLF", "NUL", "ANSI", "CSI", "DEL", "NEL", "U+2028/9", "backslash", "printable"],
)
def test_escape_spells_each_unsafe_character_as_a_visible_escape(raw, escaped):
    assert logs.escape(raw) == escaped


@pytest.mark.req("OPS-LOG-INJECTION")
@given(st.text())
def test_escaping_is_unambiguous_and_never_breaks_a_line(text):
    escaped = logs.escape(text)
    assert unescape(escaped) == text  # the backslash is escaped too, so a caller cannot imitate an escape
    assert len(f"x{escaped}x".splitlines()) == 1


def _record(name: str, msg: str, *args: object, exc: BaseException | None = None, **extra: object) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = logging.getLogger(name).makeRecord(name, logging.ERROR if exc else logging.INFO, __file__, 1, msg, args,
                                                exc_info, extra=extra or None)  # fmt: skip
    RequestIdLogFilter().filter(record)
    return record


def _raised(message: str) -> BaseException:
    try:
        raise RuntimeError(message)
    except RuntimeError as exc:
        return exc


@pytest.mark.req("OPS-LOG-INJECTION", "OPS-LOG-FORMAT")
def test_the_text_formatter_writes_one_line_per_record_even_for_a_traceback():
    formatter = logs.TextFormatter()
    token = set_request_id("req-1")
    try:
        record = _record("backend.errors", "unhandled error", exc=_raised("bad\ninput\x1b[2J"))
    finally:
        reset_request_id(token)

    line = formatter.format(record)

    assert len(line.splitlines()) == 1
    assert " ERROR backend.errors request_id=req-1 unhandled error\\x0aTraceback (most recent call last):" in line
    assert "RuntimeError: bad\\x0ainput\\x1b[2J" in line
    assert "\x1b" not in line


@pytest.mark.req("OPS-LOG-FORMAT", "OPS-LOG-INJECTION")
def test_the_json_formatter_writes_the_access_fields_and_escapes_the_path():
    formatter = logs.JsonLineFormatter()
    record = _record(logs.ACCESS_LOGGER, "%s %s %d %.1fms", "GET", "/api/x\n\x1b[31m", 404, 1.23456, route="unmatched")

    line = formatter.format(record)

    assert len(line.splitlines()) == 1
    assert line.isascii()  # U+2028 and C1 leave as \\u escapes; ESC never raw
    fields = json.loads(line)
    assert set(fields) == {"time", "level", "request_id", "method", "route", "path", "status", "duration_ms"}
    assert fields["path"] == "/api/x\\x0a\\x1b[31m"
    assert (fields["method"], fields["route"], fields["status"], fields["duration_ms"]) == (
        "GET",
        "unmatched",
        404,
        1.235,
    )
    assert fields["level"] == "INFO"
    assert fields["request_id"] == "-"
    assert fields["time"].endswith("Z")


@pytest.mark.req("OPS-LOG-FORMAT", "OPS-LOG-INJECTION")
def test_the_json_formatter_writes_logger_and_message_for_other_records_and_escapes_the_traceback():
    formatter = logs.JsonLineFormatter()
    line = formatter.format(_record("backend.errors", "unhandled error: %s", "x\u2028y", exc=_raised("a\rb")))

    assert len(line.splitlines()) == 1
    fields = json.loads(line)
    assert {"time", "level", "logger", "request_id", "message", "exc_info"} == set(fields)
    assert fields["logger"] == "backend.errors"
    assert fields["message"] == "unhandled error: x\\u2028y"
    assert "RuntimeError: a\\x0db" in fields["exc_info"]
    assert "\n" not in fields["exc_info"]


@pytest.fixture
def restored_uvicorn_loggers():
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level) for name in names}
    yield
    for name, (handlers, level) in saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).setLevel(level)


@pytest.mark.req("OPS-LOG-FORMAT")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_uvicorns_own_records_go_through_the_same_formatter(log_format, restored_uvicorn_loggers, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)  # the configuration names ext://sys.stderr
    logging.config.dictConfig(logs.uvicorn_log_config("INFO", log_format))

    logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.\x1b[31m")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    if log_format == "json":
        fields = json.loads(lines[0])
        assert (fields["logger"], fields["level"], fields["request_id"]) == ("uvicorn.error", "WARNING", "-")
        assert fields["message"] == "Invalid HTTP request received.\\x1b[31m"
    else:
        assert lines[0].endswith(" WARNING uvicorn.error request_id=- Invalid HTTP request received.\\x1b[31m")


@pytest.mark.req("OPS-LOG-FORMAT")
def test_an_access_record_made_from_the_template_holds_what_make_record_would_give():
    saved = (logs._access_template, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    backend_handlers = logging.getLogger("backend").handlers[:]
    try:
        logs.configure_logging("INFO", "json")
        template = logs._access_template
        assert template is not None
        args = ("GET", "/api/u/tasks/7", 200, 1.5)
        expected = vars(logs._make_access_record(args, "/api/{user_id}/tasks/{task_id}"))
        made = vars(logs.AccessRecord(template, args, "/api/{user_id}/tasks/{task_id}"))
    finally:
        logs._access_template, logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved
        logging.getLogger("backend").handlers[:] = backend_handlers

    clock = ("created", "msecs", "relativeCreated")
    assert {k: v for k, v in made.items() if k not in clock} == {k: v for k, v in expected.items() if k not in clock}
    assert 0 <= made["created"] - expected["created"] < 1
    assert made["msecs"] == int((made["created"] - int(made["created"])) * 1000)
    assert made["relativeCreated"] - expected["relativeCreated"] == pytest.approx(
        (made["created"] - expected["created"]) * 1000, abs=1e-3
    )
    assert (made["thread"], made["process"], made["processName"]) == (None, None, None)


@pytest.mark.req("OPS-LOG-FORMAT")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_library_warning_is_written_as_a_record_in_the_configured_format(log_format, capsys):
    saved = logging.getLogger("backend").handlers[:], logging.getLogger("py.warnings").handlers[:]
    try:
        logs.configure_logging("INFO", log_format)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("XDG_RUNTIME_DIR is not set\nfalling back", RuntimeWarning, stacklevel=1)
        logging.getLogger("backend").handlers[0].flush()
    finally:
        logging.captureWarnings(False)
        logging.getLogger("backend").handlers[:], logging.getLogger("py.warnings").handlers[:] = saved

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    if log_format == "json":
        fields = json.loads(lines[0])
        assert (fields["logger"], fields["level"]) == ("py.warnings", "WARNING")
        assert "RuntimeWarning: XDG_RUNTIME_DIR is not set\\x0afalling back" in fields["message"]
    else:
        assert " WARNING py.warnings request_id=- " in lines[0]
