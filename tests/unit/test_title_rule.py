"""The title rule the OpenAPI document states (a JSON Schema pattern) is exactly the rule the server applies: a
schema-driven client or fuzzer and the server agree on every string."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from backend.tasks.schemas import NO_NUL_PATTERN, TITLE_PATTERN, WHITESPACE, TaskWrite

EDGES = st.sampled_from([*WHITESPACE, "\x00", "\x1c", "\x85", "a", "é", "😀"])
titles = st.lists(EDGES | st.characters(codec="utf-8"), max_size=210).map("".join)


def _server_accepts(title: str) -> bool:
    try:
        TaskWrite(title=title)
    except ValidationError:
        return False
    return True


@pytest.mark.req("API-OPENAPI-VALID", "API-TITLE-RULES")
@settings(max_examples=600, deadline=None)
@given(title=titles)
@example(title=" " * 50 + "a" * 200 + "\u3000")
@example(title="\ufeff")
@example(title="\x1c")
def test_the_title_pattern_and_the_server_agree(title: str):
    assert bool(re.fullmatch(TITLE_PATTERN, title)) == _server_accepts(title)


@pytest.mark.req("API-OPENAPI-VALID", "API-DESCRIPTION-RULES")
@given(description=st.text(st.sampled_from("ab \x00")))
def test_the_description_pattern_and_the_server_agree_on_nul(description: str):
    try:
        TaskWrite(title="t", description=description)
        accepted = True
    except ValidationError:
        accepted = False
    assert bool(re.fullmatch(NO_NUL_PATTERN, description)) == accepted
