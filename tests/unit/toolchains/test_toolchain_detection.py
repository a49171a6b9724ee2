"""Detection from files alone: every adapter, ranking, and the plan's command precedence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autopack.errors import ToolchainError
from autopack.toolchains import node as node_module
from autopack.toolchains.detect import (
    command_from_text,
    detect_all,
    detect_best,
    plan_test_commands,
)
from autopack.toolchains.go import GoToolchain
from autopack.toolchains.java import JavaToolchain
from autopack.toolchains.node import NodeToolchain
from autopack.toolchains.python import PythonToolchain
from autopack.toolchains.rust import RustToolchain


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def package(
    scripts: dict[str, str] | None = None, dev: dict[str, str] | None = None, **extra: str
) -> str:
    return json.dumps(
        {"name": "p", "scripts": scripts or {}, "devDependencies": dev or {}, **extra}
    )


@pytest.fixture(autouse=True)
def _node_has_junit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Detection must not depend on the machine's Node version; pin the answer.
    monkeypatch.setattr(node_module, "node_supports_junit", lambda: True)


# --- Python ---------------------------------------------------------------------------


def test_python_pyproject_with_pytest_and_dev_extras(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": "[project]\nname='x'\n[project.optional-dependencies]\n"
            "dev=['pytest']\n[tool.ruff]\nline-length=100\n",
        },
    )
    d = PythonToolchain().detect(tmp_path)
    assert d is not None
    assert d.confidence == 0.9 and d.test_tool == "pytest" and d.report_format == "junit"
    assert d.test_command == [
        "python3",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--junitxml={junit_xml}",
    ]
    assert d.install_command == ["python3", "-m", "pip", "install", "-e", ".[dev]"]
    assert d.lint_command == ["python3", "-m", "ruff", "check", "."]
    assert "pyproject.toml present" in d.reasons


def test_python_project_venv_is_the_interpreter(tmp_path: Path) -> None:
    write(tmp_path, {"setup.py": "", ".venv/bin/python": ""})
    d = PythonToolchain().detect(tmp_path)
    assert d is not None and d.test_command is not None
    assert d.test_command[0] == str(tmp_path / ".venv" / "bin" / "python")
    assert d.install_command == [
        str(tmp_path / ".venv/bin/python"),
        "-m",
        "pip",
        "install",
        "-e",
        ".",
    ]


@pytest.mark.parametrize(
    ("files", "prefix", "install"),
    [
        (
            {"pyproject.toml": "[tool.poetry]\nname='x'\n", "poetry.lock": ""},
            ["poetry", "run", "python"],
            ["poetry", "install"],
        ),
        (
            {"pyproject.toml": "[project]\nname='x'\n", "uv.lock": ""},
            ["uv", "run", "--frozen", "python"],
            ["uv", "sync"],
        ),
    ],
)
def test_python_poetry_and_uv(
    tmp_path: Path, files: dict[str, str], prefix: list[str], install: list[str]
) -> None:
    d = PythonToolchain().detect(write(tmp_path, files))
    assert d is not None and d.test_command is not None
    assert d.test_command[: len(prefix)] == prefix
    assert d.install_command == install


def test_python_requirements_only_and_unittest_suite(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "requirements.txt": "requests\n",
            "tests/test_a.py": "import unittest\nclass T(unittest.TestCase):\n    pass\n",
        },
    )
    d = PythonToolchain().detect(tmp_path)
    assert d is not None
    assert d.confidence == 0.75
    assert d.test_tool == "unittest" and d.report_format == "exit-code"
    assert d.test_command == ["python3", "-m", "unittest", "discover", "-v", "-s", "tests"]
    assert d.install_command == ["python3", "-m", "pip", "install", "-r", "requirements.txt"]


def test_python_loose_files_are_weak_evidence(tmp_path: Path) -> None:
    write(tmp_path, {"script.py": "print(1)\n"})
    d = PythonToolchain().detect(tmp_path)
    assert d is not None and d.confidence == 0.4 and d.test_tool == "pytest"
    assert PythonToolchain().detect(write(tmp_path / "empty", {"README": ""})) is None


# --- Node -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "pm", "install"),
    [
        ({"package-lock.json": "{}"}, "npm", ["npm", "ci"]),
        ({}, "npm", ["npm", "install"]),
        ({"yarn.lock": ""}, "yarn", ["yarn", "install", "--frozen-lockfile"]),
        ({"yarn.lock": "", ".yarnrc.yml": ""}, "yarn", ["yarn", "install", "--immutable"]),
        ({"pnpm-lock.yaml": ""}, "pnpm", ["pnpm", "install", "--frozen-lockfile"]),
    ],
)
def test_node_package_manager_from_lockfile(
    tmp_path: Path, files: dict[str, str], pm: str, install: list[str]
) -> None:
    write(tmp_path, {"package.json": package({"test": "mocha", "build": "tsc"}), **files})
    d = NodeToolchain().detect(tmp_path)
    assert d is not None
    assert d.install_command == install
    assert d.test_command == [pm, "test"]
    assert d.build_command == [pm, "run", "build"]
    assert d.test_tool == "mocha" and d.report_format == "exit-code"


def test_node_package_manager_field_wins_over_lockfile(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "package.json": package({"test": "jest"}, packageManager="pnpm@8.6.0"),
            "package-lock.json": "{}",
        },
    )
    d = NodeToolchain().detect(tmp_path)
    assert d is not None and d.test_command == ["pnpm", "test"]
    assert any("packageManager" in r for r in d.reasons)


def test_node_jest_gets_junit_only_with_jest_junit_installed(tmp_path: Path) -> None:
    write(tmp_path, {"package.json": package({"test": "jest"}, {"jest": "^29"})})
    plain = NodeToolchain().detect(tmp_path)
    assert plain is not None and plain.test_tool == "jest"
    assert plain.report_format == "exit-code" and plain.test_command == ["npm", "test"]

    write(
        tmp_path, {"package.json": package({"test": "jest"}, {"jest": "^29", "jest-junit": "^16"})}
    )
    d = NodeToolchain().detect(tmp_path)
    assert d is not None and d.report_format == "junit"
    assert d.test_command == [
        "npm",
        "test",
        "--",
        "--ci",
        "--reporters=default",
        "--reporters=jest-junit",
    ]
    assert d.env["JEST_JUNIT_OUTPUT_DIR"] == "{report_dir}"


def test_node_vitest_script_with_yarn_gets_the_builtin_junit_reporter(tmp_path: Path) -> None:
    write(
        tmp_path, {"package.json": package({"test": "vitest"}, {"vitest": "^1"}), "yarn.lock": ""}
    )
    d = NodeToolchain().detect(tmp_path)
    assert d is not None and d.test_tool == "vitest" and d.report_format == "junit"
    assert d.test_command == [
        "yarn",
        "test",
        "--reporter=default",
        "--reporter=junit",
        "--outputFile.junit={junit_xml}",
    ]


def test_node_chained_script_is_not_given_extra_arguments(tmp_path: Path) -> None:
    write(tmp_path, {"package.json": package({"test": "tsc && vitest run"}, {"vitest": "1"})})
    d = NodeToolchain().detect(tmp_path)
    assert d is not None and d.test_command == ["npm", "test"]
    assert d.report_format == "exit-code"


def test_node_test_script_gets_junit_through_node_options(tmp_path: Path) -> None:
    write(tmp_path, {"package.json": package({"test": "node --test test/"})})
    d = NodeToolchain().detect(tmp_path)
    assert d is not None and d.test_tool == "node-test" and d.report_format == "junit"
    assert d.test_command == ["npm", "test"]
    assert "--test-reporter=junit" in d.env["NODE_OPTIONS"]


def test_node_without_test_script(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "package.json": package(
                {"test": 'echo "Error: no test specified" && exit 1'}, {"vitest": "1"}
            )
        },
    )
    d = NodeToolchain().detect(tmp_path)
    assert d is not None and d.test_command is not None
    assert d.test_command[:4] == ["npx", "--no-install", "vitest", "run"]

    other = write(tmp_path / "o", {"package.json": package(), "test/a.test.js": ""})
    d2 = NodeToolchain().detect(other)
    assert d2 is not None and d2.test_command is not None
    assert d2.test_command[:2] == ["node", "--test"]

    none = write(tmp_path / "n", {"package.json": package()})
    d3 = NodeToolchain().detect(none)
    assert d3 is not None and d3.test_command is None


# --- Go, Rust, Java -------------------------------------------------------------------


def test_go_module_and_loose_files(tmp_path: Path) -> None:
    d = GoToolchain().detect(write(tmp_path / "m", {"go.mod": "module x\n"}))
    assert d is not None and d.confidence == 0.95
    assert d.test_command == ["go", "test", "-json", "./..."]
    assert d.lint_command == ["go", "vet", "./..."]
    assert d.env == {"GOTOOLCHAIN": "local"} and d.report_format == "go-json"
    loose = GoToolchain().detect(write(tmp_path / "l", {"main.go": "package main\n"}))
    assert loose is not None and loose.confidence == 0.4


def test_rust_crate_and_workspace(tmp_path: Path) -> None:
    d = RustToolchain().detect(write(tmp_path / "c", {"Cargo.toml": "[package]\nname='c'\n"}))
    assert d is not None
    assert d.test_command == ["cargo", "test", "--offline", "--no-fail-fast"]
    assert d.report_format == "cargo"
    ws = RustToolchain().detect(write(tmp_path / "w", {"Cargo.toml": "[workspace]\n"}))
    assert ws is not None and ws.test_command is not None and "--workspace" in ws.test_command
    assert RustToolchain().detect(tmp_path / "c" / "nothing-here") is None


def test_java_maven_gradle_and_wrappers(tmp_path: Path) -> None:
    mvn = JavaToolchain().detect(write(tmp_path / "m", {"pom.xml": "<project/>"}))
    assert mvn is not None and mvn.test_tool == "maven"
    assert mvn.test_command == ["mvn", "-B", "-o", "-fae", "test"]
    assert mvn.report_globs == ["**/target/surefire-reports/TEST-*.xml"]

    gradle = JavaToolchain().detect(write(tmp_path / "g", {"build.gradle.kts": "", "gradlew": ""}))
    assert gradle is not None and gradle.test_tool == "gradle"
    assert gradle.test_command == ["./gradlew", "--offline", "--continue", "test"]
    assert gradle.report_globs == ["**/build/test-results/**/*.xml"]

    both = JavaToolchain().detect(write(tmp_path / "b", {"pom.xml": "", "build.gradle": ""}))
    assert both is not None and both.test_tool == "maven"


# --- Ranking and precedence -----------------------------------------------------------


def test_detect_all_ranks_by_confidence(tmp_path: Path) -> None:
    write(tmp_path, {"go.mod": "module x\n", "tools/gen.py": "print(1)\n"})
    ranked = detect_all(tmp_path)
    assert [d.toolchain for d in ranked] == ["go", "python"]
    best = detect_best(tmp_path)
    assert best is not None and best.toolchain == "go"
    with pytest.raises(ToolchainError):
        detect_all(tmp_path / "missing")


def test_detect_best_prefers_a_detection_with_tests(tmp_path: Path) -> None:
    write(tmp_path, {"package.json": package(), "requirements.txt": "x\n"})
    best = detect_best(tmp_path)
    assert best is not None and best.toolchain == "python"


def test_plan_commands_win_over_detection(tmp_path: Path) -> None:
    write(tmp_path, {"go.mod": "module x\n"})
    scoped = plan_test_commands(
        tmp_path, scope_tests=["pytest -q a", "make lint"], run_verify="make test"
    )
    assert [(c.display, c.origin) for c in scoped] == [
        ("pytest -q a", "scope.tests"),
        ("make lint", "scope.tests"),
    ]
    verify = plan_test_commands(tmp_path, run_verify="make test")
    assert [(c.display, c.origin) for c in verify] == [("make test", "run.verify")]
    detected = plan_test_commands(tmp_path)
    assert detected[0].origin == "detected" and detected[0].report_format == "go-json"
    assert plan_test_commands(write(tmp_path / "e", {"README": ""})) == []


@pytest.mark.parametrize(
    ("text", "tool", "fmt"),
    [
        ("pytest -q tests/", "pytest", "junit"),
        ("python -m pytest -x", "pytest", "junit"),
        ("go test -json ./...", "go", "go-json"),
        ("go test ./...", "go", "exit-code"),
        ("cargo test --offline", "cargo", "cargo"),
        ("./mvnw -B test", "maven", "junit"),
        ("gradle test", "gradle", "junit"),
        ("node --test test/", "node-test", "junit"),
        ("make test", None, "exit-code"),
    ],
)
def test_command_from_text_knows_how_to_read_results(text: str, tool: str | None, fmt: str) -> None:
    command = command_from_text(text)
    assert command.argv == text
    assert command.test_tool == tool and command.report_format == fmt
    # pytest anywhere behind the command (a Makefile, a script) still writes JUnit XML.
    assert "--junitxml={junit_xml}" in command.env["PYTEST_ADDOPTS"]
