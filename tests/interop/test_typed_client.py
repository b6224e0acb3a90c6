"""The typed TypeScript client (clients/typescript) as the frontend uses it: a user signed in to the real Better Auth,
the client taking that session's JWT from /api/auth/token, every route of our server over real HTTP, with keyed
(idempotent) creates and conditional requests (ETag, If-Match, If-None-Match).
examples/drive.ts makes the calls (compiled by tsc: Node 20 cannot run TypeScript) and prints what it saw as JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from backend.app import create_app
from harness import better_auth
from harness.better_auth_server import BetterAuthServer
from harness.net import LiveServer
from harness.npm import require_node
from harness.typescript_client import CLIENT, SPEC, TSC_TIMEOUT_SECONDS, install
from harness.users import ApiUser

DRIVE_TIMEOUT_SECONDS = 60
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def deployed_url(interop_app: FastAPI) -> Iterator[str]:
    """The backend trusting Better Auth (interop_app's settings) over real HTTP, with a server of its own."""
    with LiveServer(create_app(interop_app.state.settings)) as server:
        yield server.url


@pytest.fixture(scope="module")
def compiled_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clients/typescript compiled to JavaScript in a temporary directory that resolves its node_modules."""
    require_node()
    install()
    out = tmp_path_factory.mktemp("typed-client")
    tsc = str(CLIENT / "node_modules" / ".bin" / "tsc")
    done = subprocess.run(
        [tsc, "-p", "tsconfig.json", "--noEmit", "false", "--outDir", str(out)],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=TSC_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"tsc failed:\n{done.stdout}{done.stderr}"
    (out / "package.json").write_text(json.dumps({"type": "module"}))
    (out / "node_modules").symlink_to(CLIENT / "node_modules", target_is_directory=True)
    return out / "examples" / "drive.js"


def drive(script: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=DRIVE_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"drive.js failed ({done.returncode}):\n{done.stdout}{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def driven(
    better_auth_server: BetterAuthServer, deployed_url: str, compiled_client: Path, ba_bob: ApiUser
) -> tuple[str, dict[str, Any]]:
    """A new user signed in to Better Auth, and what drive.js saw doing everything as that user: (user id, report)."""
    account = better_auth.new_account("ts-client")
    with better_auth.Browser(better_auth_server.base_url) as browser:
        browser.sign_up(account)
    with better_auth.Browser(better_auth_server.base_url) as browser:
        user_id = browser.sign_in(account)
        cookie = "; ".join(f"{each.name}={each.value}" for each in browser.http.cookies.jar)

    seen = drive(
        compiled_client,
        {
            "API_URL": deployed_url,
            "AUTH_URL": better_auth_server.base_url,
            "COOKIE": cookie,
            "USER_ID": user_id,
            "OTHER_USER_ID": ba_bob.id,
        },
    )
    return user_id, seen


@pytest.mark.req("API-TS-CLIENT", "AUTH-BETTER-AUTH")
def test_the_typed_client_drives_every_route_with_a_better_auth_session(driven: tuple[str, dict[str, Any]]):
    user_id, seen = driven

    created = seen["create"]
    task = created["task"]
    assert created["status"] == 201
    assert created["location"].endswith(f"/api/{user_id}/tasks/{task['id']}")
    assert task["title"] == "Typed milk", "trimmed"
    assert (task["description"], task["completed"]) == ("from the TypeScript client", False)

    assert seen["read"]["status"] == 200
    assert seen["read"]["task"] == task

    assert seen["list"]["status"] == 200
    assert task["id"] in seen["list"]["pendingIds"]
    assert task["id"] not in seen["list"]["completedIds"]

    assert seen["replace"]["status"] == 200
    assert (seen["replace"]["task"]["title"], seen["replace"]["task"]["description"]) == ("Typed oat milk", None)

    assert [(each["status"], each["completed"]) for each in seen["toggle"]] == [(200, True), (200, False)]
    first_set, second_set = seen["set"]
    assert (first_set["status"], first_set["completed"]) == (200, True)
    assert (second_set["status"], second_set["completed"]) == (200, True), "setting is idempotent"
    assert first_set["completedAt"] is not None
    assert second_set["completedAt"] == first_set["completedAt"]

    invalid = seen["invalid"]
    assert (invalid["status"], invalid["contentType"]) == (422, PROBLEM_JSON)
    assert invalid["problem"]["type"] == "urn:todo-api:problem:validation-error"
    assert [error["field"] for error in invalid["problem"]["errors"]] == ["body.title"]

    assert (seen["delete"]["status"], seen["delete"]["data"]) == (204, None)

    gone = seen["readAfterDelete"]
    assert (gone["status"], gone["contentType"]) == (404, PROBLEM_JSON)
    assert gone["problem"]["type"] == "urn:todo-api:problem:not-found"

    foreign = seen["otherUsersPath"]
    assert (foreign["status"], foreign["contentType"]) == (403, PROBLEM_JSON)
    assert foreign["problem"]["type"] == "urn:todo-api:problem:forbidden"

    anonymous = seen["noToken"]
    assert (anonymous["status"], anonymous["contentType"]) == (401, PROBLEM_JSON)
    assert anonymous["wwwAuthenticate"].startswith('Bearer realm="todo-api"')

    assert seen["tokenEndpointCalls"] == 1, "the client fetched Better Auth's token once and reused it until near exp"


@pytest.mark.req(
    "API-TS-CLIENT",
    "AUTH-BETTER-AUTH",
    "API-ETAG",
    "API-IF-MATCH",
    "API-IF-NONE-MATCH",
    "API-IDEMPOTENT-CREATE",
    "API-IDEMPOTENCY-MISMATCH",
)
def test_the_typed_client_retries_creates_with_one_key_and_changes_only_what_it_read(
    driven: tuple[str, dict[str, Any]],
):
    _, seen = driven

    keyed, again = seen["keyedCreate"], seen["keyedCreateAgain"]
    task = keyed["task"]
    assert keyed["status"] == again["status"] == 201
    assert keyed["etag"] == '"1"', "a new task's tag is its first version"
    assert (again["task"], again["etag"], again["location"]) == (task, keyed["etag"], keyed["location"]), "replayed"
    assert seen["titles"].count("Typed bread") == 1, "the same key and body created one task"

    reused = seen["keyReused"]
    assert (reused["status"], reused["contentType"]) == (422, PROBLEM_JSON)
    assert reused["problem"]["type"] == "urn:todo-api:problem:idempotency-key-reused"
    assert "Typed cake" not in seen["titles"]

    lost = seen["lostReply"]
    assert lost["status"] == 201
    assert lost["task"]["title"] == "Typed rolls"
    assert lost["keys"][0], "an Idempotency-Key was sent"
    assert lost["keys"] == [lost["keys"][0]] * 3, "lost reply, 409, then the replay: three attempts with one key"
    assert seen["titles"].count("Typed rolls") == 1, "the lost reply's retry got the replay, not a second task"

    changed = seen["ifMatch"]
    assert changed["status"] == 200
    assert changed["task"]["title"] == "Typed rye bread"
    assert changed["etag"] not in (None, keyed["etag"]), "a change gives a new tag"

    stale = seen["staleIfMatch"]
    assert (stale["status"], stale["contentType"]) == (412, PROBLEM_JSON)
    assert stale["problem"]["type"] == "urn:todo-api:problem:precondition-failed"
    assert stale["etag"] == changed["etag"], "a 412 names the current tag"
    assert (seen["afterStale"]["task"], seen["afterStale"]["etag"]) == (changed["task"], changed["etag"]), "unchanged"

    replay = seen["replayAfterChange"]
    assert (replay["status"], replay["task"], replay["etag"]) == (201, task, keyed["etag"]), "the create's own answer"

    not_modified = seen["notModified"]
    assert (not_modified["status"], not_modified["etag"]) == (304, changed["etag"])
    assert not_modified["dataIsUndefined"], "openapi-fetch gives no data for a 304"
    assert not_modified["error"] in ("", "<undefined>"), "nor a Problem: only the status says 304"
    assert (seen["modifiedSince"]["status"], seen["modifiedSince"]["task"]) == (200, changed["task"])

    assert seen["staleDelete"]["status"] == 412
    assert seen["staleDelete"]["problem"]["type"] == "urn:todo-api:problem:precondition-failed"
    assert seen["currentDelete"]["status"] == 204

    documented = set(re.findall(r"urn:todo-api:problem:[a-z-]+", SPEC.read_text()))
    assert set(seen["problemTypes"]) == documented, "PROBLEM_KINDS in src/index.ts lists the documented types"
