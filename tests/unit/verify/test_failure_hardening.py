"""Failure hardening: each built-in pattern's detector and mitigation, and their order."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from autopack.verify.hardening import (
    FailureContext,
    FailurePattern,
    Finding,
    Mitigation,
    harden,
    match_failure,
    registered,
)


def names(output: str, context: FailureContext) -> list[str]:
    return [m.pattern.name for m in match_failure(output, context)]


def only(output: str, context: FailureContext, pattern: str) -> Mitigation:
    found = [m for m in harden(output, context) if m.pattern == pattern]
    assert found, f"{pattern} did not match"
    return found[0]


def test_registry_has_the_required_patterns_in_priority_order() -> None:
    order = [p.name for p in registered()]
    assert order == [
        "permission_error",
        "missing_tool",
        "wrong_working_dir",
        "syntax_error",
        "python_missing_dep",
        "node_missing_dep",
        "missing_test_discovery",
        "scope_mismatch",
    ]
    assert [p.priority for p in registered()] == sorted(p.priority for p in registered())


def test_unknown_output_matches_nothing(tmp_path: Path) -> None:
    assert harden("1 failed, 3 passed in 0.2s\nassert 1 == 2", FailureContext(tmp_path)) == []


def test_python_missing_dep_suggests_declaring_and_installs_nothing(tmp_path: Path) -> None:
    out = "E   ModuleNotFoundError: No module named 'yaml'"
    m = only(out, FailureContext(tmp_path), "python_missing_dep")
    assert not m.fixed and m.actions_taken == []
    assert "Add `PyYAML` to the project's dependencies" in m.suggestions[0]

    (tmp_path / "requirements.txt").write_text("pyyaml>=6\n")
    m = only(out, FailureContext(tmp_path), "python_missing_dep")
    assert "declared but not installed" in m.suggestions[0]


def test_python_missing_dep_that_is_the_projects_own_package(tmp_path: Path) -> None:
    (tmp_path / "src" / "mypkg").mkdir(parents=True)
    out = "ModuleNotFoundError: No module named 'mypkg.core'"
    m = only(out, FailureContext(tmp_path), "python_missing_dep")
    assert "this project's own code (src/mypkg/)" in m.suggestions[0]


def test_node_missing_dep_package_and_relative_file(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"devDependencies": {"lodash": "4"}}')
    declared = "Error: Cannot find module 'lodash/fp'\nRequire stack:\n- /p/index.js"
    assert (
        "declared in package.json but not installed"
        in (only(declared, FailureContext(tmp_path), "node_missing_dep").suggestions[0])
    )
    undeclared = "Error [ERR_MODULE_NOT_FOUND]: Cannot find package '@scope/lib' imported"
    assert (
        "Add `@scope/lib` to package.json"
        in (only(undeclared, FailureContext(tmp_path), "node_missing_dep").suggestions[0])
    )
    relative = "Error: Cannot find module './util'"
    assert (
        "names a file that does not exist"
        in (only(relative, FailureContext(tmp_path), "node_missing_dep").suggestions[0])
    )
    # A project binary missing from node_modules/.bin is a dependency, not a system tool.
    assert names("sh: 1: jest: not found", FailureContext(tmp_path)) == ["node_missing_dep"]
    # In a Node project any missing binary of a script is most likely a dependency.
    node_ctx = FailureContext(tmp_path, toolchain="node")
    assert names("sh: 1: esbuild: not found", node_ctx) == ["node_missing_dep"]
    assert names("sh: 1: esbuild: not found", FailureContext(tmp_path)) == ["missing_tool"]


def test_missing_tool(tmp_path: Path) -> None:
    m = only("/bin/sh: 1: gradle: not found", FailureContext(tmp_path), "missing_tool")
    assert "`gradle` is not installed" in m.suggestions[0]


def test_wrong_working_dir_finds_the_project_below(tmp_path: Path) -> None:
    (tmp_path / "backend" / "tests").mkdir(parents=True)
    out = "ERROR: file or directory not found: tests/"
    m = only(out, FailureContext(tmp_path), "wrong_working_dir")
    assert m.retry_cwd == "backend"
    (tmp_path / "rs" / "crate").mkdir(parents=True)
    (tmp_path / "rs" / "crate" / "Cargo.toml").write_text("")
    cargo = "error: could not find `Cargo.toml` in `/w` or any parent directory"
    assert only(cargo, FailureContext(tmp_path), "wrong_working_dir").retry_cwd == "rs/crate"
    nowhere = only("ERROR: file not found: nope.py", FailureContext(tmp_path), "wrong_working_dir")
    assert nowhere.retry_cwd is None and "does not exist anywhere" in nowhere.suggestions[0]


def test_missing_test_discovery_lists_candidates(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "check_math_tests.py").write_text("")
    m = only(
        "collected 0 items\n\nno tests ran in 0.01s",
        FailureContext(tmp_path),
        "missing_test_discovery",
    )
    assert "tests/check_math_tests.py" in m.suggestions[-1]


def test_missing_test_discovery_ignores_packages_without_tests_when_others_ran(
    tmp_path: Path,
) -> None:
    ctx = FailureContext(tmp_path)
    go = "ok  \texample.com/a\t0.01s\n?   \texample.com/b\t[no test files]\n"
    assert "missing_test_discovery" not in names(go, ctx)
    assert "missing_test_discovery" in names("?   \texample.com/b\t[no test files]\n", ctx)
    cargo = "running 2 tests\ntest a ... ok\n\n   Doc-tests x\n\nrunning 0 tests\n"
    assert "missing_test_discovery" not in names(cargo, ctx)


def test_syntax_error_python_is_confirmed_with_the_parser(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("x = 1\ndef f(:\n    pass\n")
    out = (
        f'E     File "{tmp_path}/pkg/mod.py", line 2\n'
        "E       def f(:\n"
        "E             ^\n"
        "E   SyntaxError: invalid syntax\n"
    )
    m = only(out, FailureContext(tmp_path, allowed_paths=["src/"]), "syntax_error")
    assert m.actions_taken == ["confirmed with Python's parser: pkg/mod.py line 2: invalid syntax"]
    assert m.suggestions[0].startswith("Fix the syntax error in pkg/mod.py at line 2")
    assert "outside this phase's scope" in m.suggestions[0]


def test_syntax_error_other_languages(tmp_path: Path) -> None:
    ctx = FailureContext(tmp_path)
    go = "# ex/sub\nsub/sub.go:4:1: syntax error: unexpected EOF, expecting }\n"
    assert "sub/sub.go at line 4" in only(go, ctx, "syntax_error").suggestions[0]
    node = "/p/test/b.test.js:1\nconst x = ;\n          ^\n\nSyntaxError: Unexpected token ';'\n"
    assert "Unexpected token" in only(node, ctx, "syntax_error").suggestions[0]
    rust = "error: expected expression, found `;`\n --> src/lib.rs:3:13\n"
    assert "src/lib.rs at line 3" in only(rust, ctx, "syntax_error").suggestions[0]
    java = "[ERROR] /p/src/main/java/App.java:[3,5] ';' expected\n"
    assert "App.java at line 3" in only(java, ctx, "syntax_error").suggestions[0]


def test_permission_error_on_a_script_is_fixed(tmp_path: Path) -> None:
    script = tmp_path / "run_tests.sh"
    script.write_text("#!/bin/sh\necho ok\n")
    script.chmod(0o644)
    m = only(
        "/bin/sh: 1: ./run_tests.sh: Permission denied",
        FailureContext(tmp_path),
        "permission_error",
    )
    assert m.fixed and m.actions_taken == ["made run_tests.sh executable (chmod +x)"]
    assert os.access(script, os.X_OK)
    assert stat.S_IMODE(script.stat().st_mode) == 0o755


def test_permission_error_outside_the_worktree_is_only_a_suggestion(tmp_path: Path) -> None:
    out = "PermissionError: [Errno 13] Permission denied: '/etc/app.conf'"
    m = only(out, FailureContext(tmp_path), "permission_error")
    assert not m.fixed and "outside the worktree" in m.suggestions[0]


def test_scope_mismatch_when_the_failure_is_only_outside_scope(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "legacy.py").write_text("")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("")
    outside = f'File "{tmp_path}/lib/legacy.py", line 3, in f\nValueError: x'
    ctx = FailureContext(tmp_path, allowed_paths=["src/"])
    m = only(outside, ctx, "scope_mismatch")
    assert "lib/legacy.py" in m.suggestions[0] and "allowed: src/" in m.suggestions[0]
    inside = outside + f'\nFile "{tmp_path}/src/app.py", line 9, in g'
    assert "scope_mismatch" not in names(inside, ctx)
    assert "scope_mismatch" in names(
        "edit rejected: x.py is outside the phase's allowed paths", FailureContext()
    )


def test_causes_come_before_symptoms(tmp_path: Path) -> None:
    out = (
        'E     File "/p/tests/test_a.py", line 1\nE   SyntaxError: invalid syntax\n'
        "collected 0 items / 1 error\n"
        "E   ModuleNotFoundError: No module named 'requests'\n"
    )
    assert names(out, FailureContext(tmp_path)) == [
        "syntax_error",
        "python_missing_dep",
        "missing_test_discovery",
    ]


def test_a_new_pattern_is_one_small_class(tmp_path: Path) -> None:
    class DiskFull(FailurePattern):
        name, priority = "disk_full", 5

        def detect(self, output: str, context: FailureContext) -> Finding | None:
            return Finding("No space left on device") if "No space left" in output else None

        def mitigate(self, finding: Finding, context: FailureContext) -> Mitigation:
            return self._result(finding, "free disk space")

    result = harden(
        "OSError: No space left on device",
        FailureContext(tmp_path),
        patterns=[*registered(), DiskFull()],
    )
    assert result[0].pattern == "disk_full" and result[0].suggestions == ["free disk space"]
