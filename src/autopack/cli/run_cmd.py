"""`autopack run` and `autopack demo`: execute a plan against a repository."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from autopack.cli.batch import batch_succeeded, execute_many
from autopack.cli.main import app
from autopack.cli.output import console, database, print_json, settings
from autopack.cli.progress import LiveProgress
from autopack.db.database import Database
from autopack.db.orm import Run
from autopack.db.session import unit_of_work
from autopack.domain.plan import RunSpec
from autopack.errors import ConfigurationError, ValidationError
from autopack.executor.loop import RunOutcome, build_deps, execute_run
from autopack.llm.preflight import require_usable_providers
from autopack.planning.normalize import load_plan
from autopack.planning.preflight import plan_errors, preflight
from autopack.planning.validation import check_repository
from autopack.services import runs as run_service
from autopack.services.event_relay import with_remote_progress
from autopack.services.notification_sender import start_sender
from autopack.settings import Settings

SCRIPTED_NOTICE = (
    "The model responses in this demo are SCRIPTED (a bundled JSONL file replayed by the "
    "`scripted` provider): no model is called, no key is needed, nothing leaves this "
    "machine. Everything else is real: the git worktree, governed apply, the project's own "
    "tests, budgets, the database and the artifacts."
)
REAL_MODEL_HELP = (
    "To build with a real model: set ANTHROPIC_API_KEY or OPENAI_API_KEY (or point "
    "AUTOPACK_LLM_BASE_URL at an OpenAI-compatible server such as a local Ollama, "
    "http://localhost:11434/v1, with AUTOPACK_LLM_MODEL) and run "
    "`autopack demo --provider anthropic|openai|custom`, or `autopack run PLAN --repo DIR`."
)


def _summary_table(outcome: RunOutcome) -> Table:
    table = Table(
        "phase",
        "tier",
        "state",
        "builder",
        "auditor",
        "doctor",
        "tokens",
        "commit",
        title=f"run {outcome.run_id}: {outcome.state}",
    )
    for p in outcome.phases:
        table.add_row(
            p.phase_id,
            p.tier_id,
            p.state,
            str(p.builder_attempts),
            str(p.auditor_attempts),
            str(p.doctor_calls),
            f"{p.tokens_used:,}",
            (p.commit_sha or "-")[:10],
        )
    return table


def _record_resume(db: Database, run_id: str) -> None:
    """The decision log records who resumed the run (``cli:<OS user>``)."""
    from autopack.cli.identity import cli_identity
    from autopack.services.execution import record_execution_request

    with unit_of_work(db.factory) as session:
        record_execution_request(session, run_id, actor=cli_identity(), where="cli")


#: How long `autopack run` waits at the end for its notifications to go out.
NOTIFY_FLUSH_SECONDS = 5.0


def _execute(
    cfg: Settings,
    db: Database,
    run_id: str,
    *,
    as_json: bool,
    test_env: dict[str, str] | None = None,
) -> RunOutcome:
    progress = LiveProgress(db, run_id, quiet=as_json)
    # On PostgreSQL the events also reach the dashboard of a server on the same database.
    deps = build_deps(
        cfg, db, progress=with_remote_progress(progress, db.engine, db.factory, run_id)
    )
    if test_env:
        deps.test_env.update(test_env)
    sender = start_sender(cfg, db.factory)
    try:
        outcome = execute_run(deps, run_id)
    finally:
        progress.close()
        # What the run queued goes out now, within a bound: a channel that hangs costs
        # this process at most NOTIFY_FLUSH_SECONDS at exit; the rest waits in the outbox.
        sender.flush(NOTIFY_FLUSH_SECONDS)
        sender.stop(timeout=0.5)
    if as_json:
        print_json(
            {
                **outcome.model_dump(mode="json"),
                "phases": [p.model_dump(mode="json") for p in outcome.phases],
            }
        )
    else:
        console.print(_summary_table(outcome))
        if outcome.failure_reason:
            console.print(f"[red]reason:[/] {outcome.failure_reason}")
        if outcome.awaiting_approval:
            console.print(
                f"[yellow]waiting for approval:[/] "
                f"{', '.join(outcome.awaiting_approval)}; decide with "
                f"`autopack approvals list` / `approve ID`, then "
                f"`autopack run --resume {run_id}`"
            )
        console.print(
            f"tokens {outcome.tokens_used:,} / {outcome.token_cap:,}   branch "
            f"{outcome.branch or '-'}   artifacts {outcome.artifacts}"
        )
    return outcome


def _with_provider(cfg: Settings, provider: str | None) -> Settings:
    return cfg.model_copy(update={"llm_provider": provider}) if provider else cfg


@app.command("run")
def run(
    plans: list[Path] = typer.Argument(
        None,
        exists=True,
        dir_okay=False,
        help="Plan: .yaml/.yml/.json RunSpec, or a Markdown plan. Several plans are run "
        "at once, each in its own worker process (see --max-concurrent).",
    ),
    repo: Path = typer.Option(
        None,
        "--repo",
        help="The git repository to build in, a checkout or a bare repository (a "
        "checkout is never touched: Autopack works on branch autopack/<run_id> in its "
        "own worktree).",
    ),
    run_id: str = typer.Option(
        None, "--run-id", help="Run id (default: the plan's id, else one derived from the plan)."
    ),
    resume: str = typer.Option(
        None, "--resume", metavar="RUN_ID", help="Continue an existing run from its last step."
    ),
    provider: str = typer.Option(
        None, "--provider", help="Force one LLM provider (anthropic, openai, custom, scripted)."
    ),
    max_concurrent: int = typer.Option(
        None,
        "--max-concurrent",
        "-j",
        min=1,
        max=64,
        help="Run the plans at once in worker processes, at most N at a time, with one "
        "live table and a report (default 4 when several plans are given).",
    ),
    report: Path = typer.Option(
        None,
        "--report",
        file_okay=False,
        help="With several plans: directory for the report (default AUTOPACK_HOME/reports).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object at the end."),
) -> None:
    """Build a plan into a repository, phase by phase, and report the outcome.

    Several plans (or --max-concurrent) run at once, each in a worker process, with a
    live table and a Markdown and JSON report of each run's timing, state, tokens and
    cost. Exit codes: 0 when every run ends in DONE_SUCCESS, 1 when one fails (or waits
    for an approval), 2 on usage or configuration errors. Re-running the same plan with
    the same run id resumes it.
    """
    cfg = _with_provider(settings(), provider)
    checked: list[tuple[RunSpec, Path]] = []
    if not resume:
        if not plans or repo is None:
            raise ValidationError("give a PLAN and --repo DIR, or --resume RUN_ID", field="plan")
        if run_id is not None and len(plans) > 1:
            raise ValidationError(
                "--run-id names one run; with several plans give each plan its own run_id instead",
                field="--run-id",
            )
        # Every plan is checked offline before providers are asked anything.
        checked = [_checked_plan(plan, repo, run_id) for plan in plans]
    # Before anything exists (run row, branch, worktree, baseline): providers usable?
    require_usable_providers(cfg)
    db = database()
    try:
        if resume:
            _record_resume(db, resume)
            outcome = _execute(cfg, db, resume, as_json=as_json)
        elif len(checked) == 1 and max_concurrent is None:
            target = _create_or_reuse(cfg, db, *checked[0])
            outcome = _execute(cfg, db, target, as_json=as_json)
        else:
            targets = [_create_or_reuse(cfg, db, *one) for one in checked]
            if len(set(targets)) != len(targets):
                raise ValidationError(
                    "two plans have the same run id; give each plan its own run_id",
                    field="plan",
                )
            batch = execute_many(
                cfg,
                db,
                targets,
                max_concurrent=max_concurrent or 4,
                report_dir=report,
                as_json=as_json,
            )
            if not batch_succeeded(batch):
                raise typer.Exit(1)
            return
    finally:
        db.dispose()
    if not outcome.succeeded:
        raise typer.Exit(1)


def _checked_plan(plan: Path, repo: Path, run_id: str | None) -> tuple[RunSpec, Path]:
    """The plan and repository, refused (exit 2) when invalid or when preflight finds an
    error: checked offline, before providers are asked anything."""
    repo = check_repository(str(repo.resolve()), field="--repo")
    spec = load_plan(plan, run_id=run_id)
    errors = plan_errors(preflight(spec, repo))
    if errors:
        raise ValidationError(
            "the plan has errors, so nothing was started: "
            + "; ".join(f"[{e.code}] {e.message}" for e in errors)
            + f" (see `autopack plan {plan} --repo {repo}`)",
            field="plan",
        )
    return spec, repo


def _create_or_reuse(cfg: Settings, db: Database, spec: RunSpec, repo: Path) -> str:
    with unit_of_work(db.factory) as session:
        existing = session.get(Run, spec.run_id)
        if existing is not None:
            if existing.repo_path and Path(existing.repo_path) != repo:
                raise ConfigurationError(
                    f"run {spec.run_id!r} exists for {existing.repo_path}, not {repo}; pass "
                    "--run-id to start a new run"
                )
            return existing.id
        run_service.create_run(session, spec, runs_dir=cfg.runs_dir, repo_path=str(repo))
    return spec.run_id


@app.command("demo")
def demo(
    directory: Path = typer.Option(
        None,
        "--dir",
        help="Where to copy the example project "
        "(default: a new directory under AUTOPACK_HOME/demos).",
    ),
    provider: str = typer.Option(
        None,
        "--provider",
        help="Run the same plan with a real "
        "provider (anthropic, openai, custom) instead of the script.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object at the end."),
) -> None:
    """Run the bundled plan (2 tiers, 4 phases) on a copy of a small Python project.

    Offline by default: the model answers are scripted. One phase fails its tests first and
    is fixed after a Doctor hint; one gets an Auditor "revise" before it is approved.
    """
    from autopack.demo import EXAMPLE_PROJECT, PLAN_FILE, SCRIPT_FILE, demo_assets_dir

    assets = demo_assets_dir()
    cfg = settings()
    if shutil.which("git") is None:
        raise ConfigurationError("the demo needs git on PATH")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = (directory or cfg.home / "demos" / f"demo-{stamp}").resolve()
    if target.exists() and any(target.iterdir()):
        raise ValidationError(f"{target} is not empty; choose another --dir", field="--dir")
    if provider is None:
        cfg = cfg.model_copy(
            update={"llm_provider": "scripted", "llm_script": assets / SCRIPT_FILE}
        )
        if not as_json:
            console.print(f"[bold yellow]Note:[/] {SCRIPTED_NOTICE}\n{REAL_MODEL_HELP}\n")
    else:
        cfg = _with_provider(cfg, provider)
    require_usable_providers(cfg)
    shutil.copytree(assets / EXAMPLE_PROJECT, target, dirs_exist_ok=True)
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        [
            "-c",
            "user.name=Autopack Demo",
            "-c",
            "user.email=demo@autopack.local",
            "commit",
            "-q",
            "-m",
            "example project",
        ],
    ):
        subprocess.run(["git", *args], cwd=target, check=True, capture_output=True)
    run_id = f"demo-{stamp}"
    db = database()
    try:
        spec = load_plan(assets / PLAN_FILE, run_id=run_id)
        with unit_of_work(db.factory) as session:
            run_service.create_run(session, spec, runs_dir=cfg.runs_dir, repo_path=str(target))
        artifacts = cfg.runs_dir / run_id
        note = SCRIPTED_NOTICE if provider is None else f"Provider: {provider}."
        (artifacts / "ABOUT_THIS_RUN.md").write_text(
            f"# About this run\n\n{note}\n\n{REAL_MODEL_HELP}\n", encoding="utf-8"
        )
        # The example project gets its environment like any project: no special case.
        outcome = _execute(cfg, db, run_id, as_json=as_json)
    finally:
        db.dispose()
    if not as_json:
        console.print(
            f"\n[bold]Where to look[/]\n"
            f"  project copy : {target} (untouched: its checkout stays on main)\n"
            f"  branch       : {outcome.branch}  (git -C {target} log --oneline "
            f"{outcome.branch})\n"
            f"  worktree     : {outcome.worktree}\n"
            f"  artifacts    : {outcome.artifacts}  (run_summary.md, phases/, ci/, "
            "decision_log.jsonl)\n"
            f"  report       : autopack status {run_id}\n"
            f"  API          : autopack serve, then curl "
            f"http://127.0.0.1:8000/reports/run_summary/{run_id}"
        )
    if not outcome.succeeded:
        raise typer.Exit(1)
