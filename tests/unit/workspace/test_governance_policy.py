"""The governance policy table: how each requested path is classed, what a project may
tune (and may not loosen), and the apply guard's grant of an approved path."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.domain.governance import Risk
from autopack.errors import ValidationError
from autopack.workspace.governance import (
    GovernanceConfig,
    classify,
    critical_among,
    project_governance,
    worktree_reader,
)
from autopack.workspace.guards import DEFAULT_PROTECTED, ApplyPolicy, check_path

PROTECTED = (*DEFAULT_PROTECTED, "config/", "tests/golden/", "docs/", "migrations/")
WORKFLOW_WITH_SECRETS = "jobs:\n  x:\n    env:\n      TOKEN: ${{ secrets.DEPLOY_TOKEN }}\n"
WORKFLOW_PLAIN = "jobs:\n  x:\n    runs-on: ubuntu-latest\n"


def _files(files: dict[str, str]):  # type: ignore[no-untyped-def]
    return files.get


@pytest.mark.parametrize(
    ("path", "risk"),
    [
        ("tests/golden/expected.txt", Risk.LOW),
        ("docs/guide.md", Risk.LOW),
        ("config/README.md", Risk.LOW),
        ("config/app.toml", Risk.PERSON),
        ("data/app.db", Risk.PERSON),
        ("migrations/0001.sql", Risk.PERSON),
        (".autopack.yaml", Risk.CRITICAL),
        (".env", Risk.CRITICAL),
        ("deploy/.env.production", Risk.CRITICAL),
        ("config/secrets.yaml", Risk.CRITICAL),
        ("deploy/.secrets.json", Risk.CRITICAL),
        ("src/app/secrets.py", Risk.UNPROTECTED),
        (".git/config", Risk.CRITICAL),
        ("../outside.txt", Risk.CRITICAL),
        ("src/app.py", Risk.UNPROTECTED),
        ("tests/test_app.py", Risk.UNPROTECTED),
    ],
)
def test_each_path_is_classed_by_the_first_rule_that_matches(path: str, risk: Risk) -> None:
    found = classify(path, protected=PROTECTED, config=GovernanceConfig(), read=_files({}))
    assert found.risk is risk, found


def test_a_workflow_is_critical_only_when_it_uses_secrets() -> None:
    read = _files(
        {
            ".github/workflows/deploy.yml": WORKFLOW_WITH_SECRETS,
            ".github/workflows/ci.yml": WORKFLOW_PLAIN,
        }
    )
    protected = (*PROTECTED, ".github/")
    config = GovernanceConfig()
    deploy = classify(".github/workflows/deploy.yml", protected=protected, config=config, read=read)
    ci = classify(".github/workflows/ci.yml", protected=protected, config=config, read=read)
    assert (deploy.risk, ci.risk) == (Risk.CRITICAL, Risk.PERSON)
    assert "secrets" in deploy.why
    assert critical_among(
        [".github/workflows/deploy.yml", ".github/workflows/ci.yml", "src/a.py"], config, read
    ) == ("/.github/workflows/deploy.yml",)


def test_a_project_adds_critical_paths_and_tunes_low_risk_but_never_loosens_critical() -> None:
    config = GovernanceConfig(
        critical=("migrations/",),
        low_risk=(".env", ".autopack.yaml", "config/"),
        auto_approve_low_risk=True,
    )
    read = _files({})
    assert classify("migrations/0001.sql", protected=PROTECTED, config=config, read=read).risk is (
        Risk.CRITICAL
    )
    assert classify(".env", protected=PROTECTED, config=config, read=read).risk is Risk.CRITICAL
    assert classify(".autopack.yaml", protected=PROTECTED, config=config, read=read).risk is (
        Risk.CRITICAL
    )
    # The default low-risk list is replaced: docs now need a person, config does not.
    assert classify("docs/a.md", protected=PROTECTED, config=config, read=read).risk is Risk.PERSON
    assert classify("config/a.toml", protected=PROTECTED, config=config, read=read).risk is Risk.LOW
    strict = GovernanceConfig(auto_approve_low_risk=False)
    assert classify("docs/a.md", protected=PROTECTED, config=strict, read=read).risk is Risk.PERSON


def test_the_project_file_tunes_the_policy_and_a_typo_is_an_error(tmp_path: Path) -> None:
    assert project_governance(tmp_path) == GovernanceConfig()
    (tmp_path / ".autopack.yaml").write_text(
        "protected_paths: [db/]\ngovernance:\n  critical: [db/migrations/]\n", encoding="utf-8"
    )
    config = project_governance(tmp_path)
    assert config.critical == ("db/migrations/",)
    assert "db/migrations/" in config.critical_patterns()
    (tmp_path / ".autopack.yaml").write_text("governance:\n  critcal: [db/]\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"governance\.critcal"):
        project_governance(tmp_path)


def test_the_reader_sees_the_worktree_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello", encoding="utf-8")
    read = worktree_reader(tmp_path)
    assert (read("a.txt"), read("missing.txt"), read(".")) == ("hello", None, None)


def test_a_granted_path_passes_the_guard_and_nothing_else_does(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    policy = ApplyPolicy(protected_paths=("config/",))
    assert check_path(tmp_path, "config/app.toml", policy).__class__.__name__ == "GuardViolation"
    granted = policy.model_copy(update={"granted_paths": ("config/app.toml",)})
    assert check_path(tmp_path, "config/app.toml", granted).__class__.__name__ == "CheckedPath"
    other = check_path(tmp_path, "config/other.toml", granted)
    assert getattr(other, "code", None) == "protected_path"
