"""GENERATED from :mod:`autopack.services.run_overview` by `render_sqlite_module`
(never edit by hand; a test keeps this file equal to it): its statements compiled
for SQLite, and the UTC timestamp columns of each, for the stdlib read."""

# fmt: off
STATEMENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "run": (
        (
            "SELECT runs.id, runs.name, runs.state, runs.safety_profile, runs.run_scope, runs.failure_reason, runs.branch, runs.tokens_used, runs.token_cap, runs.max_phases, runs.ci_runs_used, runs.ci_run_cap, runs.max_duration_minutes, runs.minor_issues_count, runs.major_issues_count, runs.max_minor_issues_total, runs.started_at, runs.completed_at, runs.created_at \n"
            "FROM runs \n"
            "WHERE runs.id = :run_id"
        ),
        ("started_at", "completed_at", "created_at"),
    ),
    "tiers": (
        (
            "SELECT tiers.id, tiers.run_id, tiers.tier_id, tiers.tier_index, tiers.name, tiers.state, tiers.cleanliness, tiers.minor_issues_count, tiers.major_issues_count \n"
            "FROM tiers \n"
            "WHERE tiers.run_id = :run_id ORDER BY tiers.tier_index, tiers.id"
        ),
        (),
    ),
    "phases": (
        (
            "SELECT phases.id, phases.run_id, phases.tier_pk, phases.phase_id, phases.phase_index, phases.name, phases.state, phases.task_category, phases.complexity, phases.builder_attempts, phases.auditor_attempts, phases.tokens_used, phases.minor_issues_count, phases.major_issues_count, phases.commit_sha, phases.last_failure, tiers.tier_id \n"
            "FROM phases JOIN tiers ON tiers.id = phases.tier_pk \n"
            "WHERE phases.run_id = :run_id ORDER BY phases.phase_index, phases.id"
        ),
        (),
    ),
    "attempts": (
        (
            "SELECT phase_attempts.id, phase_attempts.phase_pk, phase_attempts.role, phase_attempts.attempt_number, phase_attempts.status, phase_attempts.tokens_used, phase_attempts.apply_status, phase_attempts.model, phase_attempts.created_at \n"
            "FROM phase_attempts \n"
            "WHERE phase_attempts.phase_pk IN (SELECT phases.id \n"
            "FROM phases \n"
            "WHERE phases.run_id = :run_id) ORDER BY phase_attempts.id"
        ),
        ("created_at",),
    ),
    "issues": (
        (
            "SELECT count(*) AS count_1 \n"
            "FROM run_issues \n"
            "WHERE run_issues.run_id = :run_id"
        ),
        (),
    ),
    "runs_page": (
        (
            "SELECT runs.id, runs.name, runs.state, runs.created_at, runs.tokens_used, runs.token_cap, runs.failure_reason, (SELECT count(*) AS count_1 \n"
            "FROM phases \n"
            "WHERE phases.run_id = runs.id) AS phase_count \n"
            "FROM runs ORDER BY runs.created_at DESC, runs.id\n"
            " LIMIT :limit OFFSET :offset"
        ),
        ("created_at",),
    ),
    "runs_page_in_state": (
        (
            "SELECT runs.id, runs.name, runs.state, runs.created_at, runs.tokens_used, runs.token_cap, runs.failure_reason, (SELECT count(*) AS count_1 \n"
            "FROM phases \n"
            "WHERE phases.run_id = runs.id) AS phase_count \n"
            "FROM runs \n"
            "WHERE runs.state = :state ORDER BY runs.created_at DESC, runs.id\n"
            " LIMIT :limit OFFSET :offset"
        ),
        ("created_at",),
    ),
    "runs_count": (
        (
            "SELECT count(*) AS count_1 \n"
            "FROM runs"
        ),
        (),
    ),
    "runs_count_in_state": (
        (
            "SELECT count(*) AS count_1 \n"
            "FROM runs \n"
            "WHERE runs.state = :state"
        ),
        (),
    ),
}
# fmt: on
