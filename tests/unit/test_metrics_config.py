"""The observability settings, and what `todo-api serve` does with them before uvicorn starts: the metrics listener
in this process over a fresh multiprocess directory, refused when it cannot work, uvicorn's logs in our format."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import ValidationError

from backend import cli
from backend.settings import Settings
from harness.net import free_port
from loadtests.server_metrics import scrape

SECRET = "correct-horse-battery-staple-0123456789"


@pytest.mark.req("OPS-LOG-FORMAT", "OPS-METRICS-EXPOSURE")
def test_the_defaults_are_text_logs_with_access_lines_and_no_metrics(clean_env):
    settings = Settings()
    assert (settings.log_format, settings.access_log) == ("text", True)
    assert (settings.metrics_port, settings.metrics_host) == (None, "127.0.0.1")
    assert settings.masked()["metrics"] is None


@pytest.mark.req("OPS-LOG-FORMAT", "OPS-METRICS-EXPOSURE")
def test_the_settings_are_read_from_the_environment(clean_env):
    for name, value in {
        "TODO_LOG_FORMAT": " JSON ",
        "TODO_ACCESS_LOG": "false",
        "TODO_METRICS_PORT": "9464",
        "TODO_METRICS_HOST": "10.0.0.5",
        "TODO_ACCESS_LOG_FLUSH_SECONDS": "0.25",
    }.items():
        clean_env.setenv(name, value)
    settings = Settings()
    assert (settings.log_format, settings.access_log, settings.metrics_port) == ("json", False, 9464)
    assert settings.access_log_flush_seconds == 0.25
    assert settings.masked()["metrics"] == "10.0.0.5:9464"
    clean_env.setenv("TODO_METRICS_PORT", " ")
    assert Settings().metrics_port is None


@pytest.mark.req("OPS-BAD-CONFIG")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TODO_LOG_FORMAT", "xml"),
        ("TODO_METRICS_PORT", "0"),
        ("TODO_METRICS_PORT", "65536"),
        ("TODO_ACCESS_LOG", "maybe"),
        ("TODO_ACCESS_LOG_FLUSH_SECONDS", "-1"),
        ("TODO_ACCESS_LOG_FLUSH_SECONDS", "61"),
        ("TODO_ACCESS_LOG_FLUSH_SECONDS", "soon"),
    ],
)
def test_bad_observability_settings_are_refused(clean_env, name, value):
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError, match=name):
        Settings()


@pytest.fixture
def serve_env(clean_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """`serve` in this process, up to uvicorn: no database is resolved and no signal handler is installed; what
    `serve` puts in os.environ is undone afterwards."""
    clean_env.setenv("BETTER_AUTH_SECRET", SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:1/x")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/stale")
    monkeypatch.setattr(cli, "_database_url", lambda settings: "postgresql://u@127.0.0.1:1/x")
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    return clean_env


def _one_clear_line(code: int, err: str, expected: str) -> None:
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("todo-api: configuration error: ")
    assert expected in err
    assert "Traceback" not in err


@pytest.mark.req("OPS-METRICS-EXPOSURE", "OPS-BAD-CONFIG")
def test_serve_refuses_a_metrics_port_equal_to_the_api_port(serve_env, monkeypatch, capsys):
    serve_env.setenv("TODO_METRICS_PORT", "8123")
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("uvicorn started"))
    code = cli.main(["serve", "--port", "8123", "--no-migrate"])
    _one_clear_line(code, capsys.readouterr().err, "TODO_METRICS_PORT must differ from --port")


@pytest.mark.req("OPS-METRICS-EXPOSURE", "OPS-BAD-CONFIG")
def test_serve_refuses_a_metrics_port_it_cannot_listen_on_and_leaves_nothing_behind(serve_env, monkeypatch, capsys):
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("uvicorn started"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        serve_env.setenv("TODO_METRICS_PORT", str(port))
        code = cli.main(["serve", "--port", str(free_port()), "--no-migrate"])
    _one_clear_line(code, capsys.readouterr().err, f"TODO_METRICS_PORT: cannot listen on 127.0.0.1:{port}")
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


@pytest.mark.req("OPS-METRICS-WORKERS", "OPS-METRICS-EXPOSURE", "OPS-LOG-FORMAT")
def test_serve_listens_over_a_fresh_multiprocess_directory_while_uvicorn_runs(serve_env, monkeypatch):
    metrics_port = free_port()
    serve_env.setenv("TODO_METRICS_PORT", str(metrics_port))
    serve_env.setenv("TODO_LOG_FORMAT", "json")
    seen: dict[str, Any] = {}

    def uvicorn_run(app: str, **options: Any) -> None:
        seen["directory"] = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        seen["directory_existed"] = seen["directory"].is_dir()
        seen["scrape"] = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        seen.update(options)

    monkeypatch.setattr(uvicorn, "run", uvicorn_run)
    assert cli.main(["serve", "--port", str(free_port()), "--workers", "2", "--no-migrate"]) == 0

    assert seen["directory_existed"]
    assert seen["directory"].name.startswith("todo-api-metrics-")
    assert not seen["directory"].exists(), "the multiprocess directory outlived the server"
    assert seen["scrape"] == {}  # no worker has written yet: an empty, valid exposition
    assert seen["workers"] == 2
    assert seen["access_log"] is False
    formatter = seen["log_config"]["formatters"]["todo"]
    assert formatter == {"()": "backend.logs.build_formatter", "log_format": "json"}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2)


@pytest.mark.req("OPS-METRICS-EXPOSURE")
def test_serve_without_metrics_drops_a_stray_multiprocess_directory(serve_env, monkeypatch):
    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        uvicorn, "run", lambda app, **options: seen.update(dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    )
    assert cli.main(["serve", "--port", str(free_port()), "--no-migrate"]) == 0
    assert seen == {"dir": None}
