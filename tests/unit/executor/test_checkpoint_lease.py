"""When a checkpoint renews the run's lease, and when reading it is enough."""

from __future__ import annotations

from datetime import datetime, timedelta

from autopack.db.orm import Run
from autopack.executor.runtime import lease_is_fresh
from autopack.services.leases import Fence

NOW = datetime(2026, 1, 1, 12, 0, 0)
FENCE = Fence(run_id="r", owner="host:1:abc", token=3)


def _run(*, left: float, owner: str = FENCE.owner, token: int = FENCE.token) -> Run:
    return Run(
        id="r",
        lease_owner=owner,
        lease_token=token,
        lease_expires_at=NOW + timedelta(seconds=left),
    )


def test_a_lease_renewed_moments_ago_is_only_read() -> None:
    assert lease_is_fresh(_run(left=59), FENCE, 60, NOW)
    assert lease_is_fresh(_run(left=41), FENCE, 60, NOW)


def test_a_lease_with_a_third_or_less_used_up_is_renewed() -> None:
    assert not lease_is_fresh(_run(left=40), FENCE, 60, NOW)
    assert not lease_is_fresh(_run(left=-5), FENCE, 60, NOW)


def test_a_lease_someone_else_holds_is_never_fresh() -> None:
    # The renewal that follows is conditional on the token and raises LeaseLost.
    assert not lease_is_fresh(_run(left=59, owner="other:2:def"), FENCE, 60, NOW)
    assert not lease_is_fresh(_run(left=59, token=4), FENCE, 60, NOW)
    no_expiry = _run(left=59)
    no_expiry.lease_expires_at = None
    assert not lease_is_fresh(no_expiry, FENCE, 60, NOW)
