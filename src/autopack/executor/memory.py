"""The executor's use of memory: learned rules into the Builder's prompt, and what a
completed phase teaches stored for later phases and runs.

Memory helps; it never decides a phase. A failure to remember is logged and written
under the run's ``errors/``, and the phase stays complete.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from autopack.db.orm import Phase, Run
from autopack.db.session import unit_of_work
from autopack.errors import AutopackError
from autopack.executor.recovery import FailureKind
from autopack.executor.runtime import RunContext
from autopack.memory.focus import ContextHint
from autopack.memory.store import repository_key
from autopack.services import memory as memory_service
from autopack.services.phases import get_phase

log = logging.getLogger(__name__)


@cache
def _repo_key(worktree: Path) -> str:
    return repository_key(worktree)


def run_repo_key(ctx: RunContext) -> str:
    """The key the run's repository's memory is kept under (its root commit)."""
    return _repo_key(ctx.worktree)


def learned_rules(
    ctx: RunContext, session: Session, phase: Phase, paths: Sequence[str]
) -> list[str]:
    """The repository's learned rules that match the phase (by path and task category),
    heaviest first; each is counted as used."""
    rows = memory_service.rules_for_phase(
        session,
        repo_key=run_repo_key(ctx),
        paths=paths,
        category=phase.task_category,
        now=ctx.deps.clock(),
    )
    return [r.text for r in rows]


#: Code regions asked of retrieval per phase, and kept per file the phase works on.
RETRIEVAL_LIMIT = 40
HINTS_PER_FILE = 6


@dataclass(frozen=True)
class PhaseQuery:
    """What retrieval is asked for a phase: its goal, texts and files."""

    phase_id: str
    goal: str
    phase_name: str
    description: str
    deliverables: Sequence[str]
    acceptance_criteria: Sequence[str]
    paths: Sequence[str]


def retrieval_hints(ctx: RunContext, query: PhaseQuery) -> list[ContextHint]:
    """Index the worktree's code (cached by content hash) and ask retrieval for the regions
    that match the phase; the hits inside the files the phase works on (scope paths and
    deliverables) are hints for cutting those files. Its own transactions (indexing embeds
    outside them), fenced like every executor write; a failure is logged and written
    under ``errors/``, and the phase goes on without hints (memory helps, it never
    decides). Like :func:`remember_phase`, only
    files changed since the commit indexed last are indexed again."""
    try:
        head = ctx.workspace.head()
        changed = (
            ctx.workspace.changed_between(ctx.memory_indexed_at, head)
            if ctx.memory_indexed_at is not None
            else None
        )
        found = memory_service.hints_for_phase(
            ctx.factory,
            ctx.worktree,
            repo_key=run_repo_key(ctx),
            goal=query.goal,
            phase_name=query.phase_name,
            description=query.description,
            deliverables=query.deliverables,
            acceptance_criteria=query.acceptance_criteria,
            limit=RETRIEVAL_LIMIT,
            paths=changed,
        )
        ctx.memory_indexed_at = head
    except (AutopackError, SQLAlchemyError, OSError) as exc:
        log.warning("memory: retrieval failed for phase %s: %s", query.phase_id, exc)
        ctx.artifacts.write_error(component="memory", error=exc, phase_id=query.phase_id)
        return []
    return in_files(found, query.paths)


def in_files(hints: Sequence[ContextHint], paths: Sequence[str]) -> list[ContextHint]:
    """The hints inside ``paths`` (files, ``dir/`` prefixes, ``path::Symbol``), at most
    :data:`HINTS_PER_FILE` per file, in their order."""
    roots = [p.partition("::")[0].strip().strip("/") for p in paths]
    per_file: dict[str, int] = {}
    kept: list[ContextHint] = []
    for hint in hints:
        inside = any(
            r in ("", ".") or hint.path == r or hint.path.startswith(r + "/") for r in roots
        )
        if inside and per_file.get(hint.path, 0) < HINTS_PER_FILE:
            per_file[hint.path] = per_file.get(hint.path, 0) + 1
            kept.append(hint)
    return kept


def remember_phase(
    ctx: RunContext, phase_id: str, failures: Sequence[tuple[FailureKind, str]]
) -> None:
    """Store the completed phase's summary, decisions, resolved errors and the rules they
    teach (one transaction), then re-index the worktree's changed files (in the index's
    own short transactions, embedding outside them; a failed re-index keeps what the
    phase taught).

    The first phase of an execution indexes the whole worktree (a file whose hash is
    known costs a read); later ones only the files changed since the commit indexed last,
    so a phase costs what it changed, not the repository's size."""
    kinds = {message: kind.value for kind, message in failures}
    try:
        head = ctx.workspace.head()
        changed = (
            ctx.workspace.changed_between(ctx.memory_indexed_at, head)
            if ctx.memory_indexed_at is not None
            else None
        )
        with unit_of_work(ctx.factory) as session:
            phase = get_phase(session, ctx.run_id, phase_id)
            memory_service.remember_completed_phase(
                session,
                phase,
                repo_key=run_repo_key(ctx),
                failure_kinds=kinds,
                now=ctx.deps.clock(),
            )
        indexed = changed == [] or _index(ctx, changed, phase_id)
        # After a failed pass the next one starts from the last good commit again.
        if indexed:
            ctx.memory_indexed_at = head
    except (AutopackError, SQLAlchemyError, OSError) as exc:
        log.warning("memory: could not remember phase %s: %s", phase_id, exc)
        ctx.artifacts.write_error(component="memory", error=exc, phase_id=phase_id)


def _index(ctx: RunContext, changed: list[str] | None, phase_id: str) -> bool:
    try:
        memory_service.index_repository(ctx.factory, ctx.worktree, run_repo_key(ctx), paths=changed)
    except (AutopackError, SQLAlchemyError, OSError) as exc:
        log.warning("memory: could not index the code after phase %s: %s", phase_id, exc)
        ctx.artifacts.write_error(component="memory", error=exc, phase_id=phase_id)
        return False
    return True


def remember_run(session: Session, run: Run) -> None:
    """Store the ended run's summary for its repository (never fails the run).

    Called in the transaction that ends the run, after its terminal state is set: ending a
    run releases its lease, so a later transaction of this executor would be refused by
    the fence (services/leases.py). A savepoint keeps a memory failure from undoing the
    run's end."""
    root = run.worktree_path or run.repo_path
    if not root or not Path(root).is_dir():
        return
    try:
        with session.begin_nested():
            memory_service.remember_run(session, run, repo_key=_repo_key(Path(root)))
    except (AutopackError, SQLAlchemyError, OSError) as exc:
        log.warning("memory: could not remember run %s: %s", run.id, exc)
