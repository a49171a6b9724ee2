"""Preflight warnings: each one fires on the problem it names, and only then."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from autopack.domain.plan import RunSpec
from autopack.planning import PreflightWarning, preflight
from autopack.planning.preflight import covers, is_protected

# The package exports the function `preflight`, which hides the module of the same name.
preflight_module = importlib.import_module("autopack.planning.preflight")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "README.md").write_text("# demo\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    return root


def _spec(*phases: dict[str, Any], **run: Any) -> RunSpec:
    numbered = [{"phase_id": f"p{i}", "name": f"Phase {i}", **p} for i, p in enumerate(phases)]
    return RunSpec.model_validate({"run_id": "r", "phases": numbered, **run})


def _codes(warnings: list[PreflightWarning]) -> list[tuple[str, str | None]]:
    return [(w.code, w.phase_id) for w in warnings]


def test_a_sound_plan_has_no_warnings(repo: Path) -> None:
    spec = _spec(
        {"paths": ["src/", "tests/", "docs/guide/"], "deliverables": ["src/app.py::main"]},
        {"paths": ["README.md"], "deliverables": ["README.md"]},
    )
    assert preflight(spec, repo) == []


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("README.md/notes/", "'README.md' is a file"),
        ("/etc/", "is absolute"),
        ("../elsewhere/", "uses '..'"),
        ("src/", None),
        ("src/new/deep/dir/", None),
        ("src/**/*.py", None),
    ],
)
def test_paths_that_cannot_be_created(repo: Path, path: str, reason: str | None) -> None:
    warnings = preflight(_spec({"paths": [path]}), repo)
    if reason is None:
        assert warnings == []
    else:
        assert _codes(warnings) == [("path_not_creatable", "p0")]
        assert reason in warnings[0].message
        assert repr(path) in warnings[0].message


def test_path_through_a_symlink_out_of_the_repo(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, repo / "link")
    warnings = preflight(_spec({"paths": ["link/new/"]}), repo)
    assert _codes(warnings) == [("path_not_creatable", "p0")]
    assert "outside the repository" in warnings[0].message


def test_protected_paths_in_scope(repo: Path) -> None:
    spec = _spec(
        {"paths": [".env", "config/.env.local", "data/app.db", ".git/hooks/", "src/"]},
        {"paths": ["secrets/", "vendor/"], "protected_paths": ["vendor/"]},
        {"paths": ["src/"], "deliverables": ["src/cache.sqlite3"]},
        protected_paths=["secrets/"],
    )
    warnings = preflight(spec, repo)
    assert _codes(warnings) == [("protected_path_in_scope", "p0")] * 4 + [
        ("protected_path_in_scope", "p1"),
        ("protected_path_in_scope", "p1"),
        ("protected_path_in_scope", "p2"),
    ]
    assert "'.env'" in warnings[0].message
    assert "deliverable 'src/cache.sqlite3'" in warnings[-1].message


def test_deliverables_outside_the_allowed_paths(repo: Path) -> None:
    spec = _spec(
        {"paths": ["src/"], "deliverables": ["src/a.py::f", "docs/a.md", "srcx/b.py"]},
        {"deliverables": ["anything.py"]},  # no allowed paths: nothing to compare with
    )
    warnings = preflight(spec, repo)
    assert _codes(warnings) == [("deliverable_outside_scope", "p0")] * 2
    assert "'docs/a.md'" in warnings[0].message
    assert "'srcx/b.py'" in warnings[1].message


def _bare_repo(tmp_path: Path) -> Path:
    root = tmp_path / "bare"
    (root / ".git").mkdir(parents=True)
    return root


def test_no_test_command_and_no_project_files(tmp_path: Path) -> None:
    root = _bare_repo(tmp_path)
    warnings = preflight(_spec({"paths": ["a/"]}, {"paths": ["b/"]}), root)
    assert _codes(warnings) == [("no_test_command", None)]
    assert "no test command for any phase" in warnings[0].message


def test_no_test_command_names_only_the_phases_without_one(tmp_path: Path) -> None:
    root = _bare_repo(tmp_path)
    spec = _spec({"tests": ["make check"]}, {"paths": ["b/"]})
    assert "no test command for p1:" in preflight(spec, root)[0].message


@pytest.mark.parametrize(
    "marker",
    [
        "package.json",
        "go.mod",
        "Cargo.toml",
        "pom.xml",
        "build.gradle.kts",
        "setup.py",
        "requirements-dev.txt",
        "tests/",
    ],
)
def test_a_project_file_means_a_toolchain_can_test(tmp_path: Path, marker: str) -> None:
    root = _bare_repo(tmp_path)
    if marker.endswith("/"):
        (root / marker).mkdir()
    else:
        (root / marker).write_text("")
    assert preflight(_spec({"paths": ["a/"]}), root) == []


def test_toolchain_detection_counts_as_a_test_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _bare_repo(tmp_path)
    (root / "main.py").write_text("print('hi')\n")
    found = SimpleNamespace(test_command=["python3", "-m", "pytest"])
    monkeypatch.setattr(preflight_module, "detect_best", lambda path: found)
    assert preflight(_spec({"paths": ["a/"]}), root) == []
    monkeypatch.setattr(preflight_module, "detect_best", lambda path: None)
    assert _codes(preflight(_spec({"paths": ["a/"]}), root)) == [("no_test_command", None)]


def test_run_level_verify_is_a_test_command(tmp_path: Path) -> None:
    root = _bare_repo(tmp_path)
    assert preflight(_spec({"paths": ["a/"]}, verify="./run-tests.sh"), root) == []


def test_directory_that_is_not_a_git_repository(repo: Path, tmp_path: Path) -> None:
    (repo / ".git").rmdir()
    warnings = preflight(_spec({"paths": ["src/"]}), repo)
    assert _codes(warnings) == [("not_a_git_repository", None)]
    assert "git init" in warnings[0].message


def test_protection_and_coverage_rules() -> None:
    patterns = [".git/", ".env", ".env.*", "*.db", "docs/private/"]
    assert is_protected("./.git/config", patterns)
    assert is_protected("sub/.git/", patterns)
    assert is_protected("app/.env.production", patterns)
    assert is_protected("docs\\private\\notes.md", patterns)
    assert not is_protected(".envrc", patterns)
    assert not is_protected("src/database.py", patterns)

    assert covers("src/", "src/pkg/mod.py")
    assert covers("src", "src/pkg/mod.py")
    assert covers("./README.md", "README.md")
    assert covers(".", "anything/at/all.py")
    assert covers("src/*.py", "src/mod.py")
    assert not covers("src/", "srcx/mod.py")
    assert not covers("README.md", "README.md.bak")


def test_globs_match_as_governed_apply_reads_them() -> None:
    # `*` does not cross `/` (fnmatch's does); `**` does.
    assert not covers("src/*.py", "src/vendor/mod.py")
    assert covers("src/**/*.py", "src/vendor/mod.py")
    assert covers("pkg*/", "pkg1/sub/mod.py")
    assert not is_protected("config/prod/app.yaml", ["config/*.yaml"])
    assert is_protected("config/app.yaml", ["config/*.yaml"])


def test_a_bare_repository_gets_the_plan_checks_but_not_the_file_checks(tmp_path: Path) -> None:
    # git's own layout of a bare repository: no checkout, so no files to look at.
    root = tmp_path / "project.git"
    (root / "objects").mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "HEAD").write_text("ref: refs/heads/main\n")
    spec = _spec(
        {"paths": ["README.md/notes/", ".env"], "deliverables": ["docs/a.md"]},
    )

    warnings = preflight(spec, root)

    # No "not a git repository", no "cannot be created" (README.md's kind is unknown here),
    # no "no project files"; what the plan says on its own is still checked.
    assert _codes(warnings) == [
        ("protected_path_in_scope", "p0"),
        ("deliverable_outside_scope", "p0"),
    ]
