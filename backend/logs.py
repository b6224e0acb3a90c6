"""Log output: one record is one line, in text or JSON (TODO_LOG_FORMAT), and no control character from a request
reaches it raw (CWE-117).

Both formatters escape every string they write with `escape`: a percent-decoded path like `/api/x%0Aforged` or
`%1b[31m` becomes `/api/x\\x0aforged`, `\\x1b[31m`, so a record can neither forge a second line nor drive a terminal.
The text formatter escapes the whole formatted line, tracebacks included (they become one line too); the JSON one
escapes each value and then JSON-encodes it, so a decoded field equals the text one.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonEncoder, JsonFormatter

from backend.request_context import RequestIdLogFilter

ACCESS_LOGGER = "backend.access"
# The access record's message and the order of its args: (method, path, status, duration_ms); its route rides as
# the record attribute `route`. `log_access` writes it, JsonLineFormatter reads it.
_ACCESS_MESSAGE = "%s %s %d %.1fms"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s"

access_log = logging.getLogger(ACCESS_LOGGER)

# C0 (ESC included, so no ANSI sequence survives), DEL, C1 (CSI and NEL included), the Unicode line and paragraph
# separators, lone surrogates (unencodable), and the backslash itself, so that an escape in the log is never ambiguous
# with text a caller sent.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\\\\]")


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\\":
        return "\\\\"
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape(text: str) -> str:
    """`text` with every unsafe character spelled as a visible escape (`\\x0a`, `\\x1b`, `\\u2028`, `\\\\`)."""
    if _UNSAFE.search(text) is None:  # the common case: no copy
        return text
    return _UNSAFE.sub(_escape_one, text)


class AccessRecord(logging.LogRecord):
    """An access line's LogRecord, made from a template: what never changes between access lines (logger, level,
    message, caller, and the thread and process fields, off since `configure_logging`) is copied in one dict update,
    instead of LogRecord.__init__ working it out again on every request (specs/performance.md, step 11). Filters and
    formatters see the same attributes as on a record made by `makeRecord`."""

    def __init__(self, template: dict[str, Any], args: tuple[str, str, int, float], route: str) -> None:
        self.__dict__.update(template)
        now = time.time()
        self.created = now
        self.msecs = int((now - int(now)) * 1000) + 0.0  # as LogRecord computes them
        self.relativeCreated = template["relativeCreated"] + (now - template["created"]) * 1000
        self.args = args
        self.route = route


def _make_access_record(args: tuple[str, str, int, float], route: str) -> logging.LogRecord:
    # Made directly: `access_log.info` would also walk the stack for the caller's file and line, which neither format
    # prints (specs/performance.md).
    message, extra = _ACCESS_MESSAGE, {"route": route}
    return access_log.makeRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, message, args, None, "log_access", extra)


# Set by configure_logging, once the record fields it turns off are off; until then, records are made the usual way.
_access_template: dict[str, Any] | None = None


def log_access(method: str, path: str, status: int, duration_ms: float, route: str) -> None:
    if access_log.isEnabledFor(logging.INFO):
        args = (method, path, status, duration_ms)
        template = _access_template
        record = _make_access_record(args, route) if template is None else AccessRecord(template, args, route)
        access_log.handle(record)


class TextFormatter(logging.Formatter):
    """`time level logger request_id=... message`, the whole line escaped."""

    def __init__(self) -> None:
        # The default covers records of handlers without RequestIdLogFilter (uvicorn's, configured by `serve`).
        super().__init__(TEXT_FORMAT, defaults={"request_id": "-"})

    def format(self, record: logging.LogRecord) -> str:
        return escape(super().format(record))


class JsonLineFormatter(JsonFormatter):
    """One JSON object per record (python-json-logger does the encoding; this class picks the fields).

    Access records: time, level, request_id, method, route, path, status, duration_ms. Others: time, level, logger,
    request_id, message (and exc_info / stack_info when the record has them).
    """

    def __init__(self) -> None:
        super().__init__(json_ensure_ascii=True, json_serializer=_serialize)

    def format(self, record: logging.LogRecord) -> str:
        # An access line (one per request) skips what its fields never use: the %-formatted message and the
        # exception and stack lookups (specs/performance.md). python-json-logger still encodes it.
        access = _access_args(record)
        if access is None:
            return super().format(record)
        log_data: dict[str, Any] = {}
        self._add_common(log_data, record)
        method, path, status, duration_ms = access
        log_data["method"] = escape(str(method))
        log_data["route"] = escape(str(getattr(record, "route", "unmatched")))
        log_data["path"] = escape(str(path))
        log_data["status"] = status
        log_data["duration_ms"] = round(float(duration_ms), 3)
        return self.serialize_log_record(log_data)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        self._add_common(log_data, record)
        log_data["logger"] = escape(record.name)
        log_data["message"] = escape(record.getMessage())
        for key in ("exc_info", "stack_info"):
            if message_dict.get(key):
                log_data[key] = escape(str(message_dict[key]))

    @staticmethod
    def _add_common(log_data: dict[str, Any], record: logging.LogRecord) -> None:
        log_data["time"] = _iso_time(record.created)
        log_data["level"] = record.levelname
        log_data["request_id"] = escape(str(getattr(record, "request_id", "-")))


def _access_args(record: logging.LogRecord) -> tuple[Any, Any, Any, Any] | None:
    if record.name == ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == 4:
        method, path, status, duration_ms = record.args
        return method, path, status, duration_ms
    return None


# The second, formatted once per second: every line in that second shares it (the milliseconds are appended).
_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def _iso_time(created: float) -> str:
    """`2026-12-02T16:40:23.477Z`: UTC, milliseconds truncated (as `isoformat(timespec="milliseconds")`)."""
    global _second  # a one-entry cache: replacing the tuple is atomic
    whole = int(created)
    cached = _second
    if cached[0] != whole:
        cached = _second = (whole, datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{cached[1]}.{int((created - whole) * 1000):03d}Z"


# python-json-logger's encoder, built once: its serializer hook would otherwise build a new one for every line (a
# fifth of an access line's formatting). JsonLineFormatter's options are fixed (ASCII, no indent, the library's own
# encoder), so the hook's per-call options add nothing.
_ENCODER = JsonEncoder(ensure_ascii=True)


def _serialize(log_data: Any, **_options: Any) -> str:
    """The `json_serializer` of JsonLineFormatter."""
    return _ENCODER.encode(log_data)


# One write never passes PIPE_BUF: on a pipe (a container's stdout), a write that long is atomic, so the lines of
# several workers sharing it never interleave mid-line.
PIPE_BUF = 4096


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that holds access lines for up to `flush_seconds` and writes them together (one write per
    batch instead of one per request), like nginx's `access_log ... buffer= flush=`.

    Any other record first writes the held access lines, then itself, at once: order is kept, and warnings and
    errors are never delayed. A batch is written when it would pass PIPE_BUF, when its oldest line is
    `flush_seconds` old (checked on the next record and by a timer thread, so an idle server writes them too), on
    `flush()` and on `close()` (which `logging.shutdown` calls at exit). What a killed process (SIGKILL, a crash of
    the interpreter) had not written is lost: at most `flush_seconds` of access lines. `flush_seconds=0` writes every
    line as it comes.
    """

    def __init__(self, flush_seconds: float = 0.0) -> None:
        super().__init__()
        self.flush_seconds = flush_seconds
        self._held: list[str] = []
        self._held_bytes = 0
        self._oldest = 0.0
        self._stopped = threading.Event()
        self._timer: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            if self.flush_seconds <= 0 or record.name != ACCESS_LOGGER or record.levelno >= logging.WARNING:
                self._write([*self._take(), line])
                return
            size = len(line) if line.isascii() else len(line.encode())  # PIPE_BUF counts bytes
            now = time.monotonic()
            if self._held and (self._held_bytes + size > PIPE_BUF or now - self._oldest >= self.flush_seconds):
                self._write(self._take())
            if not self._held:
                self._oldest = now
                self._start_timer()
            self._held.append(line)
            self._held_bytes += size
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - as StreamHandler.emit: a failed write must never fail the request
            self.handleError(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            lines = self._take()
            if lines:
                self._write(lines)
            else:
                super().flush()

    def close(self) -> None:
        self.flush()
        self._stopped.set()
        super().close()

    def _take(self) -> list[str]:
        lines, self._held, self._held_bytes = self._held, [], 0
        return lines

    def _write(self, lines: list[str]) -> None:
        if lines:
            self.stream.write("".join(lines))
            super().flush()

    def _start_timer(self) -> None:
        if self._timer is None or not self._timer.is_alive():
            self._stopped.clear()  # a closed handler that is used again (a test restoring it) flushes again
            self._timer = threading.Thread(target=self._flush_when_due, name="access-log-flush", daemon=True)
            self._timer.start()

    def _flush_when_due(self) -> None:
        delay = self.flush_seconds
        while not self._stopped.wait(delay):
            with self.lock:  # type: ignore[union-attr]
                due = self._oldest + self.flush_seconds - time.monotonic() if self._held else self.flush_seconds
                if due <= 0:
                    self._write(self._take())
                # Woken again when the oldest held line falls due, not a whole period later.
                delay = due if due > 0 else self.flush_seconds


def build_formatter(log_format: str = "text") -> logging.Formatter:
    """The formatter for TODO_LOG_FORMAT (also named by `serve`'s uvicorn logging configuration)."""
    return JsonLineFormatter() if log_format == "json" else TextFormatter()


def configure_logging(level: str, log_format: str, access_flush_seconds: float = 0.0) -> None:
    """The `backend` loggers write to stderr through one handler that stamps the request id and holds access lines
    for up to `access_flush_seconds` (LineHandler). Python warnings (a library's `warnings.warn`) go through it too,
    so in JSON mode they are records like any other, not raw lines a log pipeline cannot parse."""
    # Neither format prints a thread, a process or a process name, so no record collects them (the logging HOWTO's
    # "Optimization"): a third of the cost of every access line (specs/performance.md).
    global _access_template
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    _access_template = vars(_make_access_record(("", "", 0, 0.0), ""))
    handler = LineHandler(access_flush_seconds)
    handler.addFilter(RequestIdLogFilter())
    handler.setFormatter(build_formatter(log_format))
    logger = logging.getLogger("backend")
    replaced, logger.handlers[:] = logger.handlers[:], [handler]
    for old in replaced:  # writes what it still holds, stops its timer
        old.close()
    logger.setLevel(level.upper())
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.handlers[:] = [handler]
    warnings_logger.propagate = False


def uvicorn_log_config(level: str, log_format: str) -> dict[str, Any]:
    """uvicorn's own loggers (start-up, "Invalid HTTP request received.", a worker's crash) in the same format, in
    the supervisor and in every worker (uvicorn applies it in each)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,  # the backend's loggers exist before uvicorn configures logging
        "formatters": {"todo": {"()": "backend.logs.build_formatter", "log_format": log_format}},
        "filters": {"request_id": {"()": "backend.request_context.RequestIdLogFilter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "todo",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }
