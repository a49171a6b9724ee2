"""Run artifacts: every file the writer produces is redacted, whatever wrote into it."""

from __future__ import annotations

import json
from pathlib import Path

from autopack.executor.artifacts import RunArtifacts
from autopack.redaction import Redactor

TOKEN = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
KNOWN = "plain-configured-key-0042"


def artifacts(tmp_path: Path) -> RunArtifacts:
    redactor = Redactor.with_known([(KNOWN, "openai_api_key")])
    writer = RunArtifacts(tmp_path / "runs", "r1", redactor=redactor)
    writer.ensure()
    return writer


def every_file(writer: RunArtifacts) -> str:
    return "".join(p.read_text() for p in writer.root.rglob("*") if p.is_file())


def test_every_kind_of_artifact_is_redacted(tmp_path: Path) -> None:
    writer = artifacts(tmp_path)
    writer.write_ci_log("001_p1", f"test printed {TOKEN} and {KNOWN}")
    writer.write_run_summary({"reason": f"failed: token={TOKEN}"}, body=f"key {KNOWN}")
    writer.write_tier_summary(0, "T1", {"note": KNOWN})
    writer.write_phase_summary(0, "p1", {"delta": f"1 new failure: {TOKEN}"}, body=KNOWN)
    writer.write_issues("p1", {"issues": [{"detail": f"leaked {TOKEN}"}], KNOWN: 1})
    writer.append_decision({"decision": "doctor", "why": f"log says {TOKEN}"})
    try:
        raise RuntimeError(f"provider refused key {KNOWN}")
    except RuntimeError as exc:
        writer.write_error(component="doctor", error=exc, context={"log": TOKEN})

    text = every_file(writer)
    assert TOKEN not in text and KNOWN not in text
    assert "[REDACTED:github_token]" in (writer.root / "ci" / "001_p1.log").read_text()
    error = json.loads(next((writer.root / "errors").glob("*.json")).read_text())
    assert error["message"] == "RuntimeError: provider refused key [REDACTED:openai_api_key]"
    assert error["context"] == {"log": "[REDACTED:github_token]"}
    decision = json.loads((writer.root / "decision_log.jsonl").read_text())
    assert decision["why"] == "log says [REDACTED:github_token]"


def test_by_default_secrets_of_a_known_shape_are_redacted(tmp_path: Path) -> None:
    writer = RunArtifacts(tmp_path / "runs", "r1")
    path = writer.write_ci_log("000_baseline", f"AWS AKIAIOSFODNN7EXAMPLE {TOKEN}")
    assert path.read_text() == "AWS [REDACTED:aws_access_key] [REDACTED:github_token]"
