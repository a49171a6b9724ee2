"""Registers every command group on the root app. One import per group module."""

from __future__ import annotations

import autopack.cli.apply_cmd
import autopack.cli.env_cmd
import autopack.cli.telemetry_cmd
import autopack.cli.toolchain_cmd
import autopack.cli.worker_cmd  # noqa: F401
from autopack.cli import (  # noqa: F401
    admin_cmd,
    approvals_cmd,
    parallel_cmd,
    plan_cmd,
    run_cmd,
    runs_cmd,
)
