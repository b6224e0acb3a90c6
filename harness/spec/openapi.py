"""The committed OpenAPI document (specs/openapi.json): generated from the code, compared with what is served."""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from backend.settings import Settings
from harness import SPECS

SNAPSHOT = SPECS / "openapi.json"
WRITE_COMMAND = "python -m tools.spec openapi --write"


class _CodeOnlySettings(Settings):
    """Settings from constructor arguments only, so the environment cannot change the snapshot."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, *_: Any, **__: Any
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def reference_schema() -> dict[str, Any]:
    """The schema the code produces. Building the app opens no connection and fetches no key."""
    from backend.app import create_app

    settings = _CodeOnlySettings(
        DATABASE_URL="postgresql://snapshot@127.0.0.1:9/snapshot",
        BETTER_AUTH_URL="http://127.0.0.1:9",
        TODO_ENV="test",
        TODO_LOG_LEVEL="WARNING",
    )
    return create_app(settings).openapi()


def canonical(schema: dict[str, Any]) -> str:
    """Sorted keys: key order is not part of the contract, and sorted files diff cleanly."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def committed() -> str:
    return SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""


def drift(served: dict[str, Any], against: str | None = None) -> str:
    """A unified diff from the committed snapshot to `served`; empty when they agree."""
    expected = committed() if against is None else against
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True),
        canonical(served).splitlines(keepends=True),
        fromfile="specs/openapi.json (committed)",
        tofile="/openapi.json (served)",
        n=3,
    )
    return "".join(lines)


def write() -> bool:
    """Regenerate the snapshot; True when it changed."""
    text = canonical(reference_schema())
    if text == committed():
        return False
    SNAPSHOT.write_text(text, encoding="utf-8")
    return True
