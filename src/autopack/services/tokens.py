"""Counting spent tokens on runs, tiers and phases, and the ``budget_80`` warning that
spending can raise: one function, whichever path spent them."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from autopack.db.orm import Phase, Run, Tier
from autopack.services import notifications


def count_tokens(
    session: Session, *, run_id: str, phase_pk: int | None, tier_pk: int | None, tokens: int
) -> None:
    """Add ``tokens`` to the run's ``tokens_used`` (and the phase's and its tier's, when
    given), and queue ``budget_80`` when this increment crossed 80% of the run's cap.

    The one place that counts tokens or decides ``budget_80``, whichever path spent them
    (a recorded LLM call, a submitted result, a phase update). Increments are in SQL and
    the run's new total is read right after its own UPDATE (which locks the row until the
    transaction ends), so concurrent writers never lose tokens and exactly one increment
    sees the line crossed. The session's loaded rows get the new totals on next read."""
    # The run's row first, as every fenced transaction locks it first.
    session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(tokens_used=Run.tokens_used + tokens)
        .execution_options(synchronize_session=False)
    )
    # Read after the UPDATE, in its transaction: the row is locked by it (PostgreSQL row
    # lock, SQLite write lock), so this is the total this increment made. (Not UPDATE ...
    # RETURNING: SQLite before 3.35, still in some distributions, has no RETURNING.)
    spent = session.execute(select(Run.tokens_used, Run.token_cap).where(Run.id == run_id)).first()
    for model, pk in ((Phase, phase_pk), (Tier, tier_pk)):
        if pk is not None:
            session.execute(
                update(model)
                .where(model.id == pk)
                .values(tokens_used=model.tokens_used + tokens)
                .execution_options(synchronize_session=False)
            )
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
