"""run_command: exit codes, controlled environment, process-group kill, capped capture."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from autopack.errors import ToolchainError
from autopack.toolchains.runner import FORCED_ENV, command_argv, command_env, run_command

PY = sys.executable


def test_captures_exit_code_stdout_and_stderr_separately(tmp_path: Path) -> None:
    code = "import sys; print('to out'); print('to err', file=sys.stderr); sys.exit(3)"
    result = run_command([PY, "-c", code], tmp_path, timeout=30)
    assert result.exit_code == 3
    assert result.stdout == "to out\n"
    assert result.stderr == "to err\n"
    assert "to out" in result.output and "to err" in result.output
    assert not result.timed_out and not result.truncated and not result.ok
    assert result.duration_s > 0


def test_merge_stderr_keeps_the_exact_order(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "for i in range(50):\n"
        "    (sys.stdout if i % 2 else sys.stderr).write(f'{i}\\n'); "
        "(sys.stdout if i % 2 else sys.stderr).flush()\n"
    )
    result = run_command([PY, "-c", code], tmp_path, timeout=30, merge_stderr=True)
    assert result.output.split() == [str(i) for i in range(50)]
    assert result.stderr == ""


def test_environment_is_controlled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPACK_SECRET_FOR_TEST", "leak")
    monkeypatch.setenv("LANG", "latin-1-something")
    code = (
        "import os, json; print(json.dumps({k: os.environ.get(k) for k in "
        "['AUTOPACK_SECRET_FOR_TEST', 'LANG', 'PYTHONUTF8', 'PYTHONDONTWRITEBYTECODE', 'CI', "
        "'EXTRA', 'PATH']}))"
    )
    result = run_command([PY, "-c", code], tmp_path, timeout=30, env={"EXTRA": "yes", "CI": "0"})
    import json

    seen = json.loads(result.stdout)
    assert seen["AUTOPACK_SECRET_FOR_TEST"] is None
    assert seen["LANG"] == "C.UTF-8"
    assert seen["PYTHONUTF8"] == "1" and seen["PYTHONDONTWRITEBYTECODE"] == "1"
    assert seen["CI"] == "1"  # forced values win over extras
    assert seen["EXTRA"] == "yes"
    assert seen["PATH"] == os.environ["PATH"]


def test_command_env_uses_only_the_allow_list() -> None:
    env = command_env({"X": "1"}, inherited={"PATH": "/bin", "API_KEY": "s", "HOME": "/h"})
    assert env == {"PATH": "/bin", "HOME": "/h", "X": "1", **FORCED_ENV}


def test_non_utf8_output_is_decoded_with_replacement(tmp_path: Path) -> None:
    code = "import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe caf\\xc3\\xa9\\n')"
    result = run_command([PY, "-c", code], tmp_path, timeout=30)
    assert result.stdout == "ok \ufffd\ufffd café\n"


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # A parent that starts a grandchild and both sleep: both must die on timeout.
    code = (
        "import subprocess, sys, os, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    result = run_command([PY, "-c", code], tmp_path, timeout=1.5)
    assert result.timed_out
    assert time.monotonic() - started < 10
    assert result.exit_code < 0  # killed by a signal
    assert "started" in result.stdout
    for pid in map(int, pids.read_text().split()):
        assert not _alive(pid), f"process {pid} survived the timeout"


def test_ignoring_sigterm_still_gets_killed(tmp_path: Path) -> None:
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    result = run_command([PY, "-c", code], tmp_path, timeout=1.0, kill_grace_s=0.5)
    assert result.timed_out
    assert result.exit_code == -9  # SIGTERM was ignored; SIGKILL ended it
    assert time.monotonic() - started < 10


def test_background_process_holding_the_pipe_does_not_hang(tmp_path: Path) -> None:
    # The command exits at once but leaves a child writing to our stdout pipe.
    code = (
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('parent done')\n"
    )
    started = time.monotonic()
    result = run_command([PY, "-c", code], tmp_path, timeout=30)
    assert result.exit_code == 0 and not result.timed_out
    assert "parent done" in result.stdout
    assert time.monotonic() - started < 10


def test_output_cap_keeps_head_and_tail_and_says_how_much_was_cut(tmp_path: Path) -> None:
    code = "print('HEAD'); print('x' * 50000); print('TAIL')"
    result = run_command([PY, "-c", code], tmp_path, timeout=30, max_output_bytes=2000)
    assert result.truncated
    assert result.stdout.startswith("HEAD\n")
    assert result.stdout.rstrip().endswith("TAIL")
    assert "autopack cut" in result.stdout
    cut = int(result.stdout.split("autopack cut ")[1].split(" bytes")[0])
    assert cut == len("HEAD\n") + 50001 + len("TAIL\n") - 2000
    assert len(result.stdout) < 2200


def test_missing_executable_is_a_toolchain_error_naming_the_command(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError) as info:
        run_command(["definitely-not-a-tool-xyz", "--flag"], tmp_path, timeout=5)
    assert "definitely-not-a-tool-xyz" in str(info.value)
    assert info.value.context["command"] == "definitely-not-a-tool-xyz --flag"


def test_cwd_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="not a directory"):
        run_command(["true"], tmp_path / "missing", timeout=5)


def test_string_commands_use_a_shell_only_when_they_need_one(tmp_path: Path) -> None:
    assert command_argv("pytest -q 'tests/a b.py'") == ["pytest", "-q", "tests/a b.py"]
    assert command_argv("make test && echo ok") == ["/bin/sh", "-c", "make test && echo ok"]
    assert command_argv("FOO=1 pytest")[:2] == ["/bin/sh", "-c"]
    with pytest.raises(ToolchainError):
        command_argv("   ")
    result = run_command("echo one && echo two", tmp_path, timeout=10)
    assert result.stdout == "one\ntwo\n"
    assert result.command == "echo one && echo two"


def _alive(pid: int) -> bool:
    # A zombie counts as dead: it has exited and only waits for its parent to reap it.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_project_testing_its_colour_switch_sees_force_color_win(tmp_path: Path) -> None:
    # cleo and commander.js: NO_COLOR outranks FORCE_COLOR, so a forced NO_COLOR failed
    # their "FORCE_COLOR turns colours on" tests in every baseline.
    code = (
        "import os\n"
        "on = 'NO_COLOR' not in os.environ and 'FORCE_COLOR' in os.environ\n"
        "print('coloured' if on else 'plain')\n"
    )
    result = run_command([PY, "-c", code], tmp_path, timeout=30, env={"FORCE_COLOR": "1"})
    assert result.stdout == "coloured\n"
    plain = run_command([PY, "-c", code], tmp_path, timeout=30)
    assert plain.stdout == "plain\n"
