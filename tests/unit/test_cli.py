"""The todo-api command: `check` masks secrets and reports reachability; bad configuration is one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import uvicorn

from backend import cli

ROOT = Path(__file__).resolve().parents[2]
SECRET = "correct-horse-battery-staple-0123456789"
DB_PASSWORD = "pg-pass-word-42"
UNREACHABLE_DB = f"postgresql://todo:{DB_PASSWORD}@127.0.0.1:1/todo?sslmode=disable"


@pytest.mark.req("OPS-CLI")
def test_check_prints_the_masked_configuration_and_exits_1_when_the_database_is_unreachable(clean_env, capsys):
    clean_env.setenv("BETTER_AUTH_SECRET", SECRET)
    clean_env.setenv("DATABASE_URL", UNREACHABLE_DB)
    clean_env.setenv("DB_CONNECT_TIMEOUT_SECONDS", "1")

    assert cli.main(["check"]) == 1

    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert DB_PASSWORD not in captured.out + captured.err
    report = json.loads(captured.out)
    assert report["config"]["auth_mode"] == "secret"
    assert report["config"]["secret"] == "***"
    assert report["config"]["database_url"] == "postgresql+psycopg://todo:***@127.0.0.1:1/todo?sslmode=disable"
    assert report["database"].startswith("unreachable")


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


BAD_CONFIGS = {
    "short secret": ({"BETTER_AUTH_SECRET": "too-short-secret"}, "at least 32 bytes"),
    "both modes": ({"BETTER_AUTH_SECRET": SECRET, "BETTER_AUTH_URL": "https://a.example"}, "not both"),
    "hmac in jwks mode": ({"BETTER_AUTH_URL": "https://a.example", "JWT_ALGORITHMS": "HS256"}, "asymmetric"),
    "dev mode in production": ({"TODO_ENV": "production"}, "TODO_ENV=production"),
    "not a number": ({"BETTER_AUTH_SECRET": SECRET, "DB_POOL_SIZE": "many"}, "DB_POOL_SIZE"),
    "mysql url": ({"BETTER_AUTH_SECRET": SECRET, "DATABASE_URL": f"mysql://u:{DB_PASSWORD}@h/db"}, "DATABASE_URL"),
}


SECRET_VALUES = (SECRET, DB_PASSWORD, "too-short-secret")


def _assert_one_clear_line(code: int, out: str, err: str, expected: str) -> None:
    assert code == 2, out + err
    assert out == ""
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert err.startswith("todo-api: configuration error: ")
    assert expected in err
    assert "Traceback" not in err
    assert not any(value in err for value in SECRET_VALUES), "a secret was echoed back"


@pytest.mark.req("OPS-BAD-CONFIG", "AUTH-CONFIG")
@pytest.mark.parametrize(("env", "expected"), BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_configuration_is_one_clear_line_and_exit_2(clean_env, capsys, env, expected):
    for name, value in {"DATABASE_URL": UNREACHABLE_DB, **env}.items():
        clean_env.setenv(name, value)
    code = cli.main(["check"])
    captured = capsys.readouterr()
    _assert_one_clear_line(code, captured.out, captured.err, expected)


@pytest.mark.req("OPS-BAD-CONFIG")
@pytest.mark.parametrize("case", ["short secret", "mysql url"])
def test_a_real_process_with_bad_configuration_exits_2_without_a_traceback(tmp_path, case):
    env, expected = BAD_CONFIGS[case]
    result = _run(["check"], {"DATABASE_URL": UNREACHABLE_DB, **env}, tmp_path)
    _assert_one_clear_line(result.returncode, result.stdout, result.stderr, expected)


class WentPastTheGuardsError(Exception):
    """Raised by the stand-ins for what a command does once its guards let it through."""


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Nothing past the guards can run in these tests, even when a guard is broken: no database is resolved or
    started, no migration runs and uvicorn binds nothing. Each stand-in records its step and raises."""
    reached: list[str] = []

    def stop_at(step: str):
        def stand_in(*_args: object, **_kwargs: object):
            reached.append(step)
            raise WentPastTheGuardsError(step)

        return stand_in

    monkeypatch.setattr(cli, "_database_url", stop_at("database"))
    monkeypatch.setattr(uvicorn, "run", stop_at("uvicorn.run"))
    return reached


@pytest.mark.req("OPS-BAD-CONFIG")
@pytest.mark.parametrize("command", [["serve"], ["migrate"], ["token", "u1"], ["check"], ["purge"]], ids=" ".join)
def test_every_command_refuses_bad_configuration_the_same_way(clean_env, capsys, stand_ins, command):
    clean_env.setenv("BETTER_AUTH_SECRET", "too-short-secret")
    code = cli.main(command)
    captured = capsys.readouterr()
    _assert_one_clear_line(code, captured.out, captured.err, "BETTER_AUTH_SECRET must be at least 32 bytes")


NON_LOOPBACK_HOSTS = ["0.0.0.0", "::", "192.0.2.10", "todo.example"]
LOOPBACK_HOSTS = ["127.0.0.1", "127.0.0.2", "::1", "localhost"]


@pytest.mark.req("AUTH-DEV-MODE", "OPS-CLI")
@pytest.mark.parametrize("host", NON_LOOPBACK_HOSTS)
def test_serve_refuses_dev_mode_on_a_non_loopback_host(clean_env, capsys, stand_ins, host):
    try:
        code = cli.main(["serve", "--host", host, "--port", "1"])
    except WentPastTheGuardsError as step:
        pytest.fail(f"dev mode went on to {step} with --host {host}")
    captured = capsys.readouterr()
    _assert_one_clear_line(code, captured.out, captured.err, f"dev mode only binds to loopback (got --host {host})")
    assert stand_ins == []


@pytest.mark.req("AUTH-DEV-MODE", "OPS-CLI")
@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_serve_in_dev_mode_goes_on_to_start_on_a_loopback_host(clean_env, capsys, stand_ins, host):
    # The other side of the guard, and the proof that the stand-ins sit on serve's path.
    with pytest.raises(WentPastTheGuardsError):
        cli.main(["serve", "--host", host, "--port", "1"])
    assert stand_ins == ["database"]
    assert capsys.readouterr().err == ""


@pytest.mark.req("OPS-CLI")
def test_serve_outside_dev_mode_may_bind_any_host(clean_env, stand_ins):
    clean_env.setenv("BETTER_AUTH_SECRET", SECRET)
    with pytest.raises(WentPastTheGuardsError):
        cli.main(["serve", "--host", "0.0.0.0", "--port", "1"])
    assert stand_ins == ["database"]
