"""What a Builder attempt was given: the files, kept whole or cut, what was left out, and
the repository map; :meth:`ContextBundle.to_record` is the per-attempt record of it
(without contents) that the attempt's payload and trajectory keep."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autopack.memory.focus import ContextHint

ContextKind = Literal["scope", "deliverable", "read_only", "related"]


class ContextRegion(BaseModel):
    """Lines ``start``..``end`` (1-based, inclusive) of a cut file, kept or left out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: int
    end: int
    label: str
    tokens: int


class ContextFile(BaseModel):
    """One file as the Builder sees it; ``truncated`` when ``content`` is a cut-down view,
    then ``kept`` and ``left_out`` say which lines, with their tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    content: str
    tokens: int
    truncated: bool = False
    kind: ContextKind
    reason: str = ""
    kept: list[ContextRegion] = Field(default_factory=list)
    left_out: list[ContextRegion] = Field(default_factory=list)


class OmittedFile(BaseModel):
    """A file that was considered and left out, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    reason: str


class RepoMapRecord(BaseModel):
    """What the repository map held: files and definitions shown, and what it cost."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int
    token_budget: int
    files: list[str]
    symbols: int
    ranked: int
    scanned: int
    parsed: int


class ContextBundle(BaseModel):
    """The files chosen for an attempt, in prompt order, the ones left out, and the
    repository map (``repo_map`` empty when none was asked for or nothing fitted)."""

    model_config = ConfigDict(extra="forbid")

    files: list[ContextFile] = Field(default_factory=list)
    omitted: list[OmittedFile] = Field(default_factory=list)
    tokens_used: int = 0
    token_budget: int
    repo_map: str = ""
    repo_map_record: RepoMapRecord | None = None
    #: Regions retrieval suggested for the phase (given to the focus step of cut files).
    #: None when retrieval did not run for this attempt.
    hints: list[ContextHint] | None = None

    def to_record(self) -> dict[str, Any]:
        """What was kept and what was left out, without file contents (stored per attempt):
        a cut file lists its kept and left-out regions with their tokens."""
        files = []
        for f in self.files:
            entry = f.model_dump(exclude={"content", "kept", "left_out"})
            if f.truncated:
                entry["kept"] = [r.model_dump() for r in f.kept]
                entry["left_out"] = [r.model_dump() for r in f.left_out]
            files.append(entry)
        record: dict[str, Any] = {
            "token_budget": self.token_budget,
            "tokens_used": self.tokens_used,
            "files": files,
            "omitted": [o.model_dump() for o in self.omitted],
        }
        if self.repo_map_record is not None:
            record["repo_map"] = self.repo_map_record.model_dump()
        if self.hints is not None:
            record["retrieval"] = [hint_record(h) for h in self.hints]
        return record


def hint_record(hint: ContextHint) -> dict[str, Any]:
    """A retrieval hint as stored in an attempt's context record (read back on a later
    attempt of the phase by :func:`hints_from_record`)."""
    return {
        "path": hint.path,
        "symbol": hint.symbol,
        "lines": [hint.start_line, hint.end_line],
        "score": round(hint.score, 6),
        "method": hint.method,
    }


def hints_from_record(record: Any) -> list[ContextHint] | None:
    """The retrieval hints stored in a context record, or None when it has none (it was
    made before retrieval ran, or is not a record)."""
    if not isinstance(record, dict) or not isinstance(record.get("retrieval"), list):
        return None
    hints = []
    for item in record["retrieval"]:
        lines = item.get("lines") or [0, 0]
        hints.append(
            ContextHint(
                path=str(item.get("path", "")),
                symbol=str(item.get("symbol", "")),
                start_line=int(lines[0]),
                end_line=int(lines[1]),
                score=float(item.get("score", 0.0)),
                method=str(item.get("method", "")),
            )
        )
    return hints
