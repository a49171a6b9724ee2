"""`autopack ARGS` in this process, through the console script's ``main()``: the same code
as the installed command without a subprocess's start-up, exit codes included."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.settings import get_settings

#: (exit code, stdout, stderr)
Result = tuple[int, str, str]


def invoke_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> Result:
    """Run ``autopack *args`` with the environment the caller set (settings are read
    afresh each time) and return its exit code and what it printed. Captured output is
    not a terminal, so nothing is wrapped or cut."""
    from autopack.cli.main import main

    monkeypatch.setattr(sys, "argv", ["autopack", *args])
    get_settings.cache_clear()
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        get_settings.cache_clear()
    out, err = capsys.readouterr()
    return code, out, err


def folded_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path
) -> Callable[..., tuple[int, str]]:
    """``autopack ARGS`` in-process with ``AUTOPACK_HOME=home``: (exit code, stdout and
    stderr with whitespace folded, so assertions read sentences, not line breaks)."""
    monkeypatch.setenv("AUTOPACK_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str]:
        code, out, err = invoke_cli(monkeypatch, capsys, *args)
        return code, " ".join((out + err).split())

    return run
