"""The run's environment, as the executor uses it: prepared at the start, checked before
every test run, and recorded in the run's artifacts.

- :func:`prepare_run_environment` reads the overrides (the plan's ``setup``/``env`` over
  the repository's ``.autopack.yaml``), asks :mod:`autopack.environments` for the
  worktree's environment with live progress, writes ``env.json`` and ``setup.log`` into
  the run's artifacts, and stops the run (:class:`~autopack.executor.phase.RunFailed`,
  ``DONE_FAILED_ENVIRONMENT``) with a report when the environment cannot be built: no
  model has been asked yet, so nothing has been spent.
- :func:`current_environment` is called before each test run of a phase: when the phase
  changed a manifest or lock file, the environment's key no longer holds, and the tests run
  in a rebuilt environment. A rebuild that fails is the phase's failure (its change broke
  the install), reported to the Builder like a suite that cannot be collected.

Every project command gets :func:`project_command_env`: the environment's PATH and
variables, the overrides' ``env``, then the executor's own extras (tests set some); never
Autopack's interpreter or its settings.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from typing import TYPE_CHECKING

from autopack.db.session import unit_of_work
from autopack.environments import (
    EnvironmentBuildError,
    EnvironmentSpec,
    environment_key,
    prepare_environment,
)
from autopack.executor.artifacts import write_atomic
from autopack.planning.project_config import merge_overrides, read_project_config
from autopack.toolchains.base import TestCommand
from autopack.toolchains.detect import plan_test_commands
from autopack.toolchains.results import TestReport
from autopack.verify.baseline_gate import StartProblem, diagnose

if TYPE_CHECKING:
    from autopack.environments import Environment
    from autopack.executor.runtime import RunContext

ENV_RECORD = "env.json"
SETUP_LOG = "setup.log"


class EnvironmentUnusable(Exception):
    """The run cannot start: ``problem`` says why and what to do."""

    def __init__(self, problem: StartProblem) -> None:
        super().__init__(problem.problem)
        self.problem = problem


def environment_spec(ctx: RunContext) -> EnvironmentSpec:
    """The environment the run asks for: plan overrides over ``.autopack.yaml``'s."""
    overrides = merge_overrides(ctx.spec, read_project_config(ctx.worktree))
    return EnvironmentSpec(setup=list(overrides.setup), env=dict(overrides.env))


def prepare_run_environment(ctx: RunContext) -> Environment:
    """Build (or find) the worktree's environment and record it; raises
    :class:`EnvironmentUnusable` when it cannot be built."""
    spec = environment_spec(ctx)
    ctx.env_spec = spec
    ctx.deps.progress("environment", run_id=ctx.run_id, setup_commands=len(spec.setup))
    env = _prepare(ctx, spec, reason="run start")
    if isinstance(env, StartProblem):
        raise EnvironmentUnusable(env)
    return env


def current_environment(ctx: RunContext, phase_id: str) -> TestReport | None:
    """Make sure the worktree's environment still matches its manifests before a test run.

    Returns None when the tests can run (the environment held, or was rebuilt), or a
    report that stands for the test run when the rebuild failed: a collection error
    naming the failed command, with the install log as its output, so the phase is judged
    as a suite that cannot be collected and the Builder hears why.
    """
    if ctx.environment is None or ctx.env_spec is None:
        return None
    if environment_key(ctx.worktree, ctx.env_spec) == ctx.environment.key:
        return None
    ctx.deps.progress("environment_rebuild", phase_id=phase_id, old_key=ctx.environment.key)
    env = _prepare(ctx, ctx.env_spec, reason=f"phase {phase_id} changed a manifest")
    if isinstance(env, StartProblem):
        return TestReport(
            source="exit-code",
            command=env.command,
            exit_code=env.exit_code,
            collection_errors=[
                f"the environment could not be rebuilt after this change: {env.problem}"
                + (f" (`{env.command}`)" if env.command else "")
            ],
            log_tail=env.log_tail,
            note="; ".join(env.fix),
        )
    return None


def _prepare(ctx: RunContext, spec: EnvironmentSpec, *, reason: str) -> Environment | StartProblem:
    deps = ctx.deps

    def progress(line: str) -> None:
        deps.progress("environment_progress", message=line)

    try:
        env = prepare_environment(
            ctx.worktree,
            spec,
            envs_dir=deps.settings.envs_dir,
            progress=progress,
            timeout=deps.settings.env_build_timeout_seconds,
            run_id=ctx.run_id,
            settings=deps.settings,
        )
    except EnvironmentBuildError as exc:
        return _build_problem(ctx, exc)
    ctx.environment = env
    _record(ctx, env, reason)
    return env


def _build_problem(ctx: RunContext, exc: EnvironmentBuildError) -> StartProblem:
    """A failed build as a start problem; the hardening registry adds what it recognises
    to the environments package's own diagnosis."""
    log_path = ctx.artifacts.root / SETUP_LOG
    if exc.log:
        write_atomic(log_path, exc.log)
    problem = StartProblem(
        stage="environment",  # a failed setup command says so in its message
        problem=exc.message,
        command=exc.command or "",
        exit_code=exc.exit_code,
        log_tail=exc.log,
        log_path=str(log_path) if exc.log else None,
        diagnosis=[exc.diagnosis] if exc.diagnosis else [],
        fix=[exc.fix] if exc.fix else [],
    )
    return diagnose(problem, worktree=ctx.worktree, toolchain=None)


def _record(ctx: RunContext, env: Environment, reason: str) -> None:
    """``env.json`` (what the tests run with) and the setup log, in the run's artifacts."""
    root = ctx.artifacts.root
    record = {"reason": reason, **env.model_dump(mode="json")}
    write_atomic(root / ENV_RECORD, json.dumps(record, indent=2, default=str) + "\n")
    if env.setup_log is not None and env.setup_log.is_file():
        shutil.copyfile(env.setup_log, root / SETUP_LOG)
    summary = (
        f"{'reused' if env.reused else 'built'} environment {env.key} "
        f"({env.toolchain or 'no toolchain'}) for {reason}"
        + ("" if env.reused else f" in {env.build_seconds:.1f}s")
    )
    ctx.deps.progress(
        "environment_ready",
        key=env.key,
        reused=env.reused,
        seconds=round(env.build_seconds, 1),
        interpreter=env.interpreter or "-",
    )
    with unit_of_work(ctx.factory) as session:
        ctx.decide(
            session,
            "environment",
            summary,
            key=env.key,
            reused=env.reused,
            installed=len(env.installed),
            notes=list(env.notes),
        )


def project_command_env(ctx: RunContext) -> dict[str, str]:
    """The variables every project command of the run gets (see the module docstring)."""
    env = ctx.environment.command_env() if ctx.environment is not None else {}
    if ctx.env_spec is not None:
        env.update(ctx.env_spec.env)
    env.update(ctx.deps.test_env)
    return env


def test_commands(ctx: RunContext, scope_tests: Sequence[str] = ()) -> list[TestCommand]:
    """The test commands for the run (or a phase's ``scope_tests``), a detected Python
    suite run by the environment's interpreter."""
    env = ctx.environment
    return plan_test_commands(
        ctx.worktree,
        scope_tests=scope_tests,
        run_verify=ctx.spec.verify,
        interpreter=env.interpreter if env is not None else None,
        pytest_available=env.pytest_available if env is not None else False,
    )
