"""One phase's attempt loop: context, Builder, parse, governed apply, verify, Auditor,
finalize; on failure, the recovery table, deterministic hardening, then the Doctor.

Every step is persisted before the next begins. A Builder attempt's row records its stage
(``answered`` -> ``applied`` -> ``verified`` -> ``audited`` -> ``done`` or ``failed``), so a
killed executor resumes an attempt at its last completed step: the Builder's answer is never
asked for twice, and a half-written apply is discarded (the worktree is reset to the
phase's savepoint) and redone from the stored answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from autopack.agents.auditor import (
    DIFF_CHAR_LIMIT,
    MAX_DIFF_PARTS,
    AuditorContext,
    CodeFile,
    review_parts,
    run_auditor,
    run_goal_check,
    unreadable_changes,
)
from autopack.agents.builder import BuilderContext, ContextRef, FileContext, run_builder
from autopack.agents.doctor import DoctorContext, run_doctor
from autopack.agents.output import parse_model_output
from autopack.db.orm import Approval, DecisionLog, Phase, PhaseAttempt, Run, Tier
from autopack.db.session import unit_of_work
from autopack.domain.plan import PhaseSpec, Scope
from autopack.domain.states import (
    AttemptRole,
    IssueSeverity,
    PhaseState,
    RunState,
    SafetyProfile,
    TierState,
)
from autopack.errors import (
    AutopackError,
    BudgetExhausted,
    ConfigurationError,
    ProviderError,
    ValidationError,
)
from autopack.executor import memory as executor_memory
from autopack.executor import recovery
from autopack.executor.context import ContextBundle, select_context
from autopack.executor.context_bundle import hints_from_record
from autopack.executor.environment import current_environment, project_command_env, test_commands
from autopack.executor.governance import govern_attempt
from autopack.executor.intention import check_phase_drift
from autopack.executor.recovery import Action, FailureHistory, FailureKind, PhaseRecoveryBudget
from autopack.executor.runtime import RunContext
from autopack.llm.base import Completion
from autopack.llm.router import Routing
from autopack.memory.focus import ContextHint
from autopack.memory.repomap import is_source_file
from autopack.memory.tags import TagCache
from autopack.services import approvals as approval_service
from autopack.services import governance as governance_service
from autopack.services import issues as issue_service
from autopack.services import notes as note_service
from autopack.services.phases import get_phase, set_phase_state
from autopack.services.routing import overrides_for
from autopack.services.runs import set_tier_state, write_phase_layout
from autopack.toolchains.results import TestReport
from autopack.verify.baseline import Baseline, TestDelta, compute_delta
from autopack.verify.finalizer import FinalizerInputs, GuardOutcome, PhaseFinalizer
from autopack.verify.hardening import (
    FailureContext,
    WorktreeFix,
    apply_worktree_fixes,
    harden,
)
from autopack.verify.suite import run_tests
from autopack.workspace.apply import apply_edits
from autopack.workspace.guards import ApplyPolicy, project_protected_paths

PhaseOutcome = Literal["complete", "failed", "skipped", "parked"]
CONTEXT_TOKEN_BUDGET = 24_000
REPO_MAP_TOKENS = 2_000  # of CONTEXT_TOKEN_BUDGET, for the Builder's repository map
MAX_HINTS = 6
#: Approval kinds a person gives on an attempt that applied, passed its tests and was
#: audited (or could not be): its commits are held off the branch until then.
PERSON_REVIEW_KINDS = ("auditor_budget", "test_removal", "human_review", "auditor_escalation")
#: Approvals that mean "a person looked at the whole change" (human_review is satisfied).
WHOLE_CHANGE_KINDS = frozenset({"auditor_budget", "human_review", "auditor_escalation"})
APPROVAL_DIFF_CHARS = 20_000
#: Deletion guard thresholds of a safety_critical run (normal: notify 100, approval 200).
SAFETY_CRITICAL_DELETION = {"deletion_notify_lines": 25, "deletion_approval_lines": 50}


#: An attempt's payload alone, and how many attempts of a role a phase has: read several
#: times a phase, so built once (building a statement cost more than running it).
_PAYLOAD_OF = select(PhaseAttempt.payload).where(PhaseAttempt.id == bindparam("attempt_pk"))
_ATTEMPTS_OF_ROLE = (
    select(func.count())
    .select_from(PhaseAttempt)
    .where(PhaseAttempt.phase_pk == bindparam("phase_pk"), PhaseAttempt.role == bindparam("role"))
)


def held_ref(run_id: str, attempt_id: int) -> str:
    """Where an attempt's commits wait, off the run branch, while a person reviews them."""
    return f"refs/autopack/{run_id}/held/{attempt_id}"


def rolled_back_prefix(run_id: str) -> str:
    """Where a rolled-back run's commits stay reachable: ``<prefix><n>``."""
    return f"refs/autopack/{run_id}/rolled-back/"


class RunFailed(Exception):
    """A failure that ends the run in ``state`` (environment, provider auth, ...)."""

    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


@dataclass
class Failure:
    kind: FailureKind
    message: str
    logs: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: The exception behind the failure, when there is one: reported under errors/.
    error: BaseException | None = None

    def error_context(self) -> dict[str, Any]:
        """The exception's own context, minus bulky fields (the answer is on the attempt)."""
        context = getattr(self.error, "context", {}) or {}
        return {k: v for k, v in context.items() if k not in ("answer", "diagnostics")}


def phase_commit_message(run_id: str, phase: Phase) -> str:
    return f"{phase.phase_id}: {phase.name}\n\nAutopack run {run_id}, phase {phase.phase_id}."


class PhaseExecution:
    """Executes one phase to a terminal state (or parks it for a person's approval)."""

    def __init__(self, ctx: RunContext, phase_id: str, baseline: Baseline | None) -> None:
        self.ctx = ctx
        self.phase_id = phase_id
        self.baseline = baseline
        self.history = FailureHistory()
        self.finalizer = PhaseFinalizer()
        self._savepoint_heads: dict[str, str] = {}
        #: The attempt this execution just asked the Builder for, its worktree put at the
        #: savepoint (hardening fixes made) before the call, and untouched since: its
        #: apply need not check and reset the worktree again.
        self._fresh_attempt: int | None = None
        #: The worktree is the savepoint this execution just made (its state, uncommitted
        #: files included, is what the savepoint holds): nothing to check or reset until a
        #: step that writes the worktree (tests, hardening, an apply) has run.
        self._at_savepoint = False
        #: What the plan fixed for the phase (its scope) and the rows it lives in, read
        #: once when the execution starts: none of them changes while the phase runs.
        self._scope: Scope | None = None
        self._phase_pk: int | None = None
        self._tier_pk: int | None = None
        #: The retrieval query of a phase with no attempt yet, read with the phase when
        #: the execution starts (its first attempt need not read the phase again for it).
        self._first_query: executor_memory.PhaseQuery | None = None

    # -- the loop ---------------------------------------------------------------------
    def run(self) -> PhaseOutcome:
        ctx = self.ctx
        with unit_of_work(ctx.factory) as session:
            now = ctx.deps.clock()
            approvals = approval_service.list_approvals(session, run_id=ctx.run_id)
            if any(approval_service.is_overdue(a, now) for a in approvals):
                # The executor meets a parked phase: an approval past its time expires now
                # (locked and read again first: a person may be deciding it this moment).
                approval_service.expire_overdue(session, now, run_id=ctx.run_id)
            phase = self._phase(session)
            if phase.state == PhaseState.AWAITING_APPROVAL.value:
                return "parked"
            if phase.state == PhaseState.FAILED.value:
                return "failed"  # its approval expired, and the plan fails the phase
            self._take_override(session, approvals)
            # A phase an API client moved to GATE or CI_RUNNING is executed from EXECUTING
            # (CI_RUNNING could not park for an approval, for one).
            if phase.state in (
                PhaseState.QUEUED.value,
                PhaseState.GATE.value,
                PhaseState.CI_RUNNING.value,
            ):
                set_phase_state(session, phase, PhaseState.EXECUTING, now=ctx.deps.clock())
            if phase.savepoint is None:
                phase.savepoint = ctx.workspace.savepoint()
                self._at_savepoint = True
            if self._already_committed(phase):
                return self._complete(session, phase, commit=False)
            builders = [a for a in phase.attempts if a.role == AttemptRole.BUILDER.value]
            if builders and builders[-1].payload.get("stage") == "done":
                # Killed after the attempt was done, before the squash moved the branch:
                # its commits are still there; finish it.
                return self._complete(session, phase, commit=True)
            # Read here what the next steps need, not in a transaction of their own each.
            scope = self._remember(phase)
            deliverables = scope.deliverables
            built_before = phase.builder_attempts > 0
            if not phase.attempts:
                self._first_query = self._query(phase, scope)
            session.flush()  # the phase's changes written: the attempt can leave the session
            attempt = self._unfinished(session, phase)
        ctx.deps.progress("phase_started", phase_id=self.phase_id)
        if not built_before and (done := self._maybe_complete_without_edits(deliverables)):
            return done
        while True:
            outcome = self._new_attempt() if attempt is None else self._continue(attempt)
            if outcome is not None:
                return outcome
            attempt = self._open_attempt()

    def _take_override(self, session: Session, approvals: list[Approval]) -> None:
        """A person approved an attempt the Auditor escalated: it counts as approved.
        ``approvals`` are the run's, read in ``session``."""
        for approval in approvals:
            details = dict(approval.details)
            if (
                approval.phase_id != self.phase_id
                or approval.kind != "auditor_escalation"
                or approval.status != "approved"
                or details.get("consumed")
            ):
                continue
            row = session.get(PhaseAttempt, details.get("attempt_id"))
            if row is not None:
                row.payload = {
                    **row.payload,
                    "stage": "audited",
                    "verdict": "approve",
                    "audit": f"approved by {approval.decided_by} over the Auditor's escalation",
                }
                row.status = "audited"
            approval.details = {**details, "consumed": True}
            self.ctx.decide(
                session,
                "human_override",
                "a person approved the escalated attempt",
                phase_id=self.phase_id,
                actor=approval.decided_by or "",
            )

    def _phase(self, session: Session) -> Phase:
        return get_phase(session, self.ctx.run_id, self.phase_id)

    def _remember(self, phase: Phase) -> Scope:
        """Keep what does not change while the phase runs: its scope and its rows' keys."""
        self._scope = Scope.model_validate(phase.scope)
        self._phase_pk, self._tier_pk = phase.id, phase.tier_pk
        return self._scope

    def _fixed(self) -> tuple[Scope, int, int]:
        """The phase's scope, row id and tier row id (read once, see :meth:`_remember`)."""
        if self._scope is None or self._phase_pk is None or self._tier_pk is None:
            with unit_of_work(self.ctx.factory) as session:
                self._remember(self._phase(session))
        assert self._scope is not None and self._phase_pk is not None
        assert self._tier_pk is not None
        return self._scope, self._phase_pk, self._tier_pk

    def _query(self, phase: Phase, scope: Scope) -> executor_memory.PhaseQuery:
        """What retrieval searches the memory with for ``phase``."""
        return executor_memory.PhaseQuery(
            phase_id=phase.phase_id,
            goal=self.ctx.spec.goal or "",
            phase_name=phase.name,
            description=phase.description,
            deliverables=scope.deliverables,
            acceptance_criteria=scope.acceptance_criteria,
            paths=[*scope.paths, *scope.deliverables],
        )

    def _attempt_rows(self, session: Session, role: AttemptRole) -> int:
        """How many attempt rows of ``role`` the phase has (one count, not the rows)."""
        _, phase_pk, _ = self._fixed()
        count = session.scalar(_ATTEMPTS_OF_ROLE, {"phase_pk": phase_pk, "role": role.value})
        return int(count or 0)

    def _already_committed(self, phase: Phase) -> bool:
        """A phase whose squash commit landed before the executor died is complete."""
        subject = phase_commit_message(self.ctx.run_id, phase).splitlines()[0]
        ws = self.ctx.workspace
        return ws.head_subject() == subject and ws.is_clean()

    def _open_attempt(self) -> PhaseAttempt | None:
        """The latest Builder attempt if it has not finished (resume point). Only the
        executor's attempts have a stage; results submitted through the API do not."""
        with unit_of_work(self.ctx.factory) as session:
            return self._unfinished(session, self._phase(session))

    @staticmethod
    def _unfinished(session: Session, phase: Phase) -> PhaseAttempt | None:
        """:meth:`_open_attempt` in the caller's transaction (the row leaves the session)."""
        builders = [
            a
            for a in phase.attempts
            if a.role == AttemptRole.BUILDER.value and "stage" in a.payload
        ]
        if builders and builders[-1].payload["stage"] not in ("done", "failed"):
            session.expunge(builders[-1])
            return builders[-1]
        return None

    # -- a new attempt ----------------------------------------------------------------
    def _new_attempt(self) -> PhaseOutcome | None:
        ctx = self.ctx
        # Before the attempt's transaction, not inside it: indexing writes in a transaction
        # of its own (a second one nested in this thread would wait on the first's lock).
        retrieved = self._retrieval()
        with unit_of_work(ctx.factory) as session:
            phase = self._phase(session)
            if phase.builder_attempts >= phase.max_builder_attempts:
                return self._fail(
                    session,
                    phase,
                    f"all {phase.max_builder_attempts} Builder "
                    f"attempts used; last failure: {phase.last_failure or '-'}",
                )
            self._from_savepoint(session, phase)
            spec = self.ctx.spec
            scope = Scope.model_validate(phase.scope)
            bundle = self._context(
                scope,
                texts=(phase.name, phase.description),
                repo_map_tokens=REPO_MAP_TOKENS,
                hints=retrieved,
            )
            notes = [n.note for n in note_service.notes_for_run(session, ctx.run_id)]
            hints = list(phase.hints)
            # Rules learned in earlier runs of this repository, for phases like this one.
            rules = executor_memory.learned_rules(
                ctx, session, phase, [*scope.paths, *scope.deliverables]
            )
            builder_ctx = BuilderContext(
                run_id=ctx.run_id,
                phase_id=phase.phase_id,
                goal=spec.goal or spec.name,
                phase_name=phase.name,
                phase_description=phase.description,
                task_category=phase.task_category,
                complexity=phase.complexity,
                builder_mode=phase.builder_mode,
                deliverables=scope.deliverables,
                allowed_paths=scope.paths,
                protected_paths=ApplyPolicy.for_phase(
                    scope,
                    run_protected=spec.protected_paths,
                    project_protected=project_protected_paths(ctx.worktree),
                ).all_protected(),
                read_only_context=[ContextRef(c.path, c.reason) for c in scope.read_only_context],
                acceptance_criteria=scope.acceptance_criteria,
                files=[
                    FileContext(f.path, f.content, f.truncated, f.kind == "read_only")
                    for f in bundle.files
                ],
                repo_map=bundle.repo_map,
                learned_rules=[*rules, *hints[:-1]],
                human_notes=notes,
                previous_failure=hints[-1] if hints else None,
                attempt=phase.builder_attempts + 1,
                intention=ctx.intention,
            )
            routing = self._routing(session, phase, failures=self._failed_attempts(phase))
            attempt_number = phase.builder_attempts + 1
            # The trajectory numbers attempts like the rows (a resumed run resets the budget).
            row_number = 1 + sum(a.role == AttemptRole.BUILDER.value for a in phase.attempts)
        choice = ctx.client.select("builder", routing)
        ctx.checkpoint(before="llm", phase_id=self.phase_id)
        ctx.deps.progress("builder", phase_id=self.phase_id, attempt=attempt_number)
        try:
            with ctx.client.tagged(
                attempt=row_number, purpose="builder", context=bundle.to_record()
            ):
                answer = run_builder(ctx.client, builder_ctx, routing)
        except AutopackError as exc:
            kind = recovery.classify(exc)
            failed_id = None
            if recovery.RECOVERY_TABLE[kind].consumes_attempt:
                # An answer the Builder gave but nobody can use (unparseable, truncated):
                # it uses a Builder attempt, and is kept like any other answer.
                failed_id = self._failed_attempt(exc, choice.model, hints, bundle.to_record())
            return self._on_failure(
                Failure(
                    kind, exc.message, extra={"answer": exc.context.get("answer", "")}, error=exc
                ),
                attempt_id=failed_id,
                consumed_call=True,
                already_failed=failed_id is not None,
            )
        _, phase_pk, _ = self._fixed()
        with unit_of_work(ctx.factory) as session:
            session.execute(
                update(Phase)
                .where(Phase.id == phase_pk)
                .values(builder_attempts=Phase.builder_attempts + 1)
            )
            attempt = PhaseAttempt(
                run_id=ctx.run_id,
                phase_pk=phase_pk,
                role=AttemptRole.BUILDER.value,
                # Numbered by rows, not the budget counter a resumed run resets.
                attempt_number=1 + self._attempt_rows(session, AttemptRole.BUILDER),
                status="answered",
                model=answer.model,
                tokens_used=answer.total_tokens,
                payload={
                    "stage": "answered",
                    "text": answer.text,
                    "continued": answer.continued,
                    "truncated": answer.truncated,
                    "stopped_early": answer.stopped_early,
                    "diagnostics": [str(d) for d in answer.diagnostics],
                    "context": bundle.to_record(),
                    "routed_model": choice.model,
                    "escalation_level": choice.escalation_level,
                    "routing_reason": choice.reason,
                    "hints": hints,
                    "learned_rules": rules,
                },
            )
            session.add(attempt)
            session.flush()
            session.expunge(attempt)
        self._fresh_attempt = attempt.id
        return self._continue(attempt)

    def _retrieval(self) -> list[ContextHint]:
        """The code regions retrieval finds for the phase: asked on its first attempt, then
        read back from the latest attempt's context record, so every attempt (and a resumed
        run) cuts its files the same way without indexing again."""
        query, self._first_query = self._first_query, None
        if query is not None:  # no attempt yet when the execution started: nothing stored
            return executor_memory.retrieval_hints(self.ctx, query)
        with unit_of_work(self.ctx.factory) as session:
            phase = self._phase(session)
            for attempt in reversed(phase.attempts):
                if attempt.role == AttemptRole.BUILDER.value:
                    stored = hints_from_record((attempt.payload or {}).get("context"))
                    if stored is not None:
                        return stored
            query = self._query(phase, self._fixed()[0])
        return executor_memory.retrieval_hints(self.ctx, query)

    def _failed_attempt(
        self, exc: AutopackError, model: str, hints: list[str], context: dict[str, Any]
    ) -> int:
        with unit_of_work(self.ctx.factory) as session:
            phase = self._phase(session)
            phase.builder_attempts += 1
            row = PhaseAttempt(
                run_id=self.ctx.run_id,
                phase_pk=phase.id,
                role=AttemptRole.BUILDER.value,
                attempt_number=1 + sum(a.role == AttemptRole.BUILDER.value for a in phase.attempts),
                status="failed",
                model=model,
                payload={
                    "stage": "failed",
                    "text": str(exc.context.get("answer", "")),
                    "failure": exc.message,
                    "diagnostics": list(exc.context.get("diagnostics") or []),
                    "context": context,
                    "routed_model": model,
                    "hints": hints,
                },
            )
            session.add(row)
            session.flush()
            return row.id

    # -- resuming an attempt at its stage ---------------------------------------------
    def _continue(self, attempt: PhaseAttempt) -> PhaseOutcome | None:
        stage = attempt.payload.get("stage")
        if stage == "answered":
            applied, outcome = self._apply(attempt)
            if not applied:
                return outcome
            stage = "applied"
        if stage == "applied":
            failure = self._verify(attempt)
            if failure is not None:
                return self._on_failure(failure, attempt_id=attempt.id)
            stage = "verified"
        if stage == "verified":
            failure = self._audit(attempt)
            if failure is not None:
                return self._on_failure(failure, attempt_id=attempt.id)
        return self._finalize(attempt)

    def _stage(self, attempt_id: int, stage: str, **fields: Any) -> dict[str, Any]:
        with unit_of_work(self.ctx.factory) as session:
            return self._stage_in(session, attempt_id, stage, **fields)

    @staticmethod
    def _stage_in(
        session: Session,
        attempt_id: int,
        stage: str,
        *,
        columns: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Record the attempt's stage in the caller's transaction (with the step's own
        writes, so the step and its stage persist together): ``fields`` join its payload,
        ``columns`` are other columns of its row set in the same UPDATE."""
        stored = session.scalar(_PAYLOAD_OF, {"attempt_pk": attempt_id})
        assert stored is not None
        payload = {**stored, "stage": stage, **fields}
        session.execute(
            update(PhaseAttempt)
            .where(PhaseAttempt.id == attempt_id)
            .values(payload=payload, status=stage, **(columns or {}))
        )
        return payload

    def _apply(self, attempt: PhaseAttempt) -> tuple[bool, PhaseOutcome | None]:
        """Apply the attempt's stored answer. ``(True, None)`` when it applied; otherwise
        ``(False, outcome)`` with the phase's outcome (None: try again)."""
        ctx = self.ctx
        fresh, self._fresh_attempt = self._fresh_attempt == attempt.id, None
        scope = self._fixed()[0]
        with unit_of_work(ctx.factory) as session:
            if not fresh:
                # Anything uncommitted is a half-finished apply of this attempt (a resumed
                # run, an attempt a person's decision let go on): discard it.
                self._from_savepoint(session, self._phase(session))
            # Requests a person (or the expiry policy) decided take that decision now.
            governance_service.settle(
                session, governance_service.requests_for_attempt(session, attempt.id)
            )
            rejected, approved = self._decided_for(session, attempt.id)
            policy = ApplyPolicy.for_phase(
                scope,
                run_protected=self.ctx.spec.protected_paths,
                deletion_approved=approved,
            )
            if self.ctx.spec.safety_profile is SafetyProfile.SAFETY_CRITICAL:
                policy = policy.model_copy(update=SAFETY_CRITICAL_DELETION)
            message = (
                f"autopack({ctx.run_id}): {self.phase_id} attempt "
                f"{attempt.attempt_number} [attempt-id {attempt.id}]"
            )
        if rejected is not None:
            # A person refused this attempt's change: the Builder tries again, told why.
            self._stage(attempt.id, "failed", failure=rejected)
            return False, self._on_failure(
                Failure(FailureKind.apply_rejected, rejected),
                attempt_id=attempt.id,
                already_failed=True,
            )
        # The provider's stop reason, kept with the answer, decides truncation here too.
        parsed = parse_model_output(
            attempt.payload.get("text", ""), stopped_early=attempt.payload.get("stopped_early")
        )
        verdict = govern_attempt(
            ctx,
            self.phase_id,
            attempt.id,
            parsed.requests,
            parsed.edits,
            policy.all_protected(),
        )
        if verdict.parked:
            return False, "parked"
        if verdict.refused is not None:
            self._stage(attempt.id, "failed", failure=verdict.refused)
            return False, self._on_failure(
                Failure(FailureKind.apply_rejected, verdict.refused),
                attempt_id=attempt.id,
                already_failed=True,
            )
        policy = policy.model_copy(
            update={
                "granted_paths": verdict.granted,
                "protected_paths": (*policy.protected_paths, *verdict.critical),
            }
        )
        # The phase's savepoint precedes every apply of the phase; apply_edits adds its own
        # only before a large deletion.
        result = apply_edits(
            ctx.worktree,
            parsed.edits,
            policy,
            workspace=ctx.workspace,
            commit_message=message,
            always_savepoint=False,
        )
        record = result.model_dump(mode="json")
        with unit_of_work(ctx.factory) as session:
            applied = {"apply_result": record, "apply_status": result.status}
            if result.ok and not result.requires_approval:
                self._stage_in(
                    session,
                    attempt.id,
                    "applied",
                    columns=applied,
                    files_changed=result.files_changed,
                    lines_added=result.lines_added,
                    lines_removed=result.lines_removed,
                )
            else:
                session.execute(
                    update(PhaseAttempt).where(PhaseAttempt.id == attempt.id).values(**applied)
                )
            if result.requires_approval:
                phase = self._phase(session)
                approval_service.request_approval(
                    session,
                    phase,
                    kind="large_deletion",
                    reason=result.reason or f"net deletion of {result.net_deleted_lines} lines",
                    details={
                        "attempt_id": attempt.id,
                        "net_deleted_lines": result.net_deleted_lines,
                        "files": result.files_changed,
                        "then_state": PhaseState.EXECUTING.value,
                    },
                    **ctx.approval_expiry(),
                )
                ctx.decide(
                    session,
                    "park_for_approval",
                    result.reason or "large deletion",
                    phase_id=self.phase_id,
                    attempt_id=attempt.id,
                )
                ctx.deps.progress("awaiting_approval", phase_id=self.phase_id)
                return False, "parked"
        for event in result.events:
            ctx.deps.progress("apply_event", phase_id=self.phase_id, message=event.message)
        if not result.ok:
            self._stage(attempt.id, "failed", failure=result.reason)
            failures = result.failures()
            kind = (
                FailureKind.apply_no_match
                if failures and all(f.get("code") in recovery.NO_MATCH_CODES for f in failures)
                else FailureKind.apply_rejected
            )
            detail = "; ".join(
                f"edit {f['index']} ({f['path']}): {f['reason']}" for f in failures[:5]
            ) or (result.reason or "rejected")
            return False, self._on_failure(
                Failure(kind, f"governed apply rejected the answer: {detail}"),
                attempt_id=attempt.id,
                already_failed=True,
            )
        ctx.deps.progress("applied", phase_id=self.phase_id, files=result.files_changed)
        return True, None

    def _decided_for(self, session: Session, attempt_id: int) -> tuple[str | None, bool]:
        """Why a person (or the expiry policy) rejected this attempt's held change (None if
        nobody did), and whether a person approved its large deletion (other kinds, such as
        a governance request, grant what they name and nothing more): one read of the run's
        approvals."""
        mine = [
            a
            for a in approval_service.list_approvals(session, run_id=self.ctx.run_id)
            if a.details.get("attempt_id") == attempt_id
        ]
        why = None
        for a in mine:
            if a.status == "rejected":
                note = f": {a.decision_note}" if a.decision_note else ""
                why = f"a person rejected the change ({a.reason}){note}"
                break
            if a.status == "expired":  # on_expiry reject: its note says so
                why = a.decision_note
                break
        approved = any(a.status == "approved" and a.kind == "large_deletion" for a in mine)
        return why, approved

    def _tests(self) -> tuple[TestReport | None, TestDelta | None]:
        """Run the phase's checks (counted against the CI budget) and compare to baseline."""
        report = self._checks()
        if report is None:
            return None, None
        with unit_of_work(self.ctx.factory) as session:
            count = self._count_ci(session)
        self._keep_ci_log(count, report)
        return report, compute_delta(report, self.baseline)

    def _checks(self) -> TestReport | None:
        """Run the phase's checks (None: it has none); :meth:`_count_ci` counts them."""
        ctx = self.ctx
        self._at_savepoint = False  # the project's commands may write the worktree
        # A changed manifest means a rebuilt environment; a failed rebuild stands for the run.
        env_failure = current_environment(ctx, self.phase_id)
        commands = test_commands(ctx, self._fixed()[0].tests)
        if not commands:
            return None
        ctx.checkpoint(before="ci", phase_id=self.phase_id)
        ctx.deps.progress("verify", phase_id=self.phase_id)
        report = env_failure or run_tests(
            ctx.worktree,
            commands,
            timeout=ctx.deps.settings.command_timeout_seconds,
            env=project_command_env(ctx),
        )
        ctx.deps.progress("tested", phase_id=self.phase_id, summary=report.summary())
        return report

    def _count_ci(self, session: Session) -> int:
        """Count a test run against the run's and the tier's CI budgets (in the caller's
        transaction); the run's count so far."""
        _, _, tier_pk = self._fixed()
        count = session.execute(
            update(Run)
            .where(Run.id == self.ctx.run_id)
            .values(ci_runs_used=Run.ci_runs_used + 1)
            .returning(Run.ci_runs_used)
        ).scalar_one()
        session.execute(
            update(Tier).where(Tier.id == tier_pk).values(ci_runs_used=Tier.ci_runs_used + 1)
        )
        return int(count)

    def _keep_ci_log(self, count: int, report: TestReport) -> None:
        """The test run's log as ``ci/<count>_<phase>`` (once its count is committed)."""
        self.ctx.artifacts.write_ci_log(
            f"{count:03d}_{self.phase_id}", report.log_tail or report.summary()
        )

    def _verify(self, attempt: PhaseAttempt) -> Failure | None:
        report = self._checks()
        delta = compute_delta(report, self.baseline) if report is not None else None
        deliverables = self._fixed()[0].deliverables
        allow_removal = self._phase_spec().allow_test_removal
        decision = self.finalizer.decide(
            FinalizerInputs(
                worktree=self.ctx.worktree,
                committed=self.ctx.workspace.committed_files(),
                delta=delta,
                deliverables=deliverables,
                allow_test_removal=allow_removal,
            )
        )
        failed = {g.name: g for g in decision.failed_gates}
        failure: Failure | None = None
        if "tests" in failed and delta is not None:
            kind = (
                FailureKind.timeout
                if delta.timed_out
                else FailureKind.collection_error
                if delta.collection_errors or delta.no_tests_collected
                else FailureKind.tests_failed
            )
            logs = (report.log_tail if report else "") or ""
            if only_tests_taken_away(delta):
                # The suite ran as before: its log shows only failures that pre-date the
                # run, and read as this failure's cause they send hardening after them (a
                # scope_mismatch on cleo's FORCE_COLOR test). The gate's reason is the cause.
                logs = ""
            failure = Failure(kind, failed["tests"].reason, logs=logs)
        elif "deliverables" in failed:
            failure = Failure(FailureKind.deliverables_missing, failed["deliverables"].reason)
        # The test run's count, the attempt's results and its verdict in one transaction:
        # an attempt is never left "verified" by tests that failed it.
        outcome: dict[str, Any] = {} if failure is None else {"failure": failure.message}
        count = 0
        with unit_of_work(self.ctx.factory) as session:
            if report is not None:
                count = self._count_ci(session)
            self._stage_in(
                session,
                attempt.id,
                "verified" if failure is None else "failed",
                tests=delta.model_dump(mode="json") if delta else None,
                gates=[g.model_dump(mode="json") for g in decision.gates],
                # Removed or skipped tests the plan allows still need a person (_finalize).
                tests_taken_away=tests_taken_away(delta) if allow_removal else "",
                **outcome,
            )
        if report is not None:
            self._keep_ci_log(count, report)
        return failure

    def _audit(self, attempt: PhaseAttempt) -> Failure | None:
        ctx = self.ctx
        with unit_of_work(ctx.factory) as session:
            phase = self._phase(session)
            # No review left, or a diff the Auditor cannot read whole, is not an approval:
            # the attempt is stored unreviewed, and _finalize asks a person (or fails the
            # phase) before anything is committed.
            diff = ""
            unreviewed = _no_review_left(phase)
            if unreviewed is None:
                diff = ctx.workspace.diff(self._savepoint_head(phase))
                unreviewed = _unreadable(diff)
            if unreviewed is not None:
                why, by = unreviewed
                self._stage(attempt.id, "audited", verdict=None, unreviewed=why, review_by=by)
                return None
            spec = self.ctx.spec
            scope = Scope.model_validate(phase.scope)
            tests = attempt_payload(session, attempt.id).get("tests") or {}
            audit_ctx = AuditorContext(
                run_id=ctx.run_id,
                phase_id=phase.phase_id,
                goal=spec.goal or spec.name,
                phase_name=phase.name,
                phase_description=phase.description,
                diff=diff,
                test_summary=tests.get("summary") or "no test command for this phase",
                deliverables=scope.deliverables,
                acceptance_criteria=scope.acceptance_criteria,
                task_category=phase.task_category,
                complexity=phase.complexity,
                intention=ctx.intention,
            )
            routing = self._routing(session, phase, failures=0)
        ctx.checkpoint(before="llm", phase_id=self.phase_id)
        ctx.deps.progress("auditor", phase_id=self.phase_id)
        try:
            with ctx.client.tagged(attempt=attempt.attempt_number, purpose="auditor"):
                result = run_auditor(ctx.client, audit_ctx, routing)
        except AutopackError as exc:
            kind = recovery.classify(exc)
            if recovery.RECOVERY_TABLE[kind].action is Action.retry_same:
                # The provider is briefly unavailable: ask the Auditor again about this
                # same applied attempt rather than paying for a new Builder answer.
                return Failure(
                    kind, f"auditor: {exc.message}", extra={"keep_attempt": True}, error=exc
                )
            self._stage(attempt.id, "failed", failure=exc.message)
            return Failure(kind, f"auditor: {exc.message}", error=exc)
        verdict = result.verdict
        _, phase_pk, _ = self._fixed()
        with unit_of_work(ctx.factory) as session:
            session.execute(
                update(Phase)
                .where(Phase.id == phase_pk)
                .values(auditor_attempts=Phase.auditor_attempts + 1)
            )
            session.add(
                agent_attempt(
                    (ctx.run_id, phase_pk),
                    AttemptRole.AUDITOR,
                    # Numbered by rows: a goal check (not counted in the budget) is one too.
                    1 + self._attempt_rows(session, AttemptRole.AUDITOR),
                    verdict.recommendation,
                    result.completions,
                    verdict,
                )
            )
            issues_of = self._phase(session) if verdict.issues else None
            for issue in verdict.issues:
                assert issues_of is not None
                issue_service.record_issue(
                    session,
                    issues_of,
                    issue_key=issue.issue_key,
                    severity=IssueSeverity(issue.severity),
                    source="auditor",
                    category=issue.category,
                    description=issue.description,
                    evidence_refs=list(issue.evidence_refs),
                )
            self._stage_in(
                session,
                attempt.id,
                "audited",
                verdict=verdict.recommendation,
                review_notes=verdict.review_notes,
            )
        ctx.deps.progress("audited", phase_id=self.phase_id, verdict=verdict.recommendation)
        return None

    def _finalize(self, attempt: PhaseAttempt) -> PhaseOutcome | None:
        ctx = self.ctx
        deliverables = self._fixed()[0].deliverables
        with unit_of_work(ctx.factory) as session:
            payload = attempt_payload(session, attempt.id)
        verdict = payload.get("verdict")
        # While a person reviews it, the attempt's commits wait off the branch.
        self._restore_held(attempt.id)
        decision = self.finalizer.decide(
            FinalizerInputs(
                worktree=ctx.worktree,
                committed=ctx.workspace.committed_files(),
                deliverables=deliverables,
                auditor=verdict,
                guard=GuardOutcome(status="ok"),
            )
        )
        if decision.outcome == "complete":
            settled, outcome = self._person_review(attempt.id, payload)
            if not settled:
                return outcome
            self._stage(attempt.id, "done")
            with unit_of_work(ctx.factory) as session:
                outcome = self._complete(session, self._phase(session), commit=True)
            executor_memory.remember_phase(ctx, self.phase_id, self.history.failures)
            return outcome
        notes = payload.get("review_notes") or decision.reason
        self._stage(attempt.id, "failed", failure=decision.reason)
        kind = FailureKind.auditor_escalate if verdict == "escalate" else FailureKind.auditor_revise
        return self._on_failure(
            Failure(kind, f"auditor asked to {verdict}: {notes}"),
            attempt_id=attempt.id,
            already_failed=True,
        )

    # -- endings ----------------------------------------------------------------------
    def _back_to_savepoint(self, phase: Phase) -> None:
        """Put the worktree back at the phase's savepoint (skipped when it is already
        there: just saved by this execution with nothing run since, or clean and at the
        savepoint's commit)."""
        ws = self.ctx.workspace
        if self._at_savepoint:
            self._at_savepoint = False
            return
        if ws.is_clean() and ws.head() == self._savepoint_head(phase):
            return
        ws.reset_to(phase.savepoint or "")

    def _from_savepoint(self, session: Session, phase: Phase) -> None:
        """The worktree an attempt starts from: the phase's savepoint, plus the fixes
        deterministic hardening made after earlier attempts (the reset would undo them),
        committed on their own so the attempt's diff and commits stay the Builder's."""
        self._back_to_savepoint(phase)
        logged = session.scalars(
            select(DecisionLog.details).where(
                DecisionLog.run_id == self.ctx.run_id,
                DecisionLog.phase_id == self.phase_id,
                DecisionLog.decision == "hardening",
            )
        ).all()
        fixes = [WorktreeFix.model_validate(f) for d in logged for f in d.get("worktree_fixes", [])]
        made = apply_worktree_fixes(self.ctx.worktree, fixes)
        if made:
            self.ctx.workspace.commit(
                f"autopack({self.ctx.run_id}): {self.phase_id} hardening: "
                + ", ".join(dict.fromkeys(f.describe() for f in made)),
                paths=list(dict.fromkeys(f.path for f in made)),
            )

    def _savepoint_head(self, phase: Phase) -> str:
        """The commit the phase started from (a savepoint never moves, so it is cached)."""
        name = phase.savepoint or ""
        if name not in self._savepoint_heads:
            match = self.ctx.workspace.get_savepoint(name)
            if match is None:
                return "HEAD"
            self._savepoint_heads[name] = match.head
        return self._savepoint_heads[name]

    def _complete(self, session: Session, phase: Phase, *, commit: bool) -> PhaseOutcome:
        """Squash the phase's attempt commits into one commit and mark it COMPLETE, unless
        the phase drifted from the run's intention under ``drift: blocking`` (it fails)."""
        if self._phase_spec().mode != "verify":
            drift = check_phase_drift(self.ctx, session, phase)
            if drift is not None and drift.blocks:
                reason = drift.explain(phase.phase_id)
                builders = [a for a in phase.attempts if a.role == AttemptRole.BUILDER.value]
                if builders and builders[-1].payload.get("stage") == "done":
                    # A retry of the phase builds again instead of re-finishing this one.
                    failed = {**builders[-1].payload, "stage": "failed", "failure": reason}
                    builders[-1].payload = failed
                    builders[-1].status = "failed"
                return self._fail(session, phase, reason)
        ws = self.ctx.workspace
        if commit:
            base = self._savepoint_head(phase)
            phase.commit_sha = ws.squash(base, phase_commit_message(self.ctx.run_id, phase))
        else:
            phase.commit_sha = ws.head()
        set_phase_state(session, phase, PhaseState.COMPLETE, now=self.ctx.deps.clock())
        self.ctx.decide(
            session,
            "phase_complete",
            f"phase {phase.phase_id} complete",
            phase_id=phase.phase_id,
            commit=phase.commit_sha,
        )
        write_phase_layout(self.ctx.artifacts, phase)
        self.ctx.deps.progress("phase_complete", phase_id=phase.phase_id, commit=phase.commit_sha)
        return "complete"

    def _fail(self, session: Session, phase: Phase, reason: str) -> PhaseOutcome:
        self._back_to_savepoint(phase)
        set_phase_state(session, phase, PhaseState.FAILED, reason=reason, now=self.ctx.deps.clock())
        self.ctx.decide(session, "phase_failed", reason, phase_id=phase.phase_id)
        write_phase_layout(self.ctx.artifacts, phase)
        self.ctx.deps.progress("phase_failed", phase_id=phase.phase_id, reason=reason)
        return "failed"

    # -- a person's review -------------------------------------------------------------
    def _reviews_needed(self, payload: dict[str, Any]) -> list[tuple[str, str]]:
        """(approval kind, why) for each review a person must give before this attempt,
        which passed its gates, is committed. Empty: nothing more to wait for."""
        needed: list[tuple[str, str]] = []
        if unreviewed := payload.get("unreviewed"):
            kind = payload.get("review_by") or "auditor_budget"
            needed.append((kind, f"{unreviewed}; a person reviews the change instead"))
        if taken_away := payload.get("tests_taken_away"):
            needed.append(
                ("test_removal", f"the phase may remove or skip tests, and did: {taken_away}")
            )
        if self.ctx.spec.safety_profile is SafetyProfile.SAFETY_CRITICAL and not any(
            k in WHOLE_CHANGE_KINDS for k, _ in needed
        ):
            needed.append(
                ("human_review", "a safety_critical run: a person reviews every phase's change")
            )
        return needed

    def _person_review(
        self, attempt_id: int, payload: dict[str, Any]
    ) -> tuple[bool, PhaseOutcome | None]:
        """``(True, None)`` when every review this attempt needs was given; otherwise
        ``(False, outcome)``: parked for the next one, or the attempt failed (a person
        rejected it, or the plan fails unreviewed attempts)."""
        needed = self._reviews_needed(payload)
        if not needed:
            return True, None
        rejection = ""
        with unit_of_work(self.ctx.factory) as session:
            decided = {
                a.kind: (a.status, a.reason, a.decision_note)
                for a in approval_service.list_approvals(session, run_id=self.ctx.run_id)
                if a.details.get("attempt_id") == attempt_id and a.kind in PERSON_REVIEW_KINDS
            }
            person_saw_all = any(decided.get(k, ("",))[0] == "approved" for k in WHOLE_CHANGE_KINDS)
            for kind, why in needed:
                status, reason, note = decided.get(kind, (None, "", ""))
                if status == "approved" or (kind == "human_review" and person_saw_all):
                    continue
                if status == "rejected":
                    rejection = f"a person rejected the change ({reason})" + (
                        f": {note}" if note else ""
                    )
                    break
                if status == "expired":  # on_expiry reject: its note says so
                    rejection = note
                    break
                if kind == "auditor_budget" and self.ctx.spec.on_auditor_budget == "fail":
                    self._stage(attempt_id, "failed", failure=why)
                    return False, self._fail(
                        session,
                        self._phase(session),
                        f"{payload.get('unreviewed')}, and the plan's on_auditor_budget is "
                        "'fail': the attempt is not committed without a review",
                    )
                return False, self._park_for_person(session, attempt_id, kind, why, payload)
        if not rejection:
            return True, None
        # The Builder tries again, told why (the rejection is a hint like any failure).
        self._stage(attempt_id, "failed", failure=rejection)
        return False, self._on_failure(
            Failure(FailureKind.rejected_by_person, rejection),
            attempt_id=attempt_id,
            already_failed=True,
        )

    def _park_for_person(
        self, session: Session, attempt_id: int, kind: str, reason: str, payload: dict[str, Any]
    ) -> PhaseOutcome:
        """Hold the attempt's commits off the branch and wait for a person's approval,
        showing the diff and the Auditor's last notes."""
        phase = self._phase(session)
        diff = self.ctx.workspace.diff(self._savepoint_head(phase))
        notes = payload.get("review_notes") or next(
            (
                a.payload.get("review_notes", "")
                for a in sorted(phase.attempts, key=lambda a: a.id, reverse=True)
                if a.role == AttemptRole.AUDITOR.value and a.payload.get("review_notes")
            ),
            "",
        )
        self._hold(phase, attempt_id)
        approval_service.request_approval(
            session,
            phase,
            kind=kind,
            reason=reason,
            details={
                "attempt_id": attempt_id,
                "then_state": PhaseState.EXECUTING.value,
                "diff": diff[:APPROVAL_DIFF_CHARS],
                "diff_truncated": len(diff) > APPROVAL_DIFF_CHARS,
                "auditor_notes": notes,
                "held_ref": held_ref(self.ctx.run_id, attempt_id),
            },
            **self.ctx.approval_expiry(),
        )
        self.ctx.decide(
            session,
            "park_for_approval",
            reason,
            phase_id=self.phase_id,
            kind=kind,
            attempt_id=attempt_id,
        )
        write_phase_layout(self.ctx.artifacts, phase)
        self.ctx.deps.progress("awaiting_approval", phase_id=self.phase_id, kind=kind)
        return "parked"

    def _hold(self, phase: Phase, attempt_id: int) -> None:
        """Keep the attempt's commits under :func:`held_ref` and take them off the branch,
        so a branch never carries a change nobody approved while it waits."""
        ws = self.ctx.workspace
        if ws.head() == self._savepoint_head(phase):
            return
        ws.git("update-ref", held_ref(self.ctx.run_id, attempt_id), ws.head())
        ws.reset_to(phase.savepoint or "")

    def _restore_held(self, attempt_id: int) -> None:
        """Put a held attempt's commits back on the branch (a resumed, reviewed attempt)."""
        ws = self.ctx.workspace
        ref = held_ref(self.ctx.run_id, attempt_id)
        sha = ws.ref_target(ref)
        if not sha:
            return
        ws.git("reset", "--quiet", "--hard", sha)
        ws.git("update-ref", "-d", ref)

    # -- a phase with nothing to build --------------------------------------------------
    def _phase_spec(self) -> PhaseSpec:
        """The phase as the plan wrote it (its policy fields are read from the plan)."""
        found = self.ctx.phase_spec(self.phase_id)
        return found or PhaseSpec(phase_id=self.phase_id, name=self.phase_id)

    def _maybe_complete_without_edits(self, deliverables: list[str]) -> PhaseOutcome | None:
        """A phase completes with no Builder call only when it is a check (``mode:
        verify``) that passes, or when the Auditor, shown the current code, says its goal
        is already met. Deliverables that exist before the phase are not evidence. Asked
        only before the phase's first Builder attempt (``run`` reads ``deliverables``)."""
        verify_only = self._phase_spec().mode == "verify"
        if not verify_only and not deliverables:
            return None
        if not verify_only:
            present = self.finalizer.decide(
                FinalizerInputs(
                    worktree=self.ctx.worktree,
                    committed=self.ctx.workspace.committed_files(),
                    deliverables=deliverables,
                )
            )
            if present.outcome != "complete":
                return None
        _, delta = self._tests()
        decision = self.finalizer.decide(
            FinalizerInputs(
                worktree=self.ctx.worktree,
                committed=self.ctx.workspace.committed_files(),
                delta=delta,
                deliverables=deliverables,
            )
        )
        if verify_only:
            with unit_of_work(self.ctx.factory) as session:
                phase = self._phase(session)
                if decision.outcome != "complete":
                    return self._fail(
                        session,
                        phase,
                        f"the phase is a check (mode: verify) and it failed: {decision.reason}",
                    )
                self.ctx.decide(
                    session,
                    "verified",
                    "the phase is a check (mode: verify) and it passed: "
                    + "; ".join(f"{g.name}: {g.reason}" for g in decision.gates),
                    phase_id=self.phase_id,
                )
                return self._complete(session, phase, commit=False)
        if decision.outcome != "complete":
            return None
        return self._complete_if_goal_met(delta.summary if delta else "")

    def _complete_if_goal_met(self, test_summary: str) -> PhaseOutcome | None:
        """Ask the Auditor whether the current code already meets the phase's goal; the
        phase completes without edits only on a yes, recorded with the Auditor's reason."""
        ctx = self.ctx
        with unit_of_work(ctx.factory) as session:
            phase = self._phase(session)
            if (
                phase.max_auditor_attempts == 0
                or ctx.spec.safety_profile is SafetyProfile.SAFETY_CRITICAL
            ):
                # Nobody to ask, or a person must see every phase's change: the Builder
                # does the work and a person reviews it.
                return None
            scope = Scope.model_validate(phase.scope)
            bundle = self._context(scope)
            audit_ctx = AuditorContext(
                run_id=ctx.run_id,
                phase_id=phase.phase_id,
                goal=ctx.spec.goal or ctx.spec.name,
                phase_name=phase.name,
                phase_description=phase.description,
                diff="",
                test_summary=test_summary or "no test command for this phase",
                deliverables=scope.deliverables,
                acceptance_criteria=scope.acceptance_criteria,
                task_category=phase.task_category,
                complexity=phase.complexity,
                intention=ctx.intention,
            )
            routing = self._routing(session, phase, failures=0)
        ctx.checkpoint(before="llm", phase_id=self.phase_id)
        ctx.deps.progress("goal_check", phase_id=self.phase_id)
        try:
            with ctx.client.tagged(purpose="goal_check", context=bundle.to_record()):
                result = run_goal_check(
                    ctx.client,
                    audit_ctx,
                    [CodeFile(f.path, f.content) for f in bundle.files],
                    routing,
                )
        except AutopackError as exc:
            # No usable answer is no evidence: the Builder does the phase.
            ctx.artifacts.write_error(component="goal_check", error=exc, phase_id=self.phase_id)
            with unit_of_work(ctx.factory) as session:
                ctx.decide(
                    session,
                    "goal_not_met",
                    f"the Auditor could not say whether the goal is met ({exc.message}); "
                    "the Builder does the phase",
                    phase_id=self.phase_id,
                )
            return None
        verdict = result.verdict
        with unit_of_work(ctx.factory) as session:
            phase = self._phase(session)
            number = 1 + sum(a.role == AttemptRole.AUDITOR.value for a in phase.attempts)
            session.add(
                agent_attempt(
                    phase,
                    AttemptRole.AUDITOR,
                    number,
                    "goal_met" if verdict.goal_met else "goal_not_met",
                    result.completions,
                    verdict,
                )
            )
            ctx.decide(
                session,
                "already_done" if verdict.goal_met else "goal_not_met",
                verdict.reason,
                phase_id=self.phase_id,
                actor="auditor",
                confidence=verdict.confidence,
            )
            if not verdict.goal_met:
                return None
            return self._complete(session, phase, commit=False)

    # -- failure handling -------------------------------------------------------------
    def _on_failure(
        self,
        failure: Failure,
        *,
        attempt_id: int | None = None,
        consumed_call: bool = False,
        already_failed: bool = False,
    ) -> PhaseOutcome | None:
        ctx = self.ctx
        self._at_savepoint = False  # hardening may fix things in the worktree
        if attempt_id is not None and not already_failed and not failure.extra.get("keep_attempt"):
            self._stage(attempt_id, "failed", failure=failure.message)
        self.history.add(failure.kind, failure.message)
        if failure.error is not None:
            ctx.artifacts.write_error(
                component=failure.kind.value,
                error=failure.error,
                phase_id=self.phase_id,
                context={"attempt_id": attempt_id, **failure.error_context()},
            )
        ctx.deps.progress(
            "attempt_failed",
            phase_id=self.phase_id,
            kind=failure.kind.value,
            message=failure.message[:300],
        )
        with unit_of_work(ctx.factory) as session:
            phase = self._phase(session)
            run = phase.run
            health = recovery.RunHealth(
                provider_errors=run.provider_errors,
                apply_failures=run.apply_failures,
                total_failures=run.total_failures,
            )
            health.record(failure.kind)
            run.provider_errors, run.apply_failures, run.total_failures = (
                health.provider_errors,
                health.apply_failures,
                health.total_failures,
            )
            phase.last_failure = failure.message
            # The budget counts what was used BEFORE this failure; a failing attempt that has a
            # row was counted when it was made, so it is taken back out here.
            budget = self._budget(phase, run, counted=attempt_id is not None)
            decision = recovery.decide(failure.kind, history=self.history, phase_budget=budget)
            if (exhausted := health.exhausted()) is not None:
                raise BudgetExhausted(f"run health budget exhausted: {exhausted}", budget="health")
        hint = failure.message
        if decision.hardening and failure.logs:
            mitigations = harden(
                failure.logs,
                FailureContext(worktree=ctx.worktree, allowed_paths=self._allowed_paths()),
            )
            if mitigations:
                fixes = [f for m in mitigations for f in m.worktree_fixes]
                done = [a for m in mitigations for a in m.actions_taken]
                hint = (
                    " ".join(s for m in mitigations for s in m.suggestions)
                    or (f"Autopack fixed the cause itself ({'; '.join(done)})" if done else "")
                    or hint
                )
                with unit_of_work(ctx.factory) as session:
                    ctx.decide(
                        session,
                        "hardening",
                        hint,
                        phase_id=self.phase_id,
                        patterns=[m.pattern for m in mitigations],
                        actions=done,
                        # The next attempt starts from a reset worktree: these fixes are
                        # made again there (_from_savepoint), read back from this entry.
                        worktree_fixes=[f.model_dump(mode="json") for f in fixes],
                    )
                decision = recovery.RecoveryDecision(
                    kind=failure.kind,
                    action=Action.retry_with_hint,
                    reason="deterministic mitigation: " + ", ".join(m.pattern for m in mitigations),
                    consume_attempt=True,
                    call_doctor=False,
                    hardening=False,
                    run_state=None,
                    health_counter=decision.health_counter,
                )
        if decision.call_doctor:
            decision, hint = self._ask_doctor(failure, budget, hint)
        return self._act(decision, failure, hint, attempt_id=attempt_id)

    def _ask_doctor(
        self, failure: Failure, budget: PhaseRecoveryBudget, hint: str
    ) -> tuple[recovery.RecoveryDecision, str]:
        ctx = self.ctx
        with unit_of_work(ctx.factory) as session:
            phase = self._phase(session)
            spec = self.ctx.spec
            scope = Scope.model_validate(phase.scope)
            doctor_ctx = DoctorContext(
                run_id=ctx.run_id,
                phase_id=phase.phase_id,
                goal=spec.goal or spec.name,
                phase_name=phase.name,
                phase_description=phase.description,
                failure_class=failure.kind.value,
                error_message=failure.message,
                attempt_summaries=[
                    f"{a.role} #{a.attempt_number}: {a.status} "
                    f"{(a.payload.get('failure') or '')[:200]}"
                    for a in phase.attempts
                ],
                logs=failure.logs,
                builder_attempts=phase.builder_attempts,
                max_builder_attempts=phase.max_builder_attempts,
                doctor_calls=phase.doctor_calls,
                replans=phase.replans,
                allowed_paths=scope.paths,
                deliverables=scope.deliverables,
                intention=ctx.intention,
            )
            routing = self._routing(session, phase, failures=phase.doctor_calls)
            builder_rows = [a for a in phase.attempts if a.role == AttemptRole.BUILDER.value]
            diagnosed = builder_rows[-1].attempt_number if builder_rows else None
        ctx.checkpoint(before="llm", phase_id=self.phase_id)
        ctx.deps.progress("doctor", phase_id=self.phase_id)
        try:
            with ctx.client.tagged(attempt=diagnosed, purpose="doctor"):
                result = run_doctor(ctx.client, doctor_ctx, routing)
        except AutopackError as exc:
            # The Doctor's own failure is part of the story: it stays in the reason the
            # phase or run ends with, and under errors/.
            ctx.artifacts.write_error(
                component="doctor",
                error=exc,
                phase_id=self.phase_id,
                context={
                    "failure": failure.kind.value,
                    **{k: v for k, v in exc.context.items() if k not in ("answer", "diagnostics")},
                },
            )
            failure.message = f"{failure.message} (the Doctor's call failed: {exc.message})"
            with unit_of_work(ctx.factory) as session:
                ctx.decide(
                    session,
                    "doctor_failed",
                    exc.message,
                    phase_id=self.phase_id,
                    actor="doctor",
                    error=type(exc).__name__,
                )
            if isinstance(exc, ProviderError):
                kind = recovery.classify(exc)
                return recovery.decide(kind, history=self.history, phase_budget=budget), hint
            return recovery.decide(
                failure.kind,
                history=self.history,
                # An unusable Doctor answer counts as no Doctor left for this phase.
                phase_budget=budget.model_copy(
                    update={"doctor_calls_phase": budget.max_doctor_phase}
                ),
            ), (f"{hint} (the Doctor's answer was unusable: {exc.message})")
        verdict = result.verdict
        with unit_of_work(ctx.factory) as session:
            phase = self._phase(session)
            phase.doctor_calls += 1
            phase.run.doctor_calls += 1
            session.add(
                agent_attempt(
                    phase,
                    AttemptRole.DOCTOR,
                    phase.doctor_calls,
                    verdict.action,
                    result.completions,
                    verdict,
                )
            )
            ctx.decide(
                session,
                f"doctor_{verdict.action}",
                verdict.rationale,
                phase_id=self.phase_id,
                actor="doctor",
                hint=verdict.hint,
                confidence=verdict.confidence,
            )
        decision = recovery.decide(
            failure.kind, history=self.history, phase_budget=budget, doctor_action=verdict.action
        )
        # The Doctor's own words go with its decision (a rollback's reason, a skip's).
        decision = decision.model_copy(
            update={"reason": f"{decision.reason}: {verdict.rationale}".rstrip(": ")}
        )
        return decision, verdict.hint or hint

    def _act(
        self,
        decision: recovery.RecoveryDecision,
        failure: Failure,
        hint: str,
        *,
        attempt_id: int | None = None,
    ) -> PhaseOutcome | None:
        """Record the decision and carry it out through :data:`ACTION_HANDLERS` (None:
        the phase goes on with another attempt)."""
        with unit_of_work(self.ctx.factory) as session:
            phase = self._phase(session)
            self.ctx.decide(
                session,
                decision.action.value,
                decision.reason,
                phase_id=self.phase_id,
                failure=failure.kind.value,
            )
            step = ActionStep(session, phase, decision, failure, hint, attempt_id)
            try:
                return ACTION_HANDLERS[decision.action](self, step)
            except RunFailed as exc:
                # Raised after the commit, so what the handler recorded is kept.
                ending = exc
        raise ending

    # One handler per recovery Action; tests/unit/executor checks the map is complete.
    def _do_fail_run(self, step: ActionStep) -> PhaseOutcome | None:
        state = step.decision.run_state or RunState.DONE_FAILED_ENVIRONMENT.value
        raise RunFailed(state, step.failure.message)

    def _do_fail_phase(self, step: ActionStep) -> PhaseOutcome | None:
        return self._fail(step.session, step.phase, step.failure.message)

    def _do_skip_phase(self, step: ActionStep) -> PhaseOutcome | None:
        # Whether the run may go on without the phase is the loop's call (PhaseSpec.optional).
        self._back_to_savepoint(step.phase)
        reason = f"skipped ({step.decision.reason}) after: {step.failure.message}"
        set_phase_state(step.session, step.phase, PhaseState.SKIPPED, reason=reason)
        write_phase_layout(self.ctx.artifacts, step.phase)
        self.ctx.deps.progress("phase_skipped", phase_id=self.phase_id, reason=reason)
        return "skipped"

    def _do_park(self, step: ActionStep) -> PhaseOutcome | None:
        if step.attempt_id is not None:
            self._hold(step.phase, step.attempt_id)
        approval_service.request_approval(
            step.session,
            step.phase,
            kind="auditor_escalation",
            reason=step.failure.message,
            details={
                "attempt_id": step.attempt_id,
                "then_state": PhaseState.EXECUTING.value,
                "held_ref": held_ref(self.ctx.run_id, step.attempt_id)
                if step.attempt_id is not None
                else None,
            },
            **self.ctx.approval_expiry(),
        )
        self.ctx.deps.progress("awaiting_approval", phase_id=self.phase_id)
        return "parked"

    def _do_rollback(self, step: ActionStep) -> PhaseOutcome | None:
        """Put the run's branch back at the run's base. Its commits stay reachable under
        ``refs/autopack/<run_id>/rolled-back/<n>``; the run ends for a person to look."""
        ws, run_id = self.ctx.workspace, self.ctx.run_id
        base = ws.base_commit()
        if base is None:
            raise RunFailed(
                RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW.value,
                f"the Doctor chose rollback_run, but the run's base ref {ws.base_ref} is "
                f"missing, so nothing was rolled back: {step.decision.reason}",
            )
        prefix = rolled_back_prefix(run_id)
        taken = ws.git("for-each-ref", "--format=%(refname)", prefix).split()
        number = 1 + max((int(r.rsplit("/", 1)[1]) for r in taken), default=0)
        ref = f"{prefix}{number}"
        set_aside = [f"{c.sha[:12]} {c.subject}" for c in ws.list_commits(base)]
        ws.git("update-ref", ref, ws.head())
        ws.git("reset", "--quiet", "--hard", base)
        ws.git("clean", "-fdq")
        self.ctx.decide(
            step.session,
            "rollback_run",
            f"branch {ws.branch_name} reset to the run's base {base[:12]}; "
            f"{len(set_aside)} commit(s) set aside under {ref}",
            phase_id=self.phase_id,
            actor="doctor",
            ref=ref,
            base=base,
            commits=set_aside,
        )
        set_phase_state(
            step.session,
            step.phase,
            PhaseState.FAILED,
            reason=f"rolled back: {step.failure.message}",
            now=self.ctx.deps.clock(),
        )
        # Completed phases whose commits left the branch are not complete any more: a
        # resumed run does them again instead of succeeding without their work.
        run = step.phase.run
        for phase in run.phases:
            if phase.state == PhaseState.COMPLETE.value:
                set_phase_state(step.session, phase, PhaseState.QUEUED, via="rollback")
                phase.commit_sha = phase.savepoint = None
                phase.builder_attempts = phase.auditor_attempts = 0
                phase.doctor_calls = phase.replans = 0
                for attempt in phase.attempts:
                    if attempt.payload.get("stage") == "done":
                        # Else a resume would take it for a kill before the squash.
                        attempt.payload = {
                            **attempt.payload,
                            "stage": "failed",
                            "failure": f"rolled back (its commits are under {ref})",
                        }
                        attempt.status = "failed"
        for tier in run.tiers:
            if tier.state == TierState.COMPLETE.value:
                set_tier_state(step.session, tier, TierState.IN_PROGRESS, via="rollback")
        write_phase_layout(self.ctx.artifacts, step.phase)
        raise RunFailed(
            RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW.value,
            f"{step.decision.reason}. The branch is back at the run's base; "
            f"{len(set_aside)} commit(s) are kept under {ref}",
        )

    def _do_retry(self, step: ActionStep) -> PhaseOutcome | None:
        """Another attempt, told ``hint`` (a changed model or description first, if the
        action says so). ``retry_same`` and an unanswered ``harden_then_doctor`` land here
        too: the call or attempt is made again."""
        phase, action = step.phase, step.decision.action
        if action is Action.escalate_model:
            phase.escalation_level += 1
        if action is Action.replan:
            phase.replans += 1
            phase.description = (
                f"{phase.description}\n\nRevised approach (replan {phase.replans}): {step.hint}"
            ).strip()
        phase.hints = [*(h for h in phase.hints if h != step.hint), step.hint][-MAX_HINTS:]
        return None

    # -- helpers ----------------------------------------------------------------------
    def _context(
        self,
        scope: Scope,
        *,
        texts: Sequence[str] = (),
        repo_map_tokens: int = 0,
        hints: Sequence[ContextHint] | None = None,
    ) -> ContextBundle:
        """The files a model sees for this phase: never one the run or the repository
        protects (the phase's own list and the defaults apply inside select_context).
        ``texts`` (phase name, description) join the goal in saying what a cut file keeps;
        ``repo_map_tokens`` reserves budget for a repository map."""
        ctx = self.ctx
        try:
            project = project_protected_paths(ctx.worktree)
        except ValidationError as exc:  # an unreadable list ends the run, never opens files
            raise ConfigurationError(exc.message) from exc
        protected = (*ctx.spec.protected_paths, *project)
        return select_context(
            ctx.worktree,
            scope,
            token_budget=CONTEXT_TOKEN_BUDGET,
            protected=protected,
            goal_texts=(ctx.spec.goal or "", *texts),
            repo_map_tokens=repo_map_tokens,
            hints=hints,
            tag_cache=TagCache(ctx.deps.settings.repomap_cache_dir),
            # Known while the worktree is known clean (just saved, nothing run since): the
            # repository map then asks no git process, nor walks the worktree, for them.
            worktree_files=ctx.workspace.worktree_files(is_source_file),
        )

    def _routing(self, session: Session, phase: Phase, *, failures: int) -> Routing:
        return Routing(
            category=phase.task_category,
            complexity=phase.complexity,
            failures=failures + 2 * phase.escalation_level,
            overrides=overrides_for(session, self.ctx.run_id),
        )

    @staticmethod
    def _failed_attempts(phase: Phase) -> int:
        return sum(
            1
            for a in phase.attempts
            if a.role == AttemptRole.BUILDER.value and a.payload.get("stage") == "failed"
        )

    def _budget(self, phase: Phase, run: Run, *, counted: bool) -> PhaseRecoveryBudget:
        return PhaseRecoveryBudget(
            builder_attempts_used=max(0, phase.builder_attempts - int(counted)),
            max_builder_attempts=phase.max_builder_attempts,
            doctor_calls_phase=phase.doctor_calls,
            doctor_calls_run=run.doctor_calls,
            replans_used=phase.replans,
            escalation_level=phase.escalation_level,
            max_escalation_level=self._max_escalation(phase),
        )

    def _max_escalation(self, phase: Phase) -> int:
        levels = ["low", "medium", "high"]
        return max(0, len(levels) - 1 - levels.index(phase.complexity)) + 1

    def _allowed_paths(self) -> list[str]:
        with unit_of_work(self.ctx.factory) as session:
            return list(Scope.model_validate(self._phase(session).scope).paths)


def agent_attempt(
    phase: Phase | tuple[str, int],
    role: AttemptRole,
    number: int,
    status: str,
    completions: Sequence[Completion],
    verdict: BaseModel,
) -> PhaseAttempt:
    """The attempt row of an Auditor or Doctor answer: its verdict, model and tokens.
    ``phase`` is the phase's row or its ``(run id, row id)``."""
    run_id, phase_pk = (phase.run_id, phase.id) if isinstance(phase, Phase) else phase
    return PhaseAttempt(
        run_id=run_id,
        phase_pk=phase_pk,
        role=role.value,
        attempt_number=number,
        status=status,
        model=completions[-1].model if completions else None,
        tokens_used=sum(c.usage.total_tokens for c in completions),
        payload=verdict.model_dump(mode="json"),
    )


def _no_review_left(phase: Phase) -> tuple[str, str] | None:
    """Why the Auditor reviews none of the phase's attempts any more, and the approval
    kind a person reviews it under instead (``None``: a review is left)."""
    if phase.max_auditor_attempts == 0:
        return "the plan sets no Auditor review (max_auditor_attempts: 0)", "human_review"
    if phase.auditor_attempts >= phase.max_auditor_attempts:
        used = f"the Auditor's {phase.max_auditor_attempts} review(s) of this phase are used up"
        return used, "auditor_budget"
    return None


def _unreadable(diff: str) -> tuple[str, str] | None:
    """Why the Auditor cannot read all of ``diff`` (then a person reviews it), or ``None``:
    approving what the Auditor did not read would let anything through."""
    if binary := unreadable_changes(diff):
        more = f" and {len(binary) - 5} more" if len(binary) > 5 else ""
        return (
            f"the diff shows {', '.join(binary[:5])}{more} as binary (no line the Auditor "
            "could read; a .gitattributes 'binary' or '-diff' does this to text)",
            "human_review",
        )
    if (parts := review_parts(diff)) > MAX_DIFF_PARTS:
        return (
            f"the diff is {len(diff):,} characters, {parts} parts of {DIFF_CHAR_LIMIT:,}; "
            f"the Auditor reads at most {MAX_DIFF_PARTS}",
            "human_review",
        )
    return None


def attempt_payload(session: Session, attempt_id: int) -> dict[str, Any]:
    """The attempt's payload (a copy; ``{}`` for no such attempt), not its whole row."""
    payload = session.scalar(_PAYLOAD_OF, {"attempt_pk": attempt_id})
    return dict(payload) if payload is not None else {}


@dataclass
class ActionStep:
    """What a recovery action handler works with (inside the decision's transaction)."""

    session: Session
    phase: Phase
    decision: recovery.RecoveryDecision
    failure: Failure
    hint: str
    attempt_id: int | None


#: What each recovery Action does to the phase (and maybe the run).
ACTION_HANDLERS: dict[Action, Callable[[PhaseExecution, ActionStep], PhaseOutcome | None]] = {
    Action.retry_same: PhaseExecution._do_retry,
    Action.retry_with_hint: PhaseExecution._do_retry,
    Action.harden_then_doctor: PhaseExecution._do_retry,
    Action.escalate_model: PhaseExecution._do_retry,
    Action.replan: PhaseExecution._do_retry,
    Action.skip_phase: PhaseExecution._do_skip_phase,
    Action.fail_phase: PhaseExecution._do_fail_phase,
    Action.fail_run: PhaseExecution._do_fail_run,
    Action.park_for_approval: PhaseExecution._do_park,
    Action.rollback: PhaseExecution._do_rollback,
}


def only_tests_taken_away(delta: TestDelta) -> bool:
    """Whether the tests gate can have failed only because tests were removed, skipped or
    fewer passed: nothing new failed, everything was collected and finished."""
    return (
        bool(delta.removed or delta.newly_skipped or delta.fewer_passing)
        and not delta.new_failures
        and not delta.collection_errors
        and not delta.no_tests_collected
        and not delta.timed_out
    )


def tests_taken_away(delta: TestDelta | None) -> str:
    """Baseline-passing tests the delta removed or skipped, in words ("" when none)."""
    if delta is None:
        return ""
    parts = []
    if delta.removed:
        parts.append(f"{len(delta.removed)} removed ({', '.join(delta.removed[:5])})")
    if delta.newly_skipped:
        parts.append(
            f"{len(delta.newly_skipped)} skipped or xfailed ({', '.join(delta.newly_skipped[:5])})"
        )
    if delta.fewer_passing:
        parts.append(delta.fewer_passing)
    return "; ".join(parts)
