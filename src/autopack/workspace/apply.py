"""Governed apply: check every edit of an attempt, then write all of them or none.

:func:`apply_edits` is the one path from parsed model edits to bytes on disk:

1. path guards for every edit (:mod:`~autopack.workspace.guards`) and the files cap, the
   worktree's own ``.autopack.yaml`` ``protected_paths`` added to the policy's (a list
   that cannot be read refuses the attempt);
2. every edit placed and applied in memory (:mod:`~autopack.workspace.operations`), in
   order, each file loaded once and refused if binary, not UTF-8 or too large, and a
   result refused if it holds a NUL byte (git would show it to no reviewer);
3. size and net-deletion guards on the result; over the approval threshold nothing is
   written and the result says ``requires_approval``;
4. a savepoint (with a workspace), then atomic writes; any write error restores every
   original byte for byte, and so does a failed commit;
5. an optional commit of exactly the files changed.

A refusal is data (``status="rejected"`` with per-edit reasons), not an exception;
:meth:`ApplyResult.raise_for_rejection` turns it into :class:`~autopack.errors.ApplyRejected`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from difflib import SequenceMatcher
from pathlib import Path
from typing import Literal

from autopack.domain.edits import DeleteFile, Edit
from autopack.errors import ValidationError, WorkspaceError
from autopack.workspace.apply_result import (
    ApplyEvent,
    ApplyEventKind,
    ApplyResult,
    ApplyStatus,
    EditOutcome,
    FileChange,
    OutcomeStatus,
)
from autopack.workspace.git import GitWorkspace
from autopack.workspace.guards import (
    ApplyPolicy,
    GuardViolation,
    assess_deletions,
    check_path,
    project_protected_paths,
)
from autopack.workspace.matching import Candidate, split_lines
from autopack.workspace.operations import apply_operation
from autopack.workspace.textfile import TextFile, atomic_write, encode_text, load_text_file

#: Problems that stop a file from being edited as text but not from being deleted.
_DELETABLE = frozenset({"binary_file", "not_utf8", "file_too_large"})

__all__ = [
    "ApplyEvent",
    "ApplyEventKind",
    "ApplyResult",
    "ApplyStatus",
    "EditOutcome",
    "FileChange",
    "OutcomeStatus",
    "apply_edits",
]


def _rejected(result: ApplyResult, reason: str) -> ApplyResult:
    # Imported here: prometheus_client costs `autopack apply` more than the apply itself.
    from autopack.metrics import APPLY_REJECTIONS

    APPLY_REJECTIONS.labels(reason=reason).inc()
    return result


def apply_edits(
    worktree: Path,
    edits: Iterable[Edit],
    policy: ApplyPolicy,
    *,
    workspace: GitWorkspace | None = None,
    commit_message: str | None = None,
    dry_run: bool = False,
    always_savepoint: bool = True,
) -> ApplyResult:
    """Apply an attempt's ``edits`` to ``worktree`` under ``policy``, all or nothing.

    With ``workspace`` a savepoint precedes the writes (always, or with
    ``always_savepoint=False`` only when net deletions pass the savepoint threshold), and
    ``commit_message`` commits the changed files. ``dry_run`` checks everything and
    writes nothing. Raises :class:`WorkspaceError` only when git itself fails (the files
    are restored first).
    """
    root = Path(worktree)
    if not root.is_dir():
        raise ValidationError(f"worktree {root} is not a directory", field="worktree")
    if workspace is not None and workspace.path.resolve() != root.resolve():
        # Savepoints and commits would land in another tree than the files.
        raise ValidationError(
            f"the workspace is {workspace.path}, but the edits target {root}", field="workspace"
        )
    edits = list(edits)
    if not edits:
        return _rejected(
            ApplyResult(status="rejected", reason="the answer contains no edits"), "no_edits"
        )
    try:
        project = project_protected_paths(root)
    except ValidationError as exc:
        return _rejected(ApplyResult(status="rejected", reason=exc.message), "project_config")
    if project:
        protected = tuple(dict.fromkeys((*project, *policy.protected_paths)))
        policy = policy.model_copy(update={"protected_paths": protected})
    outcomes, attempt, refusal = _run_in_memory(root, edits, policy)
    if refusal is not None:
        return _rejected(ApplyResult(status="rejected", reason=refusal, outcomes=outcomes), "edits")
    changes, planned = _plan_changes(attempt)
    result = ApplyResult(
        status="applied",
        outcomes=outcomes,
        changes=changes,
        dry_run=dry_run,
        files_changed=[c.path for c in changes],
        lines_added=sum(c.lines_added for c in changes),
        lines_removed=sum(c.lines_removed for c in changes),
        # Per file, so deleting one file's work cannot hide behind adding to another.
        net_deleted_lines=sum(max(0, c.lines_removed - c.lines_added) for c in changes),
    )
    if not changes:
        return result.model_copy(
            update={"status": "no_op", "no_op": True, "reason": "every edit is already present"}
        )
    verdict = assess_deletions(result.net_deleted_lines, policy)
    counts = {
        "net_deleted_lines": verdict.net_deleted,
        "lines_added": result.lines_added,
        "lines_removed": result.lines_removed,
        "approval_threshold": policy.deletion_approval_lines,
        "notify_threshold": policy.deletion_notify_lines,
    }
    if verdict.level == "approval_required":
        message = (
            f"the attempt deletes {verdict.net_deleted} lines net, over the "
            f"{policy.deletion_approval_lines}-line threshold; a person must approve it"
        )
        result.events.append(ApplyEvent(kind="approval_required", message=message, data=counts))
        return result.model_copy(
            update={"status": "requires_approval", "requires_approval": True, "reason": message}
        )
    if verdict.level == "notify":
        result.events.append(
            ApplyEvent(
                kind="deletion_notice",
                data=counts,
                message=f"the attempt deletes {verdict.net_deleted} lines net",
            )
        )
    if dry_run:
        return result.model_copy(update={"status": "checked"})
    if workspace is not None and (always_savepoint or verdict.savepoint_required):
        result.savepoint = workspace.savepoint()
        result.events.append(
            ApplyEvent(
                kind="savepoint", message=f"savepoint {result.savepoint} taken before writing"
            )
        )
    elif verdict.savepoint_required:
        result.events.append(
            ApplyEvent(
                kind="savepoint_unavailable",
                data=counts,
                message=f"{verdict.net_deleted} lines deleted net without a savepoint (no git "
                "workspace)",
            )
        )
    error, made = _write_all(planned)
    if error is not None:
        result.events.append(ApplyEvent(kind="rolled_back", message=error))
        return _rejected(result.model_copy(update={"status": "rejected", "reason": error}), "write")
    if workspace is not None and commit_message:
        try:
            result.commit_sha = workspace.commit(commit_message, paths=result.files_changed)
        except WorkspaceError:
            _restore([f for f, _ in planned], made)
            raise
        result.events.append(ApplyEvent(kind="committed", message=f"committed {result.commit_sha}"))
    return result.model_copy(update={"applied": True})


def _run_in_memory(
    root: Path, edits: list[Edit], policy: ApplyPolicy
) -> tuple[list[EditOutcome], _Attempt, str | None]:
    """Check every path, load every file once, apply every edit in memory, in order.

    Returns the outcomes, the files as the edits left them, and why the attempt is
    refused (``None`` when every edit succeeded or was already present).
    """
    outcomes = [
        EditOutcome(index=i, kind=e.kind, path=e.path, status="not_checked")
        for i, e in enumerate(edits)
    ]
    attempt = _Attempt()
    keys: dict[int, Path] = {}
    for i, edit in enumerate(edits):
        checked = check_path(root, edit.path, policy)
        if isinstance(checked, GuardViolation):
            _fail(outcomes[i], checked.code, checked.message)
            continue
        # Keyed by the real path, so two spellings of one file share one in-memory copy.
        keys[i] = key = checked.abs.resolve()
        if key not in attempt.files:
            attempt.add(
                key, load_text_file(checked.rel, checked.abs, max_bytes=policy.max_file_bytes)
            )
        outcomes[i].path = attempt.files[key].rel
    if len(attempt.files) > policy.max_files_per_attempt:
        reason = (
            f"the attempt touches {len(attempt.files)} files, over the cap of "
            f"{policy.max_files_per_attempt}"
        )
        for i in keys:
            _fail(outcomes[i], "too_many_files", reason)
        return outcomes, attempt, reason
    for i, edit in enumerate(edits):
        if i in keys:
            _run_edit(outcomes[i], edit, keys[i], attempt, policy)
    failed = [o for o in outcomes if o.status == "failed"]
    if not failed:
        return outcomes, attempt, None
    first = failed[0]
    return (
        outcomes,
        attempt,
        f"{len(failed)} of {len(edits)} edits failed; first: edit {first.index} "
        f"({first.kind} {first.path}): {first.reason}",
    )


def _fail(
    outcome: EditOutcome, code: str, reason: str, candidates: Iterable[Candidate] = ()
) -> None:
    outcome.status, outcome.code, outcome.reason = "failed", code, reason
    outcome.candidates = list(candidates)


class _Attempt:
    """The attempt's files as edits change them in memory."""

    def __init__(self) -> None:
        self.files: dict[Path, TextFile] = {}
        self.texts: dict[Path, str | None] = {}
        #: Files that cannot be read as text but that an edit deletes.
        self.deleted: set[Path] = set()

    def add(self, key: Path, file: TextFile) -> None:
        if key not in self.files:
            self.files[key] = file
            self.texts[key] = file.text


def _run_edit(
    outcome: EditOutcome, edit: Edit, key: Path, attempt: _Attempt, policy: ApplyPolicy
) -> None:
    file = attempt.files[key]
    if file.problem is not None:
        if not (isinstance(edit, DeleteFile) and file.problem.code in _DELETABLE):
            _fail(outcome, file.problem.code, file.problem.message)
            return
        outcome.method = "whole_file"
        outcome.status = "already_present" if key in attempt.deleted else "applied"
        attempt.deleted.add(key)
        return
    result = apply_operation(attempt.texts[key], edit)
    outcome.method, outcome.notes = result.method, result.notes
    outcome.first_line, outcome.last_line = result.first_line, result.last_line
    if result.status == "failed":
        _fail(outcome, result.code or "failed", result.reason or "failed", result.candidates)
        return
    if result.text is not None and len(result.text.encode("utf-8")) > policy.max_file_bytes:
        _fail(
            outcome,
            "file_too_large",
            f"the result would be over the {policy.max_file_bytes}-byte cap",
        )
        return
    if result.text is not None and "\x00" in result.text:
        _fail(
            outcome,
            "binary_content",
            "the result would hold a NUL byte: git would take the file for binary and "
            "show no reviewer its lines; write text (a NUL in source code is written as "
            "an escape such as \\x00 or \\0)",
        )
        return
    outcome.status = result.status
    attempt.texts[key] = result.text


_Planned = list[tuple[TextFile, bytes | None]]


def _plan_changes(attempt: _Attempt) -> tuple[list[FileChange], _Planned]:
    """What to write (``None``: delete) and the line counts of each change."""
    changes: list[FileChange] = []
    planned: _Planned = []
    for key, file in sorted(attempt.files.items(), key=lambda item: item[1].rel):
        new, old = attempt.texts[key], file.text
        if file.problem is not None:
            if key in attempt.deleted:
                lines = 0 if file.problem.code == "binary_file" else (file.raw or b"").count(b"\n")
                changes.append(
                    FileChange(path=file.rel, action="deleted", lines_added=0, lines_removed=lines)
                )
                planned.append((file, None))
            continue
        if new == old:
            continue
        if new is None:
            changes.append(
                FileChange(
                    path=file.rel,
                    action="deleted",
                    lines_added=0,
                    lines_removed=len(split_lines(old or "")),
                )
            )
            planned.append((file, None))
            continue
        data = encode_text(file, new)
        if data == file.raw:
            continue
        added, removed = _count_changes(split_lines(old or ""), split_lines(new))
        action: Literal["created", "modified"] = "created" if old is None else "modified"
        changes.append(
            FileChange(path=file.rel, action=action, lines_added=added, lines_removed=removed)
        )
        planned.append((file, data))
    return changes, planned


def _count_changes(old: list[str], new: list[str]) -> tuple[int, int]:
    """Lines added and removed, as a line diff counts them."""
    # Edits are local: trimming the common ends keeps the matcher off the whole file.
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    old_mid, new_mid = old[head : len(old) - tail], new[head : len(new) - tail]
    added = removed = 0
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, old_mid, new_mid).get_opcodes():
        if tag != "equal":
            removed += i2 - i1
            added += j2 - j1
    return added, removed


def _write_all(planned: _Planned) -> tuple[str | None, list[Path]]:
    """Write every planned change; on the first error restore all and say why."""
    done: list[TextFile] = []
    made: list[Path] = []
    for file, data in planned:
        try:
            if data is None:
                file.abs.unlink()
            else:
                made.extend(_make_parents(file.abs.parent))
                atomic_write(file.abs, data, file.mode)
        except OSError as exc:
            problems = _restore([*done, file], made)
            note = (
                f"; restoring also failed: {'; '.join(problems)}"
                if problems
                else ("; every file was restored")
            )
            return f"writing {file.rel} failed ({exc}){note}", made
        done.append(file)
    return None, made


def _make_parents(directory: Path) -> list[Path]:
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir()
    return list(reversed(missing))


def _restore(files: list[TextFile], made: list[Path]) -> list[str]:
    """Put the original bytes back; returns what could not be restored."""
    problems: list[str] = []
    for file in reversed(files):
        try:
            if file.raw is None:
                file.abs.unlink(missing_ok=True)
            else:
                atomic_write(file.abs, file.raw, file.mode)
        except OSError as exc:
            problems.append(f"{file.rel}: {exc}")
    for directory in reversed(made):
        with contextlib.suppress(OSError):  # not empty: something else lives there now
            directory.rmdir()
    return problems
