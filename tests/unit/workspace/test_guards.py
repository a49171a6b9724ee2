"""Path, scope, protection and deletion guards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autopack.domain.plan import Scope
from autopack.errors import ValidationError
from autopack.workspace.guards import DEFAULT_PROTECTED as DEFAULTS
from autopack.workspace.guards import (
    ApplyPolicy,
    CheckedPath,
    GuardViolation,
    assess_deletions,
    check_path,
    in_scope,
    normalize_path,
    project_protected_paths,
    protected_by,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("src/app.py", "src/app.py"),
        ("./src//app.py", "src/app.py"),
        ("src\\pkg\\mod.py", "src/pkg/mod.py"),
        ("  docs/x.md ", "docs/x.md"),
    ],
)
def test_normalize_path_accepts_relative_spellings(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("/etc/passwd", "absolute_path"),
        ("C:\\Windows\\x", "absolute_path"),
        ("~/.ssh/id_rsa", "absolute_path"),
        ("../outside.py", "path_traversal"),
        ("src/../../x", "path_traversal"),
        ("src\\..\\..\\x", "path_traversal"),
        ("a\x00b", "invalid_path"),
        ("./", "invalid_path"),
    ],
)
def test_normalize_path_refuses_escapes(raw: str, code: str) -> None:
    result = normalize_path(raw)
    assert isinstance(result, GuardViolation) and result.code == code


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        "vendor/lib/.git/HEAD",
        ".git",
        ".env",
        "app/.env",
        ".env.local",
        "data/app.db",
        "state.sqlite3",
        ".autonomous_runs/r1/x.json",
        ".GIT/config",
        "APP.DB",
    ],
)
def test_default_protected_paths(path: str) -> None:
    assert protected_by(path, DEFAULTS) is not None


@pytest.mark.parametrize("path", ["src/git_tools.py", "environment.py", "docs/db.md", "db/x.py"])
def test_lookalikes_are_not_protected(path: str) -> None:
    assert protected_by(path, DEFAULTS) is None


def test_extra_protected_patterns() -> None:
    patterns = ("migrations/", "config/prod.yaml", "*.pem")
    assert protected_by("app/migrations/0001.py", patterns) == "migrations/"
    assert protected_by("config/prod.yaml", patterns) == "config/prod.yaml"
    assert protected_by("certs/server.pem", patterns) == "*.pem"
    assert protected_by("config/dev.yaml", patterns) is None


def test_scope_directories_files_and_globs() -> None:
    allowed = ("src/app/", "README.md", "tests/test_*.py", ".\\docs\\")
    assert in_scope("src/app/x/y.py", allowed)
    assert in_scope("README.md", allowed)
    assert in_scope("tests/test_app.py", allowed)
    assert in_scope("docs/guide.md", allowed)
    assert not in_scope("src/application.py", allowed)  # a prefix is not a directory
    assert not in_scope("README.md.bak", allowed)
    assert in_scope("anything", None)
    assert not in_scope("anything", ())


@pytest.mark.parametrize(
    ("path", "pattern", "inside"),
    [
        ("src/app.py", "src/*.py", True),
        ("src/vendor/lib/x.py", "src/*.py", False),  # `*` does not cross `/`
        ("tests/unit/test_a.py", "tests/test_*.py", False),
        ("src/vendor/lib/x.py", "src/**/*.py", True),  # `**` does
        ("src/x.py", "src/**/*.py", True),  # `**/` is zero or more directories
        ("src/a/b/c.txt", "src/**", True),
        ("pkg1/mod/x.py", "pkg*/", True),  # a directory glob holds everything below
        ("lib/pkg1/x.py", "pkg*/", False),
        ("src/a.py", "src/?.py", True),
        ("src/ab.py", "src/[!a]b.py", False),
    ],
)
def test_scope_globs_follow_gitignore_rules(path: str, pattern: str, inside: bool) -> None:
    assert in_scope(path, (pattern,)) is inside


def test_protected_globs_follow_gitignore_rules() -> None:
    assert protected_by("secrets/prod/key.txt", ("secrets/*.txt",)) is None
    assert protected_by("secrets/key.txt", ("secrets/*.txt",)) == "secrets/*.txt"
    assert protected_by("a/b/secrets/key.txt", ("**/secrets/*.txt",)) == "**/secrets/*.txt"
    assert protected_by("deploy/prod/app.yaml", ("deploy/prod",)) == "deploy/prod"


def test_the_project_file_itself_is_protected_at_the_root_only() -> None:
    assert protected_by(".autopack.yaml", DEFAULTS) is not None
    assert protected_by("examples/.autopack.yaml", DEFAULTS) is None


def test_project_protected_paths_are_read_from_autopack_yaml(tmp_path: Path) -> None:
    assert project_protected_paths(tmp_path) == ()
    (tmp_path / ".autopack.yaml").write_text(
        "setup: make\nprotected_paths:\n  - infra/\n  - '*.key'\n"
    )
    assert project_protected_paths(tmp_path) == ("infra/", "*.key")


@pytest.mark.parametrize(
    "text", ["protected_paths: infra/\n", "protected_paths: [1]\n", "[a, b]\n", "a: [\n"]
)
def test_an_unreadable_project_list_is_an_error_not_no_protection(
    tmp_path: Path, text: str
) -> None:
    (tmp_path / ".autopack.yaml").write_text(text)
    with pytest.raises(ValidationError, match=r"\.autopack\.yaml"):
        project_protected_paths(tmp_path)


def test_check_path_refuses_protected_and_out_of_scope(tmp_path: Path) -> None:
    policy = ApplyPolicy(allowed_paths=("src/",))
    protected = check_path(tmp_path, "src/.env", policy)
    assert isinstance(protected, GuardViolation) and protected.code == "protected_path"
    outside = check_path(tmp_path, "lib/x.py", policy)
    assert isinstance(outside, GuardViolation) and outside.code == "outside_scope"
    fine = check_path(tmp_path, "src/new/x.py", policy)
    assert isinstance(fine, CheckedPath) and fine.rel == "src/new/x.py"


def test_symlinked_directory_leading_outside_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    result = check_path(root, "link/evil.py", ApplyPolicy())
    assert isinstance(result, GuardViolation) and result.code == "symlink_escape"


def test_symlink_inside_to_a_protected_place_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "hooks").symlink_to(tmp_path / ".git", target_is_directory=True)
    result = check_path(tmp_path, "hooks/pre-commit", ApplyPolicy())
    assert isinstance(result, GuardViolation) and result.code == "protected_path"


def test_symlinked_file_is_not_edited_through(tmp_path: Path) -> None:
    (tmp_path / "real.py").write_text("x\n")
    (tmp_path / "alias.py").symlink_to(tmp_path / "real.py")
    result = check_path(tmp_path, "alias.py", ApplyPolicy())
    assert isinstance(result, GuardViolation) and result.code == "symlink"


def test_directory_and_file_parent_are_refused(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    result = check_path(tmp_path, "pkg", ApplyPolicy())
    assert isinstance(result, GuardViolation) and result.code == "is_directory"
    (tmp_path / "README.md").write_text("x\n")
    under_file = check_path(tmp_path, "README.md/x.py", ApplyPolicy())
    assert isinstance(under_file, GuardViolation) and under_file.code == "invalid_path"


@pytest.mark.parametrize(
    ("net", "approved", "level", "savepoint"),
    [
        (0, False, "ok", False),
        (50, False, "ok", False),
        (51, False, "ok", True),
        (99, False, "ok", True),
        (100, False, "notify", True),
        (200, False, "notify", True),
        (201, False, "approval_required", True),
        (5000, True, "notify", True),
    ],
)
def test_deletion_thresholds(net: int, approved: bool, level: str, savepoint: bool) -> None:
    verdict = assess_deletions(net, ApplyPolicy(deletion_approved=approved))
    assert (verdict.level, verdict.savepoint_required) == (level, savepoint)


def test_policy_for_phase_merges_protected_lists() -> None:
    scope = Scope(paths=["src/"], protected_paths=["src/vendor/"])
    policy = ApplyPolicy.for_phase(scope, run_protected=["*.lock"], project_protected=["ops/"])
    assert policy.allowed_paths == ("src/",)
    assert set(policy.protected_paths) == {"src/vendor/", "*.lock", "ops/"}
    assert set(DEFAULTS) <= set(policy.all_protected())
    assert ApplyPolicy.for_phase(Scope()).allowed_paths is None


def test_policy_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError):
        ApplyPolicy(allowd_paths=("x",))  # type: ignore[call-arg]


@pytest.mark.skipif(os.name == "nt", reason="POSIX FIFOs")
def test_fifo_is_not_read(tmp_path: Path) -> None:
    from autopack.workspace.textfile import load_text_file

    os.mkfifo(tmp_path / "pipe")
    loaded = load_text_file("pipe", tmp_path / "pipe", max_bytes=100)
    assert loaded.problem is not None and loaded.problem.code == "not_regular_file"
