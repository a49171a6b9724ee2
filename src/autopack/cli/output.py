"""Shared CLI plumbing: consoles, settings and database access for commands."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

from autopack.db.database import Database, open_database
from autopack.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    return get_settings()


def database(*, require_current: bool = True) -> Database:
    """Open the configured database (the embedded default is created on first use)."""
    return open_database(settings(), require_current=require_current)


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else."""
    print(json.dumps(data, indent=2, default=str))
