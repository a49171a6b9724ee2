"""Run artifacts: the files people read, under ``HOME/.autonomous_runs/<run_id>/``.

Layout::

    <run_id>/
      run_summary.md          state, budgets, tokens, outcome
      tiers/tier_NN_<slug>.md one per tier
      phases/phase_NN_<id>.md one per phase: attempts, decisions, tokens, files, test delta
      issues/                 phase issue files and the run issue index
      ci/                     test logs
      errors/                 <n>_<component>.json and .txt per error
      decision_log.jsonl      one JSON object per executor decision
      env.json                the environment the project's commands ran in (key, tool
                              versions, installed packages); executor/environment.py
      setup.log               the environment build's and setup commands' output

Never inside a user's repository: the root is always the data dir. Writes are atomic
(temp file + rename) so a reader never sees half a summary. Every write goes through the
writer's :class:`~autopack.redaction.Redactor`: a test log that prints a token, an error
that quotes a key or a summary that copies either holds ``[REDACTED:<kind>]`` instead.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import traceback
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autopack.redaction import DEFAULT_REDACTOR, Redactor

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def _slug(text: str) -> str:
    return _SLUG.sub("_", text).strip("_")[:60] or "x"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (same-directory temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _table(rows: Iterable[tuple[str, Any]]) -> str:
    lines = ["| field | value |", "| --- | --- |"]
    lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows]
    return "\n".join(lines)


def _summary_text(title: str, fields: Mapping[str, Any], body: str) -> str:
    """A Markdown summary: a title, a field table and an optional free-form body."""
    text = f"# {title}\n\n{_table(fields.items())}\n"
    if body:
        text += f"\n{body.rstrip()}\n"
    return text


class RunArtifacts:
    """Writer for one run's artifact directory. ``redactor`` defaults to shape-based
    redaction; the executor passes one that also knows the configured keys."""

    def __init__(
        self, runs_dir: Path, run_id: str, *, redactor: Redactor = DEFAULT_REDACTOR
    ) -> None:
        self.root = runs_dir / run_id
        self.run_id = run_id
        self.redactor = redactor

    def _write(self, path: Path, text: str) -> Path:
        write_atomic(path, self.redactor.redact(text))
        return path

    def _write_summary(self, path: Path, title: str, fields: Mapping[str, Any], body: str) -> Path:
        return self._write(path, _summary_text(title, fields, body))

    # -- layout ----------------------------------------------------------------------
    def ensure(self) -> Path:
        for sub in ("tiers", "phases", "issues", "ci", "errors"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        return self.root

    def tier_path(self, tier_index: int, tier_id: str) -> Path:
        return self.root / "tiers" / f"tier_{tier_index:02d}_{_slug(tier_id)}.md"

    def phase_path(self, phase_index: int, phase_id: str) -> Path:
        return self.root / "phases" / f"phase_{phase_index:02d}_{_slug(phase_id)}.md"

    # -- summaries -------------------------------------------------------------------
    def write_run_summary(self, fields: Mapping[str, Any], *, body: str = "") -> Path:
        return self._write_summary(self.root / "run_summary.md", f"Run {self.run_id}", fields, body)

    def write_tier_summary(
        self, tier_index: int, tier_id: str, fields: Mapping[str, Any], *, body: str = ""
    ) -> Path:
        return self._write_summary(
            self.tier_path(tier_index, tier_id), f"Tier {tier_id}", fields, body
        )

    def write_phase_summary(
        self, phase_index: int, phase_id: str, fields: Mapping[str, Any], *, body: str = ""
    ) -> Path:
        return self._write_summary(
            self.phase_path(phase_index, phase_id), f"Phase {phase_id}", fields, body
        )

    def write_issues(self, name: str, data: Any) -> Path:
        path = self.root / "issues" / f"{_slug(name)}.json"
        return self._write(path, _json(self.redactor.redact_data(data), indent=2) + "\n")

    def write_ci_log(self, name: str, text: str) -> Path:
        return self._write(self.root / "ci" / f"{_slug(name)}.log", text)

    # -- append-only records ---------------------------------------------------------
    def append_decision(self, record: Mapping[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        entry = {"at": datetime.now(UTC).isoformat(), **record}
        line = self.redactor.redact(_json(self.redactor.redact_data(entry)))
        with (self.root / "decision_log.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def write_error(
        self,
        *,
        component: str,
        error: BaseException | str,
        phase_id: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> Path:
        """A JSON and a readable text report for one error: run, phase, component, stack."""
        errors = self.root / "errors"
        errors.mkdir(parents=True, exist_ok=True)
        n = len(list(errors.glob("*.json"))) + 1
        if isinstance(error, BaseException):
            message = f"{type(error).__name__}: {error}"
            stack = "".join(traceback.format_exception(error))
        else:
            message, stack = error, ""
        report = {
            "run_id": self.run_id,
            "phase_id": phase_id,
            "component": component,
            "message": message,
            "stack": stack,
            "context": dict(context or {}),
            "at": datetime.now(UTC).isoformat(),
        }
        base = errors / f"{n:03d}_{_slug(component)}"
        self._write(base.with_suffix(".json"), _json(self.redactor.redact_data(report), indent=2))
        text = (
            f"Error in {component}\nrun: {self.run_id}\nphase: {phase_id or '-'}\n"
            f"at: {report['at']}\n\n{message}\n\n{stack}"
        )
        return self._write(base.with_suffix(".txt"), text).with_suffix(".json")


def _json(data: Any, *, indent: int | None = None) -> str:
    # Values are redacted before encoding (a secret must not be split by JSON escapes),
    # and the encoded text again by the writer (keys, and str() of odd values).
    return json.dumps(data, indent=indent, default=str)
