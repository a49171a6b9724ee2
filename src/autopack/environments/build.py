"""Running the commands that build an environment: logged, bounded, and explained.

Every command of a build goes through :class:`BuildLog.run`: its command line and output
go to the log file, a progress line goes to the caller, and a failure becomes an
:class:`~autopack.errors.EnvironmentBuildError` that carries the command, its exit code,
the tail of its output, what that output means and what to do about it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from autopack.errors import EnvironmentBuildError, ToolchainError
from autopack.toolchains.runner import CommandResult, run_command

LOG_TAIL_CHARS = 4000

#: (output pattern, diagnosis, fix): what a failed build's output means, first match wins.
DIAGNOSES: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"No interpreter found|no interpreter.*satisf|requires-python", re.I),
        "no Python interpreter on this machine satisfies the project's requires-python",
        "install a matching Python (e.g. with pyenv or the system package manager), "
        "or widen requires-python",
    ),
    (
        re.compile(r"offline|network (connectivity )?(is|was) disabled|ENOTCACHED|GOPROXY=off",
                   re.I),
        "a package is not available without the network",
        "allow network access, or put the missing wheels in a directory named by "
        "AUTOPACK_ENV_FIND_LINKS",
    ),
    (
        re.compile(r"No solution found|ResolutionImpossible|unsatisfiable|ERESOLVE", re.I),
        "the project's dependencies cannot be resolved together",
        "fix the version constraints in the manifest (the log names the conflict)",
    ),
    (
        re.compile(r"lock ?file .*(out of date|needs to be updated)|--frozen|frozen-lockfile"
                   r"|npm ci.* can only install|in sync", re.I),
        "the lock file does not match the manifest",
        "update the lock file (uv lock, npm install, ...) and commit it",
    ),
    (
        re.compile(r"Failed to build|error: subprocess-exited-with-error|Build backend", re.I),
        "a package (or the project itself) failed to build",
        "read the build output in the log; a missing system library or build backend "
        "is the usual cause",
    ),
    (
        re.compile(r"command not found|not found on PATH|No such file or directory", re.I),
        "a program the build needs is not installed",
        "install the program named in the log, or set the command in the plan's setup",
    ),
]  # fmt: skip


def diagnose(output: str) -> tuple[str, str]:
    """The diagnosis and fix for a failed build's output."""
    for pattern, diagnosis, fix in DIAGNOSES:
        if pattern.search(output):
            return diagnosis, fix
    return (
        "the command failed; its output says why",
        "read the log, fix the project or the plan's setup, then run "
        "`autopack env prepare --repo DIR` to try again",
    )


@dataclass
class BuildLog:
    """One prepare call's log file, progress callback and time limit."""

    path: Path
    progress: Callable[[str], None]
    deadline: float

    def write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")

    def say(self, line: str) -> None:
        """A progress line, also kept in the log."""
        self.write(f"# {line}")
        self.progress(line)

    def run(
        self,
        argv: Sequence[str] | str,
        cwd: Path,
        *,
        env: Mapping[str, str],
        what: str,
        fix: str | None = None,
    ) -> CommandResult:
        """Run one build command; raise EnvironmentBuildError when it fails.

        ``what`` is the progress text ("installing dependencies"); ``fix`` replaces the
        diagnosed fix when the caller knows better (a failing setup command)."""
        display = argv if isinstance(argv, str) else " ".join(str(a) for a in argv)
        self.say(f"{what}: {display}")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise EnvironmentBuildError(
                f"environment build timed out before: {display}",
                command=display,
                diagnosis="the build took longer than its time limit",
                fix="raise AUTOPACK_ENV_BUILD_TIMEOUT_SECONDS or make the setup faster",
                log=self.tail(),
            )
        try:
            result = run_command(
                argv, cwd, timeout=remaining, env=env, merge_stderr=True, max_output_bytes=500_000
            )
        except ToolchainError as exc:
            self.write(f"error: {exc}")
            raise EnvironmentBuildError(
                f"{what} failed: {exc}",
                command=display,
                log=self.tail(),
                diagnosis="a program the build needs is not installed",
                fix=fix or "install it, or name another command in the plan's setup",
            ) from exc
        self.write(f"$ {display}  (cwd {cwd})\n{result.output}")
        self.write(f"# exit {result.exit_code} in {result.duration_s:.2f}s")
        if result.timed_out:
            raise EnvironmentBuildError(
                f"{what} timed out after {result.duration_s:.0f}s: {display}",
                command=display,
                exit_code=result.exit_code,
                log=self.tail(),
                diagnosis="the build took longer than its time limit",
                fix="raise AUTOPACK_ENV_BUILD_TIMEOUT_SECONDS or make the setup faster",
            )
        if result.exit_code != 0:
            diagnosis, diagnosed_fix = diagnose(result.output)
            raise EnvironmentBuildError(
                f"{what} failed (exit {result.exit_code}): {display}",
                command=display,
                exit_code=result.exit_code,
                log=tail(result.output),
                diagnosis=diagnosis,
                fix=fix or diagnosed_fix,
                log_path=str(self.path),
            )
        return result

    def tail(self) -> str:
        try:
            return tail(self.path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return ""


def tail(text: str, limit: int = LOG_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]
