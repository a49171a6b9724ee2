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
      intention.md            the run's intention anchor (memory/intention.py)
      trajectory.jsonl        one JSON object per model call (``call`` numbered 1..N per
                              run, continued by a resumed run): messages as sent, answer,
                              usage, latency, error, the context behind the prompt
      env.json                the environment the project's commands ran in (key, tool
                              versions, installed packages); executor/environment.py
      setup.log               the environment build's and setup commands' output

Never inside a user's repository: the root is always the data dir. Writes are atomic
(temp file + rename) so a reader never sees half a summary, except the first layout of a
new run (``unpublished=True``): it is written inside the transaction that creates the
run, before any reader can know the run exists, so each file is written in place (one
open, write, close: a 100-phase layout costs about half as much). Every write goes through the
writer's :class:`~autopack.redaction.Redactor`: a test log that prints a token, an error
that quotes a key or a summary that copies either holds ``[REDACTED:<kind>]`` instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
import threading
import traceback
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autopack.redaction import DEFAULT_REDACTOR, Redactor

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
TRAJECTORY_FILE = "trajectory.jsonl"
#: One lock per process for trajectory appends (threads of one executor); the flock on
#: the file covers other processes.
_TRAJECTORY_LOCK = threading.Lock()
#: path -> (file size after our last append, its call number): saves re-reading a large
#: file on every call; any other writer changes the size and forces a scan.
_LAST_CALL: dict[Path, tuple[int, int]] = {}


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


def write_unpublished(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` in place (created or truncated; mode 0600 as
    :func:`write_atomic` leaves it; a symlink there is refused, never followed). Only for
    files no reader can look for yet: the directory must exist. A new file costs one
    open, write and close: an existing one (a deleted run of the same id left it) is
    truncated and narrowed to 0600 as well."""
    data = memoryview(text.encode("utf-8"))
    try:
        # O_EXCL never follows a symlink: one there is an existing name, handled below.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
        except BaseException:
            os.close(fd)
            raise
    try:
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


def phase_file(phase_index: int, phase_id: str) -> str:
    """A phase summary's path inside the run's directory: ``phases/phase_NN_<id>.md``."""
    return f"phases/phase_{phase_index:02d}_{_slug(phase_id)}.md"


class RunArtifacts:
    """Writer for one run's artifact directory. ``redactor`` defaults to shape-based
    redaction; the executor passes one that also knows the configured keys.
    ``unpublished``: the run is not committed yet, so files are written in place (see the
    module doc); every later writer replaces files atomically."""

    def __init__(
        self,
        runs_dir: Path,
        run_id: str,
        *,
        redactor: Redactor = DEFAULT_REDACTOR,
        unpublished: bool = False,
    ) -> None:
        self.root = runs_dir / run_id
        self.run_id = run_id
        self.redactor = redactor
        self.unpublished = unpublished

    def _write(self, path: Path, text: str) -> Path:
        if self.unpublished:
            write_unpublished(path, self.redactor.redact(text))
        else:
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
        return self.root / phase_file(phase_index, phase_id)

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

    def write_intention(self, anchor: str) -> Path:
        """``intention.md``: the run's intention anchor, as every prompt of the run gets it."""
        return self._write(
            self.root / "intention.md", f"# Intention of run {self.run_id}\n\n{anchor}\n"
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

    @property
    def trajectory_path(self) -> Path:
        return self.root / TRAJECTORY_FILE

    def append_call(self, record: Mapping[str, Any]) -> int:
        """Append one model call to ``trajectory.jsonl`` and return its call number.

        The number is one more than the highest already in the file, so a resumed run
        continues the numbering. The line is redacted, then written with one ``write`` on
        an ``O_APPEND`` descriptor under an exclusive flock: a reader sees whole lines
        only, and a line torn by a crash is closed off (a newline first) rather than
        merged with the next one.
        """
        path = self.trajectory_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with _TRAJECTORY_LOCK:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                cached = _LAST_CALL.get(path)
                prefix = ""
                if cached is not None and cached[0] == size:
                    last = cached[1]
                else:
                    with open(path, "rb") as existing:
                        data = existing.read()
                    last = max((c["call"] for c in _parse_calls(data)), default=0)
                    prefix = "\n" if data and not data.endswith(b"\n") else ""
                number = last + 1
                entry = {"call": number, **record}
                # Every value is redacted before encoding. No second pass over the encoded
                # line (as decisions get): a record is plain data with fixed keys, and one
                # pass over a 100 KB single-line JSON costs ~20x more than over the values.
                line = _json(self.redactor.redact_data(entry))
                payload = (prefix + line + "\n").encode("utf-8")
                os.write(fd, payload)
                _LAST_CALL[path] = (size + len(payload), number)
            finally:
                os.close(fd)  # closing releases the flock
        return number

    def read_calls(self) -> list[dict[str, Any]]:
        """Every recorded call of the run in call order (a torn line is skipped)."""
        return read_trajectory(self.trajectory_path)

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


def read_trajectory(path: Path) -> list[dict[str, Any]]:
    """The calls in a ``trajectory.jsonl`` in call order; [] when the file does not exist.
    Lines that are not a whole call record (a crash mid-write) are skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return sorted(_parse_calls(data), key=lambda c: int(c["call"]))


def _parse_calls(data: bytes) -> list[dict[str, Any]]:
    calls = []
    for raw in data.splitlines():
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("call"), int):
            calls.append(item)
    return calls


def _json(data: Any, *, indent: int | None = None) -> str:
    # Values are redacted before encoding (a secret must not be split by JSON escapes),
    # and the encoded text again by the writer (keys, and str() of odd values).
    return json.dumps(data, indent=indent, default=str)
