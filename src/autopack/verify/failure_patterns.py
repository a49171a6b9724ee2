"""The built-in failure patterns, registered with :mod:`autopack.verify.hardening`.

Priorities leave gaps so a project pattern can slot in between. Order, lowest first:
permission_error 10, missing_tool 15, wrong_working_dir 20, syntax_error 30,
python_missing_dep 40, node_missing_dep 45, missing_test_discovery 60, scope_mismatch 70.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Sequence
from pathlib import Path

from autopack.toolchains.base import read_text
from autopack.verify.hardening import (
    FailureContext,
    FailurePattern,
    Finding,
    Mitigation,
    WorktreeFix,
    register,
)

#: Import names whose PyPI distribution is named differently.
PYPI_NAMES = {"yaml": "PyYAML", "cv2": "opencv-python", "PIL": "Pillow", "bs4": "beautifulsoup4",
              "sklearn": "scikit-learn", "dateutil": "python-dateutil", "jwt": "PyJWT",
              "dotenv": "python-dotenv"}  # fmt: skip
PYTHON_MANIFESTS = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt",
                    "requirements-dev.txt")  # fmt: skip
#: Executables a Node project gets from node_modules/.bin, i.e. from its dependencies.
NODE_BINARIES = frozenset({"jest", "vitest", "mocha", "tsc", "eslint", "ts-node", "vite",
                           "webpack", "ava", "tap", "nyc", "next", "prettier"})  # fmt: skip


def _search(patterns: Sequence[re.Pattern[str]], output: str) -> Finding | None:
    for pattern in patterns:
        if match := pattern.search(output):
            data = {k: v for k, v in match.groupdict().items() if v is not None}
            return Finding(match.group(0).strip(), data)
    return None


def _relative(path: str, context: FailureContext) -> tuple[str, Path | None]:
    """``path`` relative to the worktree when it is inside it, and its resolved location."""
    if context.worktree is None:
        return path, None
    root = context.worktree.resolve()
    target = (root / path).resolve()  # an absolute path stays absolute
    if not target.is_relative_to(root):
        return path, None
    return target.relative_to(root).as_posix(), target


def _in_scope(rel: str, allowed: Sequence[str]) -> bool:
    return any(rel == a or (a.endswith("/") and rel.startswith(a)) for a in allowed)


def _node_binary(name: str, context: FailureContext) -> bool:
    return name in NODE_BINARIES or context.toolchain == "node"


@register
class PermissionErrorPattern(FailurePattern):
    name, priority = "permission_error", 10
    _patterns = (
        re.compile(r"PermissionError: \[Errno 13\] Permission denied: '(?P<path>[^']+)'"),
        re.compile(r"EACCES: permission denied, \w+ '(?P<path>[^']+)'"),
        re.compile(r"(?P<path>[^\s:'\"]+): Permission denied"),
    )

    def detect(self, output: str, context: FailureContext) -> Finding | None:
        return _search(self._patterns, output)

    def mitigate(self, finding: Finding, context: FailureContext) -> Mitigation:
        rel, target = _relative(finding.data["path"], context)
        if target is None:
            return self._result(
                finding,
                f"The command was refused access to {rel}, outside "
                "the worktree: write under the worktree or a temporary "
                "directory instead.",
            )
        script = target.is_file() and (
            read_text(target, 2).startswith("#!")
            or target.suffix == ".sh"
            or target.name in ("gradlew", "mvnw")
        )
        if script and not os.access(target, os.X_OK):
            # The one fix made without asking: a project script that lost its execute bit.
            mode = target.stat().st_mode
            target.chmod(mode | ((mode & 0o444) >> 2))  # execute where readable
            return self._result(
                finding,
                actions=[f"made {rel} executable (chmod +x)"],
                fixed=True,
                worktree_fixes=[WorktreeFix(path=rel, action="make_executable")],
            )
        return self._result(
            finding,
            f"{rel} cannot be accessed by the test command; do not "
            "depend on changing file modes, and make generated files writable "
            "when the code creates them.",
        )


@register
class MissingToolPattern(FailurePattern):
    name, priority = "missing_tool", 15
    _patterns = (
        re.compile(r"`(?P<tool>[^`]+)` was not found on PATH"),
        re.compile(r"(?:^|\n)\S*sh: (?:\d+: )?(?P<tool>[\w.+-]+): (?:command )?not found"),
    )

    def detect(self, output: str, context: FailureContext) -> Finding | None:
        found = _search(self._patterns, output)
        if found and _node_binary(found.data["tool"], context):
            return None  # a project binary: node_missing_dep explains it better
        return found

    def mitigate(self, finding: Finding, context: FailureContext) -> Mitigation:
        return self._result(
            finding,
            f"`{finding.data['tool']}` is not installed where the "
            "tests run. Do not change code to work around it: install it on "
            "the machine, or name a test command that exists in the plan "
            "(scope.tests or verify).",
        )


@register
class WrongWorkingDirPattern(FailurePattern):
    name, priority = "wrong_working_dir", 20
    #: (pattern, the file whose directory the command should have run in)
    _patterns = (
        (re.compile(r"ERROR: file (?:or directory )?not found: (?P<path>\S+)"), None),
        (re.compile(r"can't open file '(?P<path>[^']+)': \[Errno 2\]"), None),
        (re.compile(r"could not find `Cargo\.toml` in `[^`]*` or any parent directory"),
         "Cargo.toml"),
        (re.compile(r"ENOENT[^\n]*package\.json|Could not read package\.json"), "package.json"),
        (re.compile(r"go\.mod file not found in current directory|cannot find main module"),
         "go.mod"),
        (re.compile(r"there is no POM in this directory"), "pom.xml"),
    )  # fmt: skip

    def detect(self, output: str, context: FailureContext) -> Finding | None:
        for pattern, marker in self._patterns:
            if match := pattern.search(output):
                path = match.groupdict().get("path") or marker or ""
                return Finding(match.group(0), {"path": path})
        return None

    def mitigate(self, finding: Finding, context: FailureContext) -> Mitigation:
        wanted = finding.data["path"].removeprefix("./")
        root = context.worktree
        if root is None:
            return self._result(
                finding, f"{wanted} is not where the command looked: check its working directory."
            )
        hits = sorted(
            {
                p.parent.relative_to(root).as_posix()
                for depth in ("*", "*/*", "*/*/*")
                for p in root.glob(f"{depth}/{wanted}")
                if ".git" not in p.parts and "node_modules" not in p.parts
            }
        )
        if len(hits) == 1:
            return self._result(
                finding,
                f"{wanted} is in {hits[0]}/: run the command there "
                f"(set the plan's test command to `cd {hits[0]} && ...`).",
                retry_cwd=hits[0],
            )
        if hits:
            return self._result(
                finding,
                f"{wanted} exists in several places "
                f"({', '.join(hits)}): name the directory in the plan's test "
                "command.",
            )
        return self._result(
            finding,
            f"{wanted} does not exist anywhere in the worktree: "
            "create it, or fix the path the command uses.",
        )


@register
class SyntaxErrorPattern(FailurePattern):
    name, priority = "syntax_error", 30
    _patterns = (
        re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)(?:.*\n){1,8}?.*?'
                   r"(?:SyntaxError|IndentationError|TabError): (?P<msg>.+)"),
        re.compile(r"(?P<path>[^\s:]+\.(?:[cm]?js|jsx|tsx?)):(?P<line>\d+)\n(?:.*\n){0,5}?"
                   r"SyntaxError: (?P<msg>.+)"),
        re.compile(r"(?P<path>[^\s:]+\.go):(?P<line>\d+):\d+: syntax error: (?P<msg>.+)"),
        re.compile(r"error: (?P<msg>expected .+|unexpected .+|this file contains an unclosed "
                   r"delimiter|mismatched closing delimiter.*)\n\s*--> (?P<path>[^:\s]+):"
                   r"(?P<line>\d+)"),
        re.compile(r"(?P<path>[^\s:]+\.java):\[(?P<line>\d+),\d+\] (?P<msg>.*(?:expected|"
                   r"illegal start of|reached end of file while parsing).*)"),
    )  # fmt: skip

    def detect(self, output: str, context: FailureContext) -> Finding | None:
        return _search(self._patterns, output)

    def mitigate(self, finding: Finding, context: FailureContext) -> Mitigation:
        rel, target = _relative(finding.data["path"], context)
        line, msg = finding.data["line"], finding.data["msg"].strip()
        actions: list[str] = []
        if target is not None and target.suffix == ".py" and target.is_file():
            # The output may be from before the last edit: ask the parser about the file now.
            try:
                ast.parse(target.read_text(encoding="utf-8", errors="replace"))
                actions.append(f"re-parsed {rel}: it parses now (the error is stale)")
            except SyntaxError as exc:
                line, msg = str(exc.lineno), exc.msg
                actions.append(f"confirmed with Python's parser: {rel} line {line}: {msg}")
        suggestion = f"Fix the syntax error in {rel} at line {line}: {msg}."
        if context.allowed_paths and not _in_scope(rel, context.allowed_paths):
            suggestion += " The file is outside this phase's scope; the plan must include it."
        return self._result(finding, suggestion, actions=actions)


@register
class PythonMissingDepPattern(FailurePattern):
    name, priority = "python_missing_dep", 40
    _patterns = (
        re.compile(r"ModuleNotFoundError: No module named '(?P<module>[\w.]+)'"),
        re.compile(r"ImportError: No module named (?P<module>[\w.]+)"),
    )

    def detect(self, output: str, context: FailureContext) -> Finding | None:
        return _search(self._patterns, output)

    def mitigate(self, finding: Finding, context: FailureContext) -> Mitigation:
        module = finding.data["module"]
        top = module.split(".")[0]
        root = context.worktree
        candidates = (f"{top}.py", f"{top}/", f"src/{top}/", f"src/{top}.py")
        local = [c for c in candidates if root is not None and (root / c).exists()]
        if local:
            return self._result(
                finding,
                f"`{top}` is this project's own code ({local[0]}) but "
                "the tests cannot import it: install the project in the test "
                "environment (pip install -e .) or add its directory to "
                "pytest's `pythonpath` setting.",
            )
        dist = PYPI_NAMES.get(top, top)
        name = re.compile(rf"(?i)(?<![\w-]){re.escape(dist)}(?![\w-])")
        if root is not None and any(name.search(read_text(root / f)) for f in PYTHON_MANIFESTS):
            return self._result(
                finding,
                f"`{dist}` is declared but not installed where the "
                "tests run: the install step must run first (Autopack does not "
                "install packages during a phase).",
            )
        return self._result(
            finding,
            f"Add `{dist}` to the project's dependencies "
            "(pyproject.toml or requirements.txt) if the code needs it, or "
            f"remove the import of `{module}`.",
        )


@register
class NodeMissingDepPattern(FailurePattern):
    name, priority = "node_missing_dep", 45
    _patterns = (
        re.compile(r"Cannot find (?:module|package) '(?P<module>[^']+)'"),
        re.compile(r"\S*sh: (?:\d+: )?(?P<bin>[\w.-]+): (?:command )?not found"),
    )

    def detect(self, output: str, context: FailureContext) -> Finding | None:
        found = _search(self._patterns, output)
        if found and "bin" in found.data and not _node_binary(found.data["bin"], context):
            return None
        return found

    def mitigate(self, finding: Finding, context: FailureContext) -> Mitigation:
        module = finding.data.get("module") or finding.data["bin"]
        if module.startswith((".", "/")):
            return self._result(
                finding,
                f"The import `{module}` names a file that does not "
                "exist: create it or fix the relative path (ES modules need the "
                "file extension).",
            )
        parts = module.split("/")
        package = "/".join(parts[:2]) if module.startswith("@") else parts[0]
        manifest = read_text(context.worktree / "package.json") if context.worktree else ""
        if f'"{package}"' in manifest:
            return self._result(
                finding,
                f"`{package}` is declared in package.json but not "
                "installed: the install step (npm ci / yarn / pnpm install) "
                "must run before the tests.",
            )
        return self._result(
            finding,
            f"Add `{package}` to package.json (dependencies, or "
            "devDependencies for test tools) if the code needs it, or remove "
            "the import.",
        )


@register
class MissingTestDiscoveryPattern(FailurePattern):
    name, priority = "missing_test_discovery", 60
    #: (signature, a line that proves tests did run elsewhere in the same output)
    _patterns = (
        (re.compile(r"collected 0 items|no tests ran in"), None),
        (re.compile(r"^Ran 0 tests in|NO TESTS RAN", re.M), None),
        (re.compile(r"No tests found|No test files found|No tests to run"), None),
        (re.compile(r"\[no test files\]"), re.compile(r"^(?:ok|FAIL|---)\s", re.M)),
        (re.compile(r"^running 0 tests", re.M), re.compile(r"^running [1-9]\d* tests?", re.M)),
    )  # fmt: skip

    def detect(self, output: str, context: FailureContext) -> Finding | None:
        for pattern, ran_elsewhere in self._patterns:
            match = pattern.search(output)
            if match and not (ran_elsewhere and ran_elsewhere.search(output)):
                return Finding(match.group(0))
        return None

    def mitigate(self, finding: Finding, context: FailureContext) -> Mitigation:
        suggestions = [
            "The test runner found no tests. Name test files and functions the way the "
            "runner discovers them: pytest `test_*.py` / `def test_*`, unittest "
            "`test*.py` with TestCase classes, jest/vitest `*.test.js` / `*.spec.js`, "
            "Go `*_test.go` / `func TestX(t *testing.T)`, Rust `#[test]`, JUnit `*Test.java`.",
            "If the tests live elsewhere, name the test command in the plan (scope.tests).",
        ]
        if context.worktree is not None:
            candidates = sorted(
                p.relative_to(context.worktree).as_posix()
                for p in context.worktree.rglob("*test*")
                if p.is_file() and ".git" not in p.parts and "node_modules" not in p.parts
            )[:10]
            if candidates:
                suggestions.append(f"Files that look like tests: {', '.join(candidates)}.")
        return self._result(finding, *suggestions)


@register
class ScopeMismatchPattern(FailurePattern):
    name, priority = "scope_mismatch", 70
    _refs = re.compile(r'File "(?P<a>[^"]+)", line \d+|(?P<b>[\w./-]+\.\w{1,5}):\d+')
    _apply = re.compile(r"outside (?:the phase's |this phase's )?(?:allowed paths|scope)[^\n]*")

    def detect(self, output: str, context: FailureContext) -> Finding | None:
        if match := self._apply.search(output):
            return Finding(match.group(0), {"files": ""})
        if context.worktree is None or not context.allowed_paths:
            return None
        # Only when every project file the failure mentions is out of scope: a failing test
        # outside scope is normal when the code it tests is in scope.
        refs = {_relative(m["a"] or m["b"], context) for m in self._refs.finditer(output)}
        project = sorted(rel for rel, target in refs if target is not None and target.is_file())
        if project and not any(_in_scope(rel, context.allowed_paths) for rel in project):
            files = ", ".join(project[:5])
            return Finding(f"failure refers only to {files}", {"files": files})
        return None

    def mitigate(self, finding: Finding, context: FailureContext) -> Mitigation:
        allowed = ", ".join(context.allowed_paths) or "(none declared)"
        where = finding.data["files"] or "files outside the phase's scope"
        return self._result(
            finding,
            f"The failure is in {where}, which this phase may not "
            f"change (allowed: {allowed}). Fix it through files in scope if the "
            "cause is there; otherwise the plan's scope.paths must include "
            "those files.",
        )
