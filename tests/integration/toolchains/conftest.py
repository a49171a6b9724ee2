"""Shared fixture for the real-toolchain tests: write a small project to disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

WriteTree = Callable[[Path, dict[str, str]], Path]


def _write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


@pytest.fixture(scope="session")
def write_tree() -> WriteTree:
    """``write_tree(root, {relative path: text})`` writes the files and returns ``root``."""
    return _write_tree
