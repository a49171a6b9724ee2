"""Memory use cases: indexing, remembering a completed phase, learned rules, search,
stats and pruning. The only writers of the memory tables; callers own the transaction
(functions take a session and flush), except :func:`index_repository` and
:func:`hints_for_phase`, which take the session factory: indexing embeds with no
transaction open and writes in short ones (embedding a repository takes minutes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from autopack.db.orm import (
    DecisionLog,
    MemoryDocument,
    MemoryEmbedding,
    MemoryRule,
    Phase,
    Run,
)
from autopack.db.session import unit_of_work
from autopack.domain.plan import Scope
from autopack.domain.states import AttemptRole
from autopack.memory import rules as rule_logic
from autopack.memory.embeddings import EmbedderStatus
from autopack.memory.focus import ContextHint
from autopack.memory.retrieval import (
    SearchResult,
    default_embedder,
    retrieve_for_phase,
    search,
    semantic_unavailable,
)
from autopack.memory.store import Collection, Document
from autopack.services.memory_index import IndexStats, index_code, upsert_documents
from autopack.services.memory_store import SqlDocumentStore


def index_repository(
    factory: sessionmaker[Session],
    root: Path,
    repo_key: str,
    *,
    embedder: EmbedderStatus | None = None,
    paths: Sequence[str] | None = None,
) -> IndexStats:
    """Index (or re-index: only changed files cost anything) the code of ``root``; with
    ``paths``, only those files (a caller that knows what changed). Opens its own short
    transactions and embeds outside them (see :func:`index_code`)."""
    status = embedder or _default_embedder(factory)
    return index_code(factory, root, repo_key, embedder=status, paths=paths)


def _default_embedder(factory: sessionmaker[Session]) -> EmbedderStatus:
    with unit_of_work(factory) as session:
        return default_embedder(SqlDocumentStore(session))


def hints_for_phase(
    factory: sessionmaker[Session],
    root: Path,
    *,
    repo_key: str,
    goal: str,
    phase_name: str,
    description: str,
    deliverables: Sequence[str],
    acceptance_criteria: Sequence[str],
    limit: int,
    embedder: EmbedderStatus | None = None,
    paths: Sequence[str] | None = None,
) -> list[ContextHint]:
    """Index the worktree at ``root`` (unchanged files cost a hash; with ``paths``, only
    those files, and none for an empty list) and the code regions that match the phase,
    best first: hints for focused context. The index writes in its own short
    transactions (:func:`index_repository`); retrieval reads in one more."""
    status = embedder or _default_embedder(factory)
    if paths is None or paths:
        index_code(factory, root, repo_key, embedder=status, paths=paths)
    with unit_of_work(factory) as session:
        return retrieve_for_phase(
            SqlDocumentStore(session),
            repo_key=repo_key,
            goal=goal,
            phase_name=phase_name,
            description=description,
            deliverables=deliverables,
            acceptance_criteria=acceptance_criteria,
            limit=limit,
            embedder=status,
        )


@dataclass
class Remembered:
    """What :func:`remember_completed_phase` stored."""

    documents: int = 0
    rules: list[str] = field(default_factory=list)


def remember_completed_phase(
    session: Session,
    phase: Phase,
    *,
    repo_key: str,
    failure_kinds: dict[str, str],
    now: datetime,
    embedder: EmbedderStatus | None = None,
) -> Remembered:
    """Store what a completed phase teaches: its summary, its decisions, each failure a
    later attempt resolved with its fix, and the rule that would have prevented it.
    ``failure_kinds`` maps a failure message to its classified kind (the executor knows
    it; a message it does not know is stored without a kind)."""
    status = embedder or default_embedder(SqlDocumentStore(session))
    scope = Scope.model_validate(phase.scope)
    paths = tuple(dict.fromkeys([*scope.paths, *scope.deliverables]))
    builders = sorted(
        (a for a in phase.attempts if a.role == AttemptRole.BUILDER.value),
        key=lambda a: a.attempt_number,
    )
    done = Remembered()
    docs = [
        Document(
            collection=Collection.summaries,
            repo_key=repo_key,
            key=f"{phase.run_id}/{phase.phase_id}",
            title=f"phase {phase.phase_id}: {phase.name}",
            text="\n".join(
                part
                for part in (
                    phase.description,
                    f"Paths: {', '.join(paths)}" if paths else "",
                    f"Completed after {len(builders)} Builder attempt(s); "
                    f"commit {phase.commit_sha or '-'}.",
                )
                if part
            ),
            metadata={"run_id": phase.run_id, "phase_id": phase.phase_id, "paths": list(paths)},
        )
    ]
    decisions = session.scalars(
        select(DecisionLog).where(
            DecisionLog.run_id == phase.run_id, DecisionLog.phase_id == phase.phase_id
        )
    ).all()
    docs += [
        Document(
            collection=Collection.decisions,
            repo_key=repo_key,
            key=f"{phase.run_id}/{d.id}",
            title=f"{d.decision} in phase {phase.phase_id}: {phase.name}",
            text=d.rationale,
            metadata={"run_id": phase.run_id, "phase_id": phase.phase_id, "actor": d.actor},
        )
        for d in decisions
        if d.rationale.strip()
    ]
    succeeded = builders[-1] if builders else None
    learned: set[str] = set()
    for failed in builders[:-1]:
        if failed.payload.get("stage") != "failed" or succeeded is None:
            continue
        error = str(failed.payload.get("failure") or "")
        resolution = _resolution(succeeded.payload, error)
        resolved = rule_logic.ResolvedFailure(
            run_id=phase.run_id,
            phase_id=phase.phase_id,
            attempt=failed.attempt_number,
            failure_kind=failure_kinds.get(error, ""),
            error=error,
            hint=resolution,
            paths=paths,
            category=phase.task_category,
        )
        derived = rule_logic.derive_rule(resolved)
        # Several failures fixed by the same advice are one lesson, counted once per phase.
        if derived.rule_key not in learned:
            learned.add(derived.rule_key)
            _store_rule(session, repo_key, derived, now)
            done.rules.append(derived.text)
        docs.append(
            Document(
                collection=Collection.errors,
                repo_key=repo_key,
                key=f"{phase.run_id}/{phase.phase_id}/{failed.attempt_number}",
                title=f"{resolved.failure_kind or 'failure'} in {phase.phase_id}: {phase.name}",
                text=f"Error: {error}\nFix: {resolution or derived.text}",
                metadata={**derived.evidence, "paths": list(paths)},
            )
        )
    upsert_documents(session, docs, embedder=status, source=phase.run_id)
    done.documents = len(docs)
    return done


def remember_run(
    session: Session, run: Run, *, repo_key: str, embedder: EmbedderStatus | None = None
) -> None:
    """Store the ended run's summary: its goal, how it ended and each phase's outcome."""
    phases = sorted(run.phases, key=lambda p: (p.tier.tier_index, p.phase_index))
    lines = [
        run.goal,
        f"Ended {run.state}" + (f": {run.failure_reason}" if run.failure_reason else "."),
        *(
            f"- {p.phase_id} ({p.name}): {p.state}"
            + (f", {p.builder_attempts} Builder attempt(s)" if p.builder_attempts else "")
            for p in phases
        ),
    ]
    doc = Document(
        collection=Collection.summaries,
        repo_key=repo_key,
        key=f"{run.id}",
        title=f"run {run.id}: {run.name or run.goal[:80]}",
        text="\n".join(line for line in lines if line),
        metadata={"run_id": run.id, "state": run.state},
    )
    status = embedder or default_embedder(SqlDocumentStore(session))
    upsert_documents(session, [doc], embedder=status, source=run.id)


def _resolution(payload: dict[str, Any], error: str) -> str:
    """The advice the succeeding attempt was given (the Doctor's hint, a mitigation's
    suggestion), or "" when it was only told the error again."""
    hints = [str(h) for h in payload.get("hints") or []]
    if not hints:
        return ""
    last = hints[-1].strip()
    if not last or last == error.strip() or error.strip().startswith(last):
        return ""
    return last


def _store_rule(
    session: Session, repo_key: str, derived: rule_logic.DerivedRule, now: datetime
) -> MemoryRule:
    row = session.scalars(
        select(MemoryRule).where(
            MemoryRule.repo_key == repo_key, MemoryRule.rule_key == derived.rule_key
        )
    ).one_or_none()
    if row is None:
        row = MemoryRule(
            repo_key=repo_key,
            rule_key=derived.rule_key,
            text=derived.text,
            category=derived.category,
            failure_kind=derived.failure_kind,
            paths=list(derived.paths),
            evidence=[derived.evidence],
            times_seen=1,
            created_at=now,
            last_seen_at=now,
        )
        session.add(row)
    else:
        row.times_seen += 1
        row.last_seen_at = now
        row.evidence = [*row.evidence, derived.evidence][-10:]
    session.flush()
    return row


def rules_for_phase(
    session: Session,
    *,
    repo_key: str,
    paths: Sequence[str],
    category: str,
    now: datetime,
    limit: int = rule_logic.MAX_RULES_PER_PROMPT,
) -> list[MemoryRule]:
    """The repository's rules that apply to a phase touching ``paths`` in ``category``,
    heaviest first (at most ``limit``); each is counted as used now."""
    matching = [
        r
        for r in list_rules(session, repo_key=repo_key)
        if rule_logic.category_matches(r.category, category)
        and rule_logic.paths_overlap(r.paths, paths)
    ]
    matching.sort(key=lambda r: (-_weight(r, now), r.id))
    chosen = matching[:limit]
    for row in chosen:
        row.hit_count += 1
        row.last_used_at = now
    session.flush()
    return chosen


def _weight(row: MemoryRule, now: datetime) -> float:
    last = max(row.last_seen_at, row.last_used_at or row.last_seen_at)
    return rule_logic.weight(row.times_seen, row.hit_count, last, now)


def list_rules(session: Session, *, repo_key: str | None) -> list[MemoryRule]:
    """Rules of one repository (``None``: every repository), oldest first."""
    query = select(MemoryRule).order_by(MemoryRule.id)
    if repo_key is not None:
        query = query.where(MemoryRule.repo_key == repo_key)
    return list(session.scalars(query))


def search_memory(
    session: Session,
    query: str,
    *,
    repo_key: str | None,
    collections: Sequence[str] = (),
    limit: int = 10,
) -> SearchResult:
    """Ranked hits for ``query`` (see :func:`autopack.memory.retrieval.search`)."""
    store = SqlDocumentStore(session)
    return search(store, query, repo_key=repo_key, collections=collections, limit=limit)


@dataclass
class MemoryStats:
    """Counts per collection, rules, the embedding cache per model, and why semantic
    search is off ("" when it is on)."""

    documents: dict[str, int]
    rules: int
    embeddings: dict[str, int]
    semantic: str


def memory_stats(session: Session) -> MemoryStats:
    """What memory holds, and whether semantic search works on this database."""
    documents = dict.fromkeys((c.value for c in Collection), 0)
    for collection, count in session.execute(
        select(MemoryDocument.collection, func.count()).group_by(MemoryDocument.collection)
    ).all():
        documents[collection] = int(count)
    embeddings = {
        str(model): int(count)
        for model, count in session.execute(
            select(MemoryEmbedding.model, func.count()).group_by(MemoryEmbedding.model)
        ).all()
    }
    rules = int(session.scalar(select(func.count()).select_from(MemoryRule)) or 0)
    reason = semantic_unavailable(SqlDocumentStore(session))
    return MemoryStats(documents, rules, embeddings, reason)


@dataclass
class PruneResult:
    """The stale rules (removed unless it was a dry run) and unused cached embeddings."""

    rules: list[MemoryRule]
    embeddings: int


def prune_memory(
    session: Session, *, older_than_days: float, now: datetime, dry_run: bool
) -> PruneResult:
    """Remove rules neither seen nor used for ``older_than_days`` days, and cached
    embeddings no document has any more. ``dry_run`` only reports."""
    cutoff = now - timedelta(days=older_than_days)
    stale = [
        r
        for r in list_rules(session, repo_key=None)
        if max(r.last_seen_at, r.last_used_at or r.last_seen_at) < cutoff
    ]
    used = select(MemoryDocument.content_hash)
    orphan_query = select(MemoryEmbedding.id).where(MemoryEmbedding.content_hash.not_in(used))
    orphans = list(session.scalars(orphan_query))
    if not dry_run:
        for row in stale:
            session.delete(row)
        if orphans:
            session.execute(delete(MemoryEmbedding).where(MemoryEmbedding.id.in_(orphans)))
        session.flush()
    return PruneResult(stale, len(orphans))
