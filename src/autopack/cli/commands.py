"""Registers every command group on the root app. One import per group module."""

from __future__ import annotations

import autopack.cli.apply_cmd
import autopack.cli.delivery_cmd
import autopack.cli.env_cmd
import autopack.cli.memory_cmd
import autopack.cli.show_cmd
import autopack.cli.telemetry_cmd
import autopack.cli.toolchain_cmd
import autopack.cli.worker_cmd  # noqa: F401
from autopack.cli import admin_cmd, approvals_cmd, plan_cmd, run_cmd, runs_cmd  # noqa: F401
