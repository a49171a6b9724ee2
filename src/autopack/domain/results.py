"""The original wire contracts for agent results: BuilderResult, AuditorRequest and
AuditorResult, field for field as the earlier implementation's clients send them.

Where the original took free text for a closed vocabulary (status, severity,
recommendation), these models name the allowed values, so a typo is a 422 that says what is
allowed instead of a state nobody knows.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from autopack.domain.plan import MAX_COUNT
from autopack.domain.states import IssueSeverity


class _Wire(BaseModel):
    # Unknown fields from newer or older clients are ignored, never a 422. NaN and
    # infinity are refused: the payload is stored as JSON, which cannot hold them.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class BuilderProbeResult(_Wire):
    probe_type: str = Field(..., description="pytest, lint, script, etc.")
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    duration_seconds: float = 0.0


class BuilderSuggestedIssue(_Wire):
    issue_key: str = Field(..., min_length=1, max_length=200)
    severity: IssueSeverity
    source: str = "cursor_self_doubt"
    category: str = Field(default="general", max_length=64)
    evidence_refs: list[str] = Field(default_factory=list)
    description: str = ""


class BuilderResult(_Wire):
    phase_id: str
    run_id: str
    patch_content: str | None = Field(None, description="A diff or any supported edit format")
    files_changed: list[str] = Field(default_factory=list)
    lines_added: int = Field(default=0, ge=0, le=MAX_COUNT)
    lines_removed: int = Field(default=0, ge=0, le=MAX_COUNT)
    builder_attempts: int = Field(default=1, ge=0, le=MAX_COUNT)
    tokens_used: int = Field(default=0, ge=0, le=MAX_COUNT)
    duration_minutes: float = Field(default=0.0, ge=0)
    probe_results: list[BuilderProbeResult] = Field(default_factory=list)
    suggested_issues: list[BuilderSuggestedIssue] = Field(default_factory=list)
    status: Literal["success", "failed", "needs_review"]
    notes: str = ""


class AuditorRequest(_Wire):
    phase_id: str
    run_id: str
    tier_id: str
    builder_result: BuilderResult | None = None
    failure_context: str = ""
    review_focus: str = Field(default="general", description="general, security, schema, ...")
    auditor_profile: str | None = None


class AuditorSuggestedPatch(_Wire):
    description: str
    patch_content: str
    files_affected: list[str] = Field(default_factory=list)


class AuditorResult(_Wire):
    phase_id: str
    run_id: str
    review_notes: str
    issues_found: list[BuilderSuggestedIssue] = Field(default_factory=list)
    suggested_patches: list[AuditorSuggestedPatch] = Field(default_factory=list)
    auditor_attempts: int = Field(default=1, ge=0, le=MAX_COUNT)
    tokens_used: int = Field(default=0, ge=0, le=MAX_COUNT)
    recommendation: Literal["approve", "revise", "escalate"]
    confidence: str = Field(default="medium", description="low, medium, high (or 0..1)")
