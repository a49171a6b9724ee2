"""Prepare a worktree's environment: find or build the keyed part, attach the worktree.

:func:`prepare_environment` is the one entry point. It detects the toolchain, computes
the key, and under the key's lock builds the keyed environment if it is not ready
(:mod:`autopack.environments.store`), then attaches this worktree and runs the spec's
setup commands once per worktree and key. What it returns is ready to run the project's
commands with (:meth:`Environment.command_env`).
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from autopack.environments.base import Environment, EnvironmentSpec
from autopack.environments.build import BuildLog
from autopack.environments.go import GoProvider
from autopack.environments.java import JavaProvider
from autopack.environments.keys import hash_key
from autopack.environments.node import NodeProvider
from autopack.environments.provider import Attachment, BuildContext, KeyedBuild, Provider
from autopack.environments.python import PythonProvider
from autopack.environments.rust import RustProvider
from autopack.environments.store import (
    BUILDING,
    directory_size,
    key_lock,
    lock_is_free,
    read_record,
    utc_now_text,
    write_json_atomically,
    write_record,
)
from autopack.errors import ToolchainError
from autopack.settings import Settings, get_settings
from autopack.toolchains.base import Detection
from autopack.toolchains.detect import detect_best

PROVIDERS: dict[str, Provider] = {
    p.name: p for p in (PythonProvider(), NodeProvider(), GoProvider(), RustProvider(),
                        JavaProvider())
}  # fmt: skip

ATTACHED = "attached.json"


def _silent(line: str) -> None:
    del line


def _detect(worktree: Path) -> tuple[Detection | None, Provider | None]:
    try:
        detection = detect_best(worktree)
    except ToolchainError:
        return None, None
    if detection is None:
        return None, None
    return detection, PROVIDERS.get(detection.toolchain)


def environment_key(worktree: Path, spec: EnvironmentSpec) -> str:
    """The key :func:`prepare_environment` would use for ``worktree`` now. Builds nothing
    (it may ask a tool for its version, once per process)."""
    worktree = worktree.resolve()
    detection, provider = _detect(worktree)
    tools = provider.tools(worktree, spec) if provider else {}
    return hash_key(
        worktree, spec, toolchain=detection.toolchain if provider and detection else None,
        tools=tools,
    )  # fmt: skip


def prepare_environment(
    worktree: Path,
    spec: EnvironmentSpec,
    *,
    envs_dir: Path,
    progress: Callable[[str], None] = _silent,
    timeout: float = 1800,
    run_id: str | None = None,
    settings: Settings | None = None,
) -> Environment:
    """Build (or find) the environment for ``worktree`` and attach the worktree to it.

    Raises :class:`~autopack.errors.EnvironmentBuildError` when a build, attach or setup
    command fails; the error names the command, its exit code, the log and the fix.
    ``progress`` receives one line per step. ``settings`` gives the offline options
    (``AUTOPACK_ENV_FIND_LINKS``, ``AUTOPACK_ENV_OFFLINE``, ``AUTOPACK_ENV_CACHE_DIR``);
    the process's settings when omitted.
    """
    started = time.monotonic()
    settings = settings or get_settings()
    worktree = worktree.resolve()
    detection, provider = _detect(worktree)
    tools = provider.tools(worktree, spec) if provider else {}
    toolchain = detection.toolchain if provider and detection else None
    key = hash_key(worktree, spec, toolchain=toolchain, tools=tools)
    worktree_id = hashlib.sha256(str(worktree).encode()).hexdigest()[:16]
    deadline = started + timeout

    if provider is None or detection is None:
        log = BuildLog(envs_dir / "logs" / f"{key}-{worktree_id}.log", progress, deadline)
        return _without_toolchain(worktree, spec, key, log, started)

    root = envs_dir / key
    worktree_dir = root / "worktrees" / worktree_id
    if not lock_is_free(envs_dir, key):
        progress(f"waiting for another process preparing environment {key}")
    with key_lock(envs_dir, key):
        log_path = worktree_dir / "prepare.log"
        record = read_record(root)
        built_now = record is None
        if record is None:
            record = _build(
                worktree, spec, detection, provider, root, key, settings, progress,
                deadline, run_id,
            )  # fmt: skip
        worktree_dir.mkdir(parents=True, exist_ok=True)
        # The worktree's log grows with each prepare: the build (when it happened now),
        # the attach and setup commands, and one line per reuse.
        log = BuildLog(log_path, progress, deadline)
        log.write(
            (root / "build.log").read_text(encoding="utf-8") if built_now else
            f"# environment {key} reused (built {record.created_at})"
        )  # fmt: skip
        ctx = _context(worktree, spec, detection, root, settings, log)
        attachment = _attached(worktree, worktree_dir, provider)
        if attachment is None:
            attachment = _attach(ctx, provider, record, worktree_dir)
        else:
            log.say(f"worktree already attached to environment {key}")
        record.last_used_at = utc_now_text()
        write_record(root, record)
    environment = _combine(record, attachment, spec)
    environment.reused = not built_now
    environment.setup_log = log_path
    environment.worktree_dir = worktree_dir
    environment.prepare_seconds = round(time.monotonic() - started, 3)
    progress(
        f"environment {key} {'reused' if environment.reused else 'built'} in "
        f"{environment.prepare_seconds:.1f}s"
    )
    return environment


def _context(
    worktree: Path,
    spec: EnvironmentSpec,
    detection: Detection,
    root: Path,
    settings: Settings,
    log: BuildLog,
) -> BuildContext:
    return BuildContext(
        worktree=worktree,
        spec=spec,
        detection=detection,
        root=root,
        cache_dir=settings.env_cache_dir or root.parent.parent / "cache",
        log=log,
        offline=spec.offline or settings.env_offline,
        find_links=list(settings.env_find_links),
    )


def _build(
    worktree: Path,
    spec: EnvironmentSpec,
    detection: Detection,
    provider: Provider,
    root: Path,
    key: str,
    settings: Settings,
    progress: Callable[[str], None],
    deadline: float,
    run_id: str | None,
) -> Environment:
    """Build the keyed environment at ``root``; the caller holds the key's lock."""
    if root.exists():
        progress(f"removing the half-built environment {key}")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / BUILDING).write_text(f"run {run_id or '-'} since {utc_now_text()}\n")
    log = BuildLog(root / "build.log", progress, deadline)
    log.say(f"building the {provider.name} environment {key} for {worktree}")
    started = time.monotonic()
    built: KeyedBuild = provider.build(_context(worktree, spec, detection, root, settings, log))
    now = utc_now_text()
    record = Environment(
        key=key,
        toolchain=provider.name,
        root=root,
        bin_dirs=built.bin_dirs,
        variables={**built.variables, **spec.env},
        interpreter=built.interpreter,
        tool_versions=built.tool_versions,
        installed=built.installed,
        notes=built.notes,
        build_seconds=round(time.monotonic() - started, 3),
        size_bytes=directory_size(root),
        pytest_available=built.pytest_available,
        created_at=now,
        last_used_at=now,
    )
    write_record(root, record)  # last: from here on the environment is ready
    (root / BUILDING).unlink(missing_ok=True)
    return record


def _attached(worktree: Path, worktree_dir: Path, provider: Provider) -> Attachment | None:
    """The worktree's earlier attachment, when it is still in place."""
    try:
        attachment = Attachment.model_validate_json(
            (worktree_dir / ATTACHED).read_text(encoding="utf-8")
        )
    except (OSError, ValueError):
        return None
    if attachment.worktree != str(worktree) or not provider.still_attached(worktree, worktree_dir):
        return None
    return attachment


def _attach(
    ctx: BuildContext, provider: Provider, record: Environment, worktree_dir: Path
) -> Attachment:
    """Attach the worktree and run the setup commands; attached.json is written last, so
    a failed setup is run again by the next prepare."""
    (worktree_dir / ATTACHED).unlink(missing_ok=True)
    keyed = KeyedBuild(
        tool_versions=record.tool_versions,
        installed=record.installed,
        bin_dirs=record.bin_dirs,
        variables=record.variables,
        interpreter=record.interpreter,
        pytest_available=record.pytest_available,
    )
    attachment = provider.attach(ctx, keyed, worktree_dir)
    attachment.worktree = str(ctx.worktree)
    _run_setup(ctx, _combine(record, attachment, ctx.spec))
    write_json_atomically(worktree_dir / ATTACHED, attachment.model_dump_json(indent=2))
    return attachment


def _run_setup(ctx: BuildContext, environment: Environment) -> None:
    for command in ctx.spec.setup:
        ctx.log.run(
            command,
            ctx.worktree,
            env=environment.command_env(),
            what="setup",
            fix=f"fix the setup command {command!r} in the plan or .autopack.yaml, or the "
            "project, so that it succeeds in a fresh checkout",
        )


def _combine(record: Environment, attachment: Attachment, spec: EnvironmentSpec) -> Environment:
    bin_dirs = [*attachment.bin_dirs, *(d for d in record.bin_dirs if d not in attachment.bin_dirs)]
    installed = [*record.installed, *(i for i in attachment.installed if i not in record.installed)]
    return record.model_copy(
        update={
            "bin_dirs": bin_dirs,
            "variables": {**record.variables, **attachment.variables, **spec.env},
            "interpreter": attachment.interpreter or record.interpreter,
            "installed": installed,
        },
        deep=True,
    )


def _without_toolchain(
    worktree: Path, spec: EnvironmentSpec, key: str, log: BuildLog, started: float
) -> Environment:
    """No toolchain detected: nothing to build, but the PATH is still Autopack-free and
    the setup commands still run (on every prepare: there is no keyed place to remember
    them in)."""
    environment = Environment(key=key, toolchain=None, root=None, variables=dict(spec.env))
    if spec.setup:
        log.path.write_text(f"# no toolchain detected in {worktree}\n", encoding="utf-8")
        for command in spec.setup:
            log.run(
                command, worktree, env=environment.command_env(), what="setup",
                fix=f"fix the setup command {command!r} in the plan or .autopack.yaml",
            )  # fmt: skip
        environment.setup_log = log.path
    environment.prepare_seconds = round(time.monotonic() - started, 3)
    return environment
