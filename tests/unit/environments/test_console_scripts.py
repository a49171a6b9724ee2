"""The overlay's console scripts run with the overlay's python, however long its path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autopack.environments.python import copy_console_scripts

BODY = "import sys\nprint('ran with', sys.executable)\n"


@pytest.mark.parametrize("long_path", [False, True])
def test_scripts_are_repointed_at_the_overlay_python(tmp_path: Path, long_path: bool) -> None:
    base = tmp_path / ("x" * 120 if long_path else "s")
    shared_bin = base / "venv" / "bin"
    overlay_bin = base / "overlay" / "bin"
    shared_bin.mkdir(parents=True)
    overlay_bin.mkdir(parents=True)
    shared_python = shared_bin / "python3"
    # uv's two header forms: a plain shebang, or /bin/sh exec when the path is too long
    header = (
        f"#!/bin/sh\n'''exec' '{shared_python}' \"$0\" \"$@\"\n' '''\n"
        if long_path
        else f"#!{shared_python}\n"
    )
    (shared_bin / "pytest").write_text(header + BODY)
    (shared_bin / "activate").write_text("# not a python script\n")
    (shared_bin / "python").write_bytes(b"\x7fELF\x00binary")
    overlay_python = overlay_bin / "python"
    overlay_python.symlink_to(sys.executable)

    copy_console_scripts(shared_bin, overlay_bin, str(overlay_python))

    copied = overlay_bin / "pytest"
    assert str(shared_python) not in copied.read_text()
    assert copied.read_text().endswith(BODY)
    assert os.access(copied, os.X_OK)
    assert not (overlay_bin / "activate").exists()
    done = subprocess.run([str(copied)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"ran with {overlay_python}"
