"""Node projects: npm, yarn and pnpm; the package's test script; jest, vitest, node --test.

The package manager comes from package.json's ``packageManager`` field, else from the
lockfile. The test command is the package's own ``test`` script whenever it has one
(it is what the project's developers run). Machine-readable results are added where that
is possible without installing anything:

- ``node --test`` (Node >= 20.13): the junit reporter, through ``NODE_OPTIONS`` so it
  works whatever else the script does;
- vitest: its built-in junit reporter, appended when the script is a single vitest call;
- jest: the ``jest-junit`` reporter, only when the project already depends on it.

Anything else is judged by its exit code, and the detection says so in its reasons.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from autopack.errors import ToolchainError
from autopack.toolchains.base import (
    JUNIT_XML,
    REPORT_DIR,
    Detection,
    Toolchain,
    any_files,
    read_text,
)
from autopack.toolchains.results import ReportSource
from autopack.toolchains.runner import run_command

NPM_PLACEHOLDER_TEST = 'echo "Error: no test specified" && exit 1'
LOCKFILES = (
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
    ("package-lock.json", "npm"),
    ("npm-shrinkwrap.json", "npm"),
)
NODE_TEST_REPORTERS = (
    f"--test-reporter=spec --test-reporter-destination=stdout "
    f"--test-reporter=junit --test-reporter-destination={JUNIT_XML}"
)
_SHELL_CHAINING = re.compile(r"&&|\|\||[;|]")
_ENV_PREFIX = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")


class NodeToolchain(Toolchain):
    name = "node"

    def detect(self, path: Path) -> Detection | None:
        manifest = path / "package.json"
        if not manifest.is_file():
            loose = any_files(path, ("*.test.js", "*.test.mjs", "*.test.cjs"), limit=500)
            if not loose:
                return None
            return Detection(
                toolchain="node",
                confidence=0.3,
                test_tool="node-test",
                reasons=[f"{len(loose)} *.test.js file(s), no package.json"],
                **_node_test_direct(),
            )
        package = _load_json(manifest)
        reasons = ["package.json present"]
        pm, why = _package_manager(path, package)
        reasons.append(why)
        deps = {**package.get("devDependencies", {}), **package.get("dependencies", {})}
        scripts: dict[str, str] = {
            k: v for k, v in package.get("scripts", {}).items() if isinstance(v, str)
        }
        test_script = scripts.get("test", "").strip()
        if test_script == NPM_PLACEHOLDER_TEST:
            test_script = ""

        plan = _test_plan(path, pm, test_script, deps)
        reasons.append(plan.reason)
        return Detection(
            toolchain="node",
            confidence=0.95 if any((path / lf).is_file() for lf, _ in LOCKFILES) else 0.9,
            reasons=reasons,
            test_tool=plan.tool,
            install_command=_install(path, pm, package),
            build_command=[pm, "run", "build"] if "build" in scripts else None,
            test_command=plan.command,
            lint_command=_lint(path, pm, scripts, deps),
            env=plan.env,
            report_format=plan.report_format,
        )


@dataclass(frozen=True)
class _TestPlan:
    tool: str
    command: list[str] | None
    reason: str
    report_format: ReportSource = "exit-code"
    env: dict[str, str] = field(default_factory=dict)


_VITEST_JUNIT = ["--reporter=default", "--reporter=junit", f"--outputFile.junit={JUNIT_XML}"]
_JEST_JUNIT = ["--ci", "--reporters=default", "--reporters=jest-junit"]
_JEST_JUNIT_ENV = {"JEST_JUNIT_OUTPUT_DIR": REPORT_DIR, "JEST_JUNIT_OUTPUT_NAME": "junit.xml"}
_NODE_TEST = re.compile(r"\bnode\b.*\s--test\b")


def _test_plan(path: Path, pm: str, script: str, deps: dict[str, Any]) -> _TestPlan:
    """The test command for the package: its test script, else a runner it depends on."""
    if script:
        single = not _SHELL_CHAINING.search(script)
        first = _ENV_PREFIX.sub("", script).split()[0]
        if _NODE_TEST.search(script):
            if not node_supports_junit():
                return _TestPlan(
                    "node-test",
                    [pm, "test"],
                    "test script runs node --test; "
                    "this Node has no junit reporter: judged by exit code",
                )
            return _TestPlan(
                "node-test",
                [pm, "test"],
                "test script runs node --test: junit via NODE_OPTIONS",
                "junit",
                {"NODE_OPTIONS": NODE_TEST_REPORTERS},
            )
        if first == "vitest" and single:
            return _TestPlan(
                "vitest",
                _script_with_args(pm, _VITEST_JUNIT),
                "test script runs vitest: junit reporter appended",
                "junit",
            )
        if first == "jest" and single and "jest-junit" in deps:
            return _TestPlan(
                "jest",
                _script_with_args(pm, _JEST_JUNIT),
                "test script runs jest, jest-junit installed: junit reporter appended",
                "junit",
                _JEST_JUNIT_ENV,
            )
        tool = first if first in ("jest", "vitest", "mocha", "ava", "tap") else "npm-script"
        return _TestPlan(
            tool,
            [pm, "test"],
            f"test script `{script}`: no junit reporter available, judged by exit code",
        )
    run = {"npm": ["npx", "--no-install"], "yarn": ["yarn"], "pnpm": ["pnpm", "exec"]}[pm]
    if "vitest" in deps:
        return _TestPlan(
            "vitest",
            [*run, "vitest", "run", *_VITEST_JUNIT],
            "no test script; vitest is a dependency",
            "junit",
        )
    if "jest" in deps and "jest-junit" in deps:
        return _TestPlan(
            "jest",
            [*run, "jest", *_JEST_JUNIT],
            "no test script; jest and jest-junit are dependencies",
            "junit",
            _JEST_JUNIT_ENV,
        )
    if "jest" in deps:
        return _TestPlan(
            "jest",
            [*run, "jest", "--ci"],
            "no test script; jest is a dependency (no jest-junit: judged by exit code)",
        )
    if any_files(path, ("*.test.js", "*.test.mjs", "*.test.cjs", "test/*.js"), limit=1000):
        direct = _node_test_direct()
        return _TestPlan(
            "node-test",
            direct["test_command"],
            "no test script; test files found: node --test",
            direct["report_format"],
        )
    return _TestPlan("none", None, "no test script and no known test runner")


def _node_test_direct() -> dict[str, Any]:
    if node_supports_junit():
        return {
            "test_command": ["node", "--test", *NODE_TEST_REPORTERS.split()],
            "report_format": "junit",
        }
    return {"test_command": ["node", "--test"], "report_format": "exit-code"}


def _script_with_args(pm: str, extra: list[str]) -> list[str]:
    # npm needs `--` before arguments meant for the script; yarn and pnpm pass them on.
    return ["npm", "test", "--", *extra] if pm == "npm" else [pm, "test", *extra]


@lru_cache(maxsize=1)
def node_supports_junit() -> bool:
    """Whether the ``node`` on PATH has the junit test reporter (v20.13+, v21.3+)."""
    try:
        result = run_command(["node", "--version"], Path.cwd(), timeout=15)
    except ToolchainError:
        return False
    match = re.match(r"v(\d+)\.(\d+)", result.stdout.strip())
    if not result.ok or not match:
        return False
    major, minor = int(match.group(1)), int(match.group(2))
    return major >= 22 or (major == 21 and minor >= 3) or (major == 20 and minor >= 13)


def _load_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(read_text(path))
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _package_manager(path: Path, package: dict[str, Any]) -> tuple[str, str]:
    declared = str(package.get("packageManager", ""))
    for pm in ("pnpm", "yarn", "npm"):
        if declared.startswith(f"{pm}@"):
            return pm, f"packageManager field: {declared}"
    for lockfile, pm in LOCKFILES:
        if (path / lockfile).is_file():
            return pm, f"{lockfile} present: {pm}"
    return "npm", "no lockfile: npm"


def _install(path: Path, pm: str, package: dict[str, Any]) -> list[str]:
    if pm == "pnpm":
        locked = (path / "pnpm-lock.yaml").is_file()
        return ["pnpm", "install", "--frozen-lockfile"] if locked else ["pnpm", "install"]
    if pm == "yarn":
        berry = (path / ".yarnrc.yml").is_file() or re.match(
            r"yarn@[2-9]", str(package.get("packageManager", ""))
        ) is not None
        if not (path / "yarn.lock").is_file():
            return ["yarn", "install"]
        return ["yarn", "install", "--immutable" if berry else "--frozen-lockfile"]
    locked = (path / "package-lock.json").is_file() or (path / "npm-shrinkwrap.json").is_file()
    return ["npm", "ci"] if locked else ["npm", "install"]


def _lint(path: Path, pm: str, scripts: dict[str, str], deps: dict[str, Any]) -> list[str] | None:
    if "lint" in scripts:
        return [pm, "run", "lint"]
    if "typescript" in deps and (path / "tsconfig.json").is_file():
        return ["npx", "--no-install", "tsc", "--noEmit"]
    return None
