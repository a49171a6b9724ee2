"""Run one external command the way verification needs it: bounded, isolated, decoded.

:func:`run_command` is the only place in the toolchain layer that starts a process. It

- runs the command in its own session (``start_new_session=True``), so a timeout kills the
  whole process group: a test runner's workers and grandchildren die with it;
- gives it a controlled environment (:func:`command_env`): a short allow-list of inherited
  variables plus forced UTF-8, no bytecode files, ``CI=1`` and no colours;
- captures stdout and stderr with a byte cap that keeps the head and the tail (the first
  lines say what ran, the last lines say how it ended) and marks how much was cut;
- turns "the executable does not exist" into :class:`~autopack.errors.ToolchainError`.

A string command is split with :mod:`shlex` and run directly unless it uses shell syntax
(pipes, ``&&``, redirections, variables, globs), in which case it runs under ``/bin/sh -c``.
POSIX only: process groups and ``waitid`` are what make the kill reliable.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict

from autopack.errors import ToolchainError

DEFAULT_MAX_OUTPUT_BYTES = 2_000_000
#: Seconds between SIGTERM and SIGKILL when a command times out.
KILL_GRACE_SECONDS = 3.0
#: At most this long, after the command ended, for what it left behind to die.
GROUP_EXIT_WAIT_SECONDS = 2.0

#: Inherited variables a toolchain needs to find itself and its caches. Everything else in
#: Autopack's own environment (API keys, PYTHONPATH, VIRTUAL_ENV ...) stays out of the
#: project's commands.
INHERITED_ENV = (
    "PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "SHELL",
    "JAVA_HOME", "M2_HOME", "MAVEN_HOME", "GRADLE_USER_HOME",
    "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN",
    "GOROOT", "GOPATH", "GOCACHE", "GOMODCACHE",
    "NVM_DIR", "COREPACK_HOME",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
)  # fmt: skip

#: Variables every command gets, whatever the caller passes: output must decode as UTF-8,
#: test runs must not drop .pyc files into the worktree (they would be committed), and
#: tools must behave as in CI (no watch mode, no prompts, no ANSI colours to parse around:
#: output goes to a pipe and TERM is dumb). Not NO_COLOR: it outranks FORCE_COLOR, so
#: projects that test their colour switches (cleo, commander.js) failed those tests in
#: every baseline, and they were never judged.
FORCED_ENV = {
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONUTF8": "1",
    "PYTHONIOENCODING": "utf-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "CI": "1",
    "TERM": "dumb",
}

_SHELL_SYNTAX = set("|&;<>()$`*?[]{}~\n") | {"\\"}


class CommandResult(BaseModel):
    """What a finished (or killed) command left behind.

    ``exit_code`` is the process's status; a process killed by a signal has ``-signum``.
    ``output`` is stdout and stderr in arrival order (exact when ``merge_stderr`` was used,
    otherwise interleaved chunk by chunk). Each of the three texts is capped separately.
    """

    model_config = ConfigDict(frozen=True)

    command: str
    cwd: str
    exit_code: int
    stdout: str
    stderr: str
    output: str
    duration_s: float
    timed_out: bool
    truncated: bool

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def command_env(
    extra: Mapping[str, str] | None = None, *, inherited: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment a command runs with: allow-listed inherited variables, then
    ``extra``, then :data:`FORCED_ENV` (which ``extra`` cannot override)."""
    # The process environment is read here, not in settings.py: these variables are how the
    # host's toolchains are found, not Autopack configuration.
    source = os.environ if inherited is None else inherited
    env = {key: source[key] for key in INHERITED_ENV if key in source}
    env.update(extra or {})
    env.update(FORCED_ENV)
    return env


def command_argv(cmd: Sequence[str] | str) -> list[str]:
    """The argv that :func:`run_command` executes for ``cmd``."""
    if not isinstance(cmd, str):
        argv = list(cmd)
        if not argv:
            raise ToolchainError("empty command")
        return argv
    if not cmd.strip():
        raise ToolchainError("empty command")
    if any(ch in _SHELL_SYNTAX for ch in cmd) or "=" in cmd.split()[0]:
        return ["/bin/sh", "-c", cmd]
    return shlex.split(cmd)


def run_command(
    cmd: Sequence[str] | str,
    cwd: Path | str,
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    merge_stderr: bool = False,
    kill_grace_s: float = KILL_GRACE_SECONDS,
) -> CommandResult:
    """Run ``cmd`` in ``cwd`` and wait at most ``timeout`` seconds.

    ``env`` adds variables to :func:`command_env`. With ``merge_stderr`` the command's
    stderr goes into the same pipe as stdout, which keeps their exact order (cargo, for
    one, writes its "Running <target>" lines to stderr and the test results to stdout).
    On timeout the group gets SIGTERM, and SIGKILL ``kill_grace_s`` seconds later.

    Raises :class:`ToolchainError` when ``cwd`` is not a directory or the executable cannot
    be started; a command that starts and fails is a result, not an error.
    """
    argv = command_argv(cmd)
    display = cmd if isinstance(cmd, str) else shlex.join(argv)
    workdir = Path(cwd)
    if not workdir.is_dir():
        raise ToolchainError(
            f"cannot run `{display}`: {workdir} is not a directory",
            command=display,
            cwd=str(workdir),
        )
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=command_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise ToolchainError(
            f"cannot run `{display}`: `{argv[0]}` was not found on PATH; install it or "
            "name the test command in the plan (scope.tests or verify)",
            command=display,
            cwd=str(workdir),
            executable=argv[0],
        ) from exc
    except PermissionError as exc:
        raise ToolchainError(
            f"cannot run `{display}`: `{argv[0]}` is not executable",
            command=display,
            cwd=str(workdir),
            executable=argv[0],
        ) from exc

    half = max(max_output_bytes // 2, 1)
    stdout, stderr, combined = _Capture(half), _Capture(half), _Capture(half)
    lock = threading.Lock()
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, stdout, combined, lock), daemon=True)
    ]
    if proc.stderr is not None:
        pumps.append(
            threading.Thread(target=_pump, args=(proc.stderr, stderr, combined, lock), daemon=True)
        )
    for pump in pumps:
        pump.start()

    timed_out = not _wait_unreaped(proc.pid, timeout)
    if timed_out:
        _signal_group(proc.pid, signal.SIGTERM)
        _wait_unreaped(proc.pid, kill_grace_s)
    # The leader is not reaped yet (alive, or exited and waiting for us), so its process
    # group id cannot have been reused: this reaches only the command's own processes, e.g.
    # a server a test started in the background that would otherwise hold our pipes open.
    _signal_group(proc.pid, signal.SIGKILL)
    exit_code = proc.wait()
    _wait_group_gone(proc.pid, GROUP_EXIT_WAIT_SECONDS)
    for pump in pumps:
        pump.join(timeout=5)
    return CommandResult(
        command=display,
        cwd=str(workdir),
        exit_code=exit_code,
        stdout=stdout.text(),
        stderr=stderr.text(),
        output=combined.text(),
        duration_s=round(time.monotonic() - started, 3),
        timed_out=timed_out,
        truncated=stdout.cut > 0 or stderr.cut > 0 or combined.cut > 0,
    )


class _Capture:
    """Keeps the first ``half`` and the last ``half`` bytes of a stream, counts the rest."""

    def __init__(self, half: int) -> None:
        self.half = half
        self.head = bytearray()
        self.tail = bytearray()
        self.cut = 0

    def add(self, chunk: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail += chunk
        excess = len(self.tail) - self.half
        if excess > 0:
            del self.tail[:excess]
            self.cut += excess

    def text(self) -> str:
        if not self.cut:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", errors="replace")
        marker = f"\n[... autopack cut {self.cut} bytes from the middle of this output ...]\n"
        return (
            self.head.decode("utf-8", errors="replace")
            + marker
            + self.tail.decode("utf-8", errors="replace")
        )


def _pump(
    stream: IO[bytes] | None, own: _Capture, combined: _Capture, lock: threading.Lock
) -> None:
    if stream is None:
        return
    fd = stream.fileno()
    try:
        while chunk := os.read(fd, 65536):
            with lock:
                own.add(chunk)
                combined.add(chunk)
    finally:
        stream.close()


def _wait_unreaped(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``pid`` to exit without reaping it; True if it exited."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        if info is not None and info.si_pid == pid:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.05)


def _wait_group_gone(pgid: int, timeout: float) -> None:
    """Wait until no live process is left in the group: SIGKILL is delivered asynchronously,
    and callers may reset the worktree as soon as we return."""
    deadline = time.monotonic() + timeout
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.01)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not Path("/proc/self/stat").exists():
        return True  # no /proc (macOS): members exist, live or not
    # Killed members stay in the group as zombies until their new parent reaps them, which
    # some container init processes do only every second or two; zombies do not count.
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(pgid, sig)
