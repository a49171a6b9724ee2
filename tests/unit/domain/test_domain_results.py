"""The original wire contracts for agent results (BuilderResult, AuditorResult)."""

from __future__ import annotations

import json

import pydantic
import pytest

from autopack.domain.plan import MAX_COUNT
from autopack.domain.results import AuditorResult, BuilderResult
from autopack.domain.states import IssueSeverity


def test_the_original_minimal_builder_result_is_accepted() -> None:
    # What the original executor sent: ids, status and notes.
    result = BuilderResult.model_validate(
        {"phase_id": "p", "run_id": "r", "status": "success", "notes": "ok"}
    )
    assert result.files_changed == [] and result.builder_attempts == 1
    assert result.patch_content is None


def test_unknown_fields_from_other_clients_are_ignored() -> None:
    result = BuilderResult.model_validate(
        {"phase_id": "p", "run_id": "r", "status": "failed", "model_used": "x"}
    )
    assert "model_used" not in result.model_dump()


def test_status_and_severity_are_closed_vocabularies() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        BuilderResult.model_validate({"phase_id": "p", "run_id": "r", "status": "done"})
    assert "success" in str(caught.value) and "needs_review" in str(caught.value)
    result = BuilderResult.model_validate(
        {
            "phase_id": "p",
            "run_id": "r",
            "status": "success",
            "suggested_issues": [{"issue_key": "k", "severity": "major"}],
        }
    )
    assert result.suggested_issues[0].severity is IssueSeverity.MAJOR
    assert result.suggested_issues[0].source == "cursor_self_doubt"
    with pytest.raises(pydantic.ValidationError):
        AuditorResult.model_validate(
            {"phase_id": "p", "run_id": "r", "review_notes": "", "recommendation": "ship it"}
        )


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_because_the_payload_is_stored_as_json(value: str) -> None:
    body = json.loads(
        f'{{"phase_id": "p", "run_id": "r", "status": "success", "duration_minutes": {value}}}'
    )
    with pytest.raises(pydantic.ValidationError):
        BuilderResult.model_validate(body)


def test_counts_beyond_a_database_integer_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError):
        BuilderResult.model_validate(
            {"phase_id": "p", "run_id": "r", "status": "success", "tokens_used": MAX_COUNT + 1}
        )
    with pytest.raises(pydantic.ValidationError):
        AuditorResult.model_validate(
            {
                "phase_id": "p",
                "run_id": "r",
                "review_notes": "",
                "recommendation": "approve",
                "auditor_attempts": MAX_COUNT + 1,
            }
        )
