"""What a toolchain adapter is, and what it answers.

An adapter looks at a project directory (files only: detection never runs the project)
and answers with a :class:`Detection`: how sure it is and why, and the project's install,
build, test and lint commands. :class:`TestCommand` is what verification actually runs:
a detection's test command, or a command the plan names, with what is known about where
its machine-readable results will be.

Commands may contain two placeholders that :func:`autopack.verify.run_tests` fills in for
each run: ``{report_dir}``, a fresh directory outside the project, and ``{junit_xml}``, a
file in it. They keep result files out of the worktree, where they would be committed.

Offline stance: install commands may use the network; build, test and lint commands use
each tool's offline switch where it has one (``cargo --offline``, ``mvn -o``,
``gradle --offline``), so a test result depends on the worktree and not on a registry.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
from abc import ABC, abstractmethod
from pathlib import Path, PurePosixPath
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from autopack.toolchains.results import ReportSource

ToolchainName = Literal["python", "node", "go", "rust", "java"]
CommandOrigin = Literal["detected", "scope.tests", "run.verify", "given"]

REPORT_DIR = "{report_dir}"
JUNIT_XML = "{junit_xml}"


class TestCommand(BaseModel):
    """One test command and how to read its results.

    ``argv`` is an argument list, or a string that may use shell syntax. ``report_format``
    says what the results parser expects; ``report_globs`` name JUnit files the tool writes
    inside the project itself (Surefire, Gradle), relative to the project directory.
    ``test_tool`` lets the report builder apply what it knows about a tool's exit codes
    (pytest's 2, 4 and 5).
    """

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name
    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: list[str] | str
    env: dict[str, str] = Field(default_factory=dict)
    report_format: ReportSource = "exit-code"
    report_globs: list[str] = Field(default_factory=list)
    test_tool: str | None = None
    origin: CommandOrigin = "given"

    @property
    def display(self) -> str:
        return self.argv if isinstance(self.argv, str) else shlex.join(self.argv)


class Detection(BaseModel):
    """An adapter's answer for one project directory.

    ``confidence`` is 0..1: about 0.9 and above for a project manifest (pyproject.toml,
    package.json, go.mod, Cargo.toml, pom.xml), lower for weaker evidence such as loose
    source files. ``reasons`` say which files led there, for people and logs. A command is
    None when the toolchain has no such step for this project.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    toolchain: ToolchainName
    confidence: float = Field(ge=0.0, le=1.0)
    reasons: list[str] = Field(default_factory=list)
    test_tool: str
    install_command: list[str] | None = None
    build_command: list[str] | None = None
    test_command: list[str] | None = None
    lint_command: list[str] | None = None
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment for every command of this project."
    )
    report_format: ReportSource = "exit-code"
    report_globs: list[str] = Field(default_factory=list)
    extra_test_files: list[str] = Field(
        default_factory=list,
        description="Test files the tool's default naming would not find, named to it "
        "(relative to the project directory).",
    )

    def test(self) -> TestCommand | None:
        """The test command as verification runs it, or None when there is none."""
        if self.test_command is None:
            return None
        return TestCommand(
            argv=list(self.test_command),
            env=dict(self.env),
            report_format=self.report_format,
            report_globs=list(self.report_globs),
            test_tool=self.test_tool,
            origin="detected",
        )


class Toolchain(ABC):
    """A toolchain adapter. Subclasses set ``name`` and implement :meth:`detect`."""

    name: ClassVar[ToolchainName]

    @abstractmethod
    def detect(self, path: Path) -> Detection | None:
        """Look at the files in ``path`` (never run anything of the project's); None when
        the directory is not a project of this toolchain."""


def read_text(path: Path, limit: int = 500_000) -> str:
    """A project file's text, or "" when it is missing or unreadable (detection must not
    fail on a half-written or binary file)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            return fh.read(limit)
    except OSError:
        return ""


def any_files(path: Path, patterns: tuple[str, ...], *, limit: int = 2000) -> list[Path]:
    """Files under ``path`` matching any glob in ``patterns`` (as :meth:`PurePath.match`
    does: a pattern is matched from the right, one path part per pattern part), skipping
    dependency and build directories, looking at no more than ``limit`` files (big repos
    stay cheap).

    Directories are read with :func:`os.scandir` (the entry's type comes with the listing,
    no ``stat`` per file) and names compared as strings: detection runs before every test
    run of a phase, on a worktree that grows with the run."""
    skip = {
        ".git",
        "node_modules",
        ".venv",
        "venv",
        "target",
        "build",
        "dist",
        "vendor",
        "__pycache__",
        ".tox",
        ".mypy_cache",
        ".pytest_cache",
    }
    by_name = tuple(p for p in patterns if "/" not in p)
    by_path = tuple(p for p in patterns if "/" in p)
    found: list[Path] = []
    seen = 0
    stack = [os.fspath(path)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > limit:
                return found
            if _is_dir(entry):
                if entry.name not in skip and not entry.is_symlink():
                    stack.append(entry.path)
            elif any(fnmatch.fnmatchcase(entry.name, p) for p in by_name) or (
                by_path and any(PurePosixPath(entry.path).match(p) for p in by_path)
            ):
                found.append(Path(entry.path))
    return found


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """``Path.is_dir``: symlinks followed, an unreadable entry is not a directory."""
    try:
        return entry.is_dir()
    except OSError:
        return False
