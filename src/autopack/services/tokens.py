"""Counting spent tokens on runs, tiers and phases, and the ``budget_80`` warning that
spending can raise: one function, whichever path spent them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from autopack.db.orm import Phase, Run, Tier
from autopack.services import notifications

# Core statements built once (their SQL is cached by SQLAlchemy on first use). The bound
# names differ from the tables' columns, which an UPDATE reserves for its SET clause.
_RUNS = cast(Table, Run.__table__)
_PHASES = cast(Table, Phase.__table__)
_TIERS = cast(Table, Tier.__table__)

#: The run's increment, returning the total it made and the cap (the row stays locked by
#: this UPDATE until the transaction ends: PostgreSQL's row lock, SQLite's write lock).
_ADD_TO_RUN = (
    update(_RUNS)
    .where(_RUNS.c.id == bindparam("count_run"))
    .values(tokens_used=_RUNS.c.tokens_used + bindparam("count_tokens"))
    .returning(_RUNS.c.tokens_used, _RUNS.c.token_cap)
)
#: The same, only when the run has the phase named ``count_phase``: a call for a phase
#: the run does not have changes nothing.
_ADD_TO_RUN_OF_PHASE = _ADD_TO_RUN.where(
    exists().where(_PHASES.c.run_id == _RUNS.c.id, _PHASES.c.phase_id == bindparam("count_phase"))
)
_ADD_TO_PHASE_BY_ID = (
    update(_PHASES)
    .where(_PHASES.c.run_id == bindparam("count_run"))
    .where(_PHASES.c.phase_id == bindparam("count_phase"))
    .values(tokens_used=_PHASES.c.tokens_used + bindparam("count_tokens"))
    .returning(_PHASES.c.id, _PHASES.c.tier_pk)
)
_ADD_TO_PHASE = (
    update(_PHASES)
    .where(_PHASES.c.id == bindparam("count_pk"))
    .values(tokens_used=_PHASES.c.tokens_used + bindparam("count_tokens"))
)
_ADD_TO_TIER = (
    update(_TIERS)
    .where(_TIERS.c.id == bindparam("count_pk"))
    .values(tokens_used=_TIERS.c.tokens_used + bindparam("count_tokens"))
)


def count_tokens(
    session: Session, *, run_id: str, phase_pk: int | None, tier_pk: int | None, tokens: int
) -> None:
    """Add ``tokens`` to the run's ``tokens_used`` (and the phase's and its tier's, when
    given), and queue ``budget_80`` when this increment crossed 80% of the run's cap.

    The one place that counts tokens or decides ``budget_80``, whichever path spent them
    (a recorded LLM call, a submitted result, a phase update). Increments are in SQL and
    the run's new total comes back from its own UPDATE (``RETURNING``; the UPDATE locks
    the row until the transaction ends), so concurrent writers never lose tokens and
    exactly one increment sees the line crossed. The session's pending changes are
    flushed first (a cap just set counts); its loaded rows get the new totals on next
    read."""
    session.flush()
    # The run's row first, as every fenced transaction locks it first.
    spent = session.execute(_ADD_TO_RUN, {"count_run": run_id, "count_tokens": tokens}).first()
    _add_to_phase_and_tier(session, phase_pk, tier_pk, tokens)
    _settle(session, run_id, phase_pk, tier_pk, tokens, spent)


def count_phase_tokens(session: Session, *, run_id: str, phase_id: str | None, tokens: int) -> bool:
    """:func:`count_tokens` for a phase named by its id (``None``: the run's alone), as a
    recorded LLM call names it: three statements (run, phase, tier) with no read first.
    False, having written nothing, when the run does not exist or has no such phase."""
    session.flush()
    if phase_id is None:
        spent = session.execute(_ADD_TO_RUN, {"count_run": run_id, "count_tokens": tokens}).first()
        if spent is None:
            return False
        _settle(session, run_id, None, None, tokens, spent)
        return True
    params: dict[str, Any] = {"count_run": run_id, "count_phase": phase_id, "count_tokens": tokens}
    spent = session.execute(_ADD_TO_RUN_OF_PHASE, params).first()
    if spent is None:
        return False
    # The phase that UPDATE saw is still there: phases go only with their run, whose row
    # this transaction now locks.
    phase_pk, tier_pk = session.execute(_ADD_TO_PHASE_BY_ID, params).one()
    _add_to_phase_and_tier(session, None, tier_pk, tokens)
    _settle(session, run_id, phase_pk, tier_pk, tokens, spent)
    return True


def _add_to_phase_and_tier(
    session: Session, phase_pk: int | None, tier_pk: int | None, tokens: int
) -> None:
    for statement, pk in ((_ADD_TO_PHASE, phase_pk), (_ADD_TO_TIER, tier_pk)):
        if pk is not None:
            session.execute(statement, {"count_pk": pk, "count_tokens": tokens})


def _settle(
    session: Session,
    run_id: str,
    phase_pk: int | None,
    tier_pk: int | None,
    tokens: int,
    spent: Sequence[Any] | None,
) -> None:
    """Expire the counted rows' ``tokens_used`` where the session holds them, and queue
    ``budget_80`` when this increment crossed the line."""
    keys: list[tuple[type[Run | Phase | Tier], str | int | None]] = [
        (Run, run_id),
        (Phase, phase_pk),
        (Tier, tier_pk),
    ]
    for cls, key in keys:
        loaded = session.identity_map.get(identity_key(cls, key)) if key is not None else None
        if loaded is not None:
            session.expire(loaded, ["tokens_used"])
    if spent is not None:
        after, cap = int(spent[0]), int(spent[1])
        notifications.tokens_spent(session, run_id, after - tokens, after, cap)
