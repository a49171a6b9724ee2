"""Which toolchain a project uses, and which test commands verification runs.

:func:`detect_all` asks every adapter and ranks their answers. :func:`plan_test_commands`
applies the plan's precedence: a phase's ``scope.tests`` first, then the run's ``verify``
command, then the best detection. Commands a plan names are run as written; what
Autopack adds is only a way to read their results (:func:`command_from_text`), e.g.
``PYTEST_ADDOPTS=--junitxml=...`` in the environment, which pytest honours wherever it is
started from (a Makefile, a script) and every other program ignores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autopack.errors import ToolchainError
from autopack.toolchains import node as node_adapter
from autopack.toolchains.base import JUNIT_XML, CommandOrigin, Detection, TestCommand, Toolchain
from autopack.toolchains.go import GoToolchain
from autopack.toolchains.java import JavaToolchain
from autopack.toolchains.python import PythonToolchain, environment_test_command
from autopack.toolchains.rust import RustToolchain

#: Every adapter, in tie-break order (earlier wins at equal confidence).
ADAPTERS: tuple[Toolchain, ...] = (
    PythonToolchain(),
    node_adapter.NodeToolchain(),
    GoToolchain(),
    RustToolchain(),
    JavaToolchain(),
)

_PYTEST_ADDOPTS = f"--junitxml={JUNIT_XML} -p no:cacheprovider"

#: What Autopack can tell from a plan's command text, first match wins:
#: (pattern, extra TestCommand fields).
COMMAND_RULES: list[tuple[re.Pattern[str], dict[str, Any]]] = [
    (re.compile(r"(?:^|[\s/])py\.?test(?:\s|$)|-m\s+pytest\b"),
     {"test_tool": "pytest", "report_format": "junit"}),
    (re.compile(r"\bgo\s+test\b.*\s-json\b"), {"test_tool": "go", "report_format": "go-json"}),
    (re.compile(r"\bgo\s+test\b"), {"test_tool": "go"}),
    (re.compile(r"\bcargo\s+(?:\+\S+\s+)?test\b"),
     {"test_tool": "cargo", "report_format": "cargo"}),
    (re.compile(r"(?:^|[\s/])mvnw?(?:\s|$)"),
     {"test_tool": "maven", "report_format": "junit",
      "report_globs": ["**/target/surefire-reports/TEST-*.xml"]}),
    (re.compile(r"(?:^|[\s/])gradlew?(?:\s|$)"),
     {"test_tool": "gradle", "report_format": "junit",
      "report_globs": ["**/build/test-results/**/*.xml"]}),
    (re.compile(r"\bnode\b.*\s--test\b"), {"test_tool": "node-test", "node_junit": True}),
]  # fmt: skip


def detect_all(path: Path | str, adapters: Sequence[Toolchain] = ADAPTERS) -> list[Detection]:
    """Every adapter's detection for ``path``, most confident first."""
    root = Path(path).resolve()
    if not root.is_dir():
        raise ToolchainError(f"{root} is not a directory", path=str(root))
    found = [(i, d) for i, a in enumerate(adapters) if (d := a.detect(root)) is not None]
    found.sort(key=lambda item: (-item[1].confidence, item[0]))
    return [d for _, d in found]


def detect_best(path: Path | str, adapters: Sequence[Toolchain] = ADAPTERS) -> Detection | None:
    """The most confident detection that has a test command, else the most confident one."""
    ranked = detect_all(path, adapters)
    return next((d for d in ranked if d.test_command), ranked[0] if ranked else None)


def command_from_text(text: str, origin: CommandOrigin = "given") -> TestCommand:
    """A plan's command string, with what Autopack can tell about reading its results.

    The command runs unchanged. pytest always gets ``PYTEST_ADDOPTS`` (harmless to anything
    else, and it reaches pytest behind ``make test`` too); a recognised tool also sets how
    its output is parsed. Anything else is judged by its exit code.
    """
    env = {"PYTEST_ADDOPTS": _PYTEST_ADDOPTS}
    fields: dict[str, Any] = {}
    for pattern, extra in COMMAND_RULES:
        if pattern.search(text):
            fields = dict(extra)
            break
    if fields.pop("node_junit", False) and node_adapter.node_supports_junit():
        env["NODE_OPTIONS"] = node_adapter.NODE_TEST_REPORTERS
        fields["report_format"] = "junit"
    return TestCommand(argv=text.strip(), env=env, origin=origin, **fields)


def plan_test_commands(
    path: Path | str,
    *,
    scope_tests: Sequence[str] = (),
    run_verify: str | None = None,
    interpreter: str | None = None,
    pytest_available: bool = False,
) -> list[TestCommand]:
    """The test commands for a phase, by precedence: ``scope.tests`` (all of them, in
    order), else the run's ``verify`` command, else the best detection's test command.
    Empty when there is nothing to run; the executor then has no test gate.

    ``interpreter`` is the run environment's Python: a detected Python project's tests
    run with it (see :func:`~autopack.toolchains.python.environment_test_command`)."""
    named = [t for t in scope_tests if t.strip()]
    if named:
        return [command_from_text(t, "scope.tests") for t in named]
    if run_verify and run_verify.strip():
        return [command_from_text(run_verify, "run.verify")]
    best = detect_best(path)
    if best is not None and best.toolchain == "python" and interpreter and best.test_command:
        return [environment_test_command(best, interpreter, pytest_available=pytest_available)]
    command = best.test() if best else None
    return [command] if command else []
