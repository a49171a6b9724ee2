"""Toolchain adapters: detect a project's toolchain, run commands, read test results.

See :mod:`autopack.toolchains.detect` for detection and the plan's command precedence,
:mod:`autopack.toolchains.runner` for how commands run, and
:mod:`autopack.toolchains.results` for the one :class:`TestReport` shape.
"""

from autopack.toolchains.base import Detection, TestCommand, Toolchain
from autopack.toolchains.detect import (
    ADAPTERS,
    command_from_text,
    detect_all,
    detect_best,
    plan_test_commands,
)
from autopack.toolchains.results import TestCase, TestReport
from autopack.toolchains.runner import CommandResult, run_command

__all__ = [
    "ADAPTERS",
    "CommandResult",
    "Detection",
    "TestCase",
    "TestCommand",
    "TestReport",
    "Toolchain",
    "command_from_text",
    "detect_all",
    "detect_best",
    "plan_test_commands",
    "run_command",
]
