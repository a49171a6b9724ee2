"""Finding the JSON object in an answer."""

from __future__ import annotations

import pytest

from autopack.agents.json_extract import extract_json_object
from autopack.errors import OutputParseError


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '```json\n{"a": 1}\n```',
        'Here is my verdict:\n```\n{"a": 1}\n```\nThanks.',
        'Sure! {"a": 1} is the answer.',
        '```json\n{"a": 1}',  # unterminated fence (answer cut off after the object)
    ],
)
def test_object_is_found(text: str) -> None:
    assert extract_json_object(text) == {"a": 1}


def test_first_object_in_prose_wins_over_braces_in_text() -> None:
    text = 'I checked {the diff}. Verdict: {"recommendation": "approve"} done'
    assert extract_json_object(text) == {"recommendation": "approve"}


def test_malformed_json_reports_why() -> None:
    with pytest.raises(OutputParseError, match=r"malformed.*line 1"):
        extract_json_object('```json\n{"a": 1,}\n```')


def test_no_object_and_empty_answers() -> None:
    with pytest.raises(OutputParseError, match="no JSON object"):
        extract_json_object("I approve this change.")
    with pytest.raises(OutputParseError, match="empty"):
        extract_json_object("   ")
    with pytest.raises(OutputParseError):
        extract_json_object("[1, 2]")
