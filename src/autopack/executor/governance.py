"""The governance step of an attempt, between its answer and its apply.

The attempt's governance requests are classed by the policy and recorded once (a resumed
attempt finds its rows), then:

- a request for a critical path refuses the attempt, and the Builder is told why;
- a request that needs a person parks the phase on a ``governance`` approval; the attempt
  is applied when the run resumes after the approval (a rejection or an expiry fails it,
  through the executor's usual check of rejected approvals);
- approved paths (low risk, or a person's yes) are granted to this attempt's apply only.

Critical paths are refused by the apply guard even when nobody asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from autopack.db.session import unit_of_work
from autopack.domain.edits import Edit
from autopack.domain.governance import AccessRequest, GovernanceDecision, Risk
from autopack.errors import ValidationError
from autopack.executor.runtime import RunContext
from autopack.services import governance as governance_service
from autopack.services.phases import get_phase
from autopack.workspace.governance import (
    classify,
    critical_among,
    project_governance,
    worktree_reader,
)
from autopack.workspace.guards import project_protected_paths


@dataclass(frozen=True)
class GovernanceVerdict:
    """What the attempt's apply runs under, or why it does not run now.

    ``granted``: protected paths lifted for this attempt. ``critical``: root-anchored
    patterns added to the protected list. ``refused``: the attempt fails with this reason.
    ``parked``: the phase waits for a person.
    """

    granted: tuple[str, ...] = ()
    critical: tuple[str, ...] = ()
    refused: str | None = None
    parked: bool = False


def govern_attempt(
    ctx: RunContext,
    phase_id: str,
    attempt_id: int,
    requests: list[AccessRequest],
    edits: list[Edit],
    protected: tuple[str, ...],
) -> GovernanceVerdict:
    """Class, record and decide the attempt's requests (see the module docstring).
    ``protected`` is every protected pattern of the apply except the project's, which is
    read here from the worktree like the apply guard reads it."""
    read = worktree_reader(ctx.worktree)
    try:
        config = project_governance(ctx.worktree)
        project = project_protected_paths(ctx.worktree)
    except ValidationError as exc:
        return GovernanceVerdict(refused=exc.message)
    all_protected = (*project, *protected)
    asked = [p for r in requests for p in r.paths]
    critical = (
        *config.critical_patterns(),
        *critical_among([*asked, *(e.path for e in edits)], config, read),
    )
    with unit_of_work(ctx.factory) as session:
        rows = governance_service.requests_for_attempt(session, attempt_id)
        if not rows and requests:
            phase = get_phase(session, ctx.run_id, phase_id)
            now = ctx.deps.clock()
            for request in requests:
                classes = [
                    classify(p, protected=all_protected, config=config, read=read)
                    for p in request.paths
                ]
                rows.extend(
                    governance_service.record_request(
                        session, phase, attempt_id, request, classes, now=now
                    )
                )
            refused = [r for r in rows if r.decision == GovernanceDecision.REFUSED.value]
            # Edits to critical paths would be refused after a person's yes: say so now.
            unasked = critical_among([e.path for e in edits], config, read)
            if refused or unasked:
                why = "; ".join(
                    [r.why for r in refused]
                    + [f"{p.lstrip('/')}: a critical path (edited, refused)" for p in unasked]
                )
                return GovernanceVerdict(
                    critical=critical,
                    refused=f"governance refused the request: {why}. Do the phase without "
                    "changing these paths.",
                )
            waiting = [r for r in rows if r.decision == GovernanceDecision.PENDING.value]
            if waiting:
                governance_service.ask_person(
                    session, phase, attempt_id, waiting, **ctx.approval_expiry()
                )
                ctx.decide(
                    session,
                    "park_for_approval",
                    "a governance request needs a person",
                    phase_id=phase_id,
                    attempt_id=attempt_id,
                    kind="governance",
                )
                ctx.deps.progress("awaiting_approval", phase_id=phase_id, kind="governance")
                return GovernanceVerdict(critical=critical, parked=True)
        governance_service.settle(session, rows)
        granted = governance_service.granted_paths(rows)
        if any(r.risk == Risk.CRITICAL.value for r in rows):
            # A resumed attempt whose request was refused never applies.
            why = "; ".join(r.why for r in rows if r.risk == Risk.CRITICAL.value)
            return GovernanceVerdict(critical=critical, refused=f"governance refused: {why}")
    return GovernanceVerdict(granted=granted, critical=critical)
