"""Learned rules: deterministic derivation, matching by path and category, ageing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autopack.memory.rules import (
    CLASS_ADVICE,
    ResolvedFailure,
    category_matches,
    derive_rule,
    paths_overlap,
    weight,
)


def _failure(hint: str = "", kind: str = "tests_failed") -> ResolvedFailure:
    return ResolvedFailure(
        run_id="r1",
        phase_id="p1",
        attempt=1,
        failure_kind=kind,
        error="1 new failure: tests/test_mul.py::test_mul " + "x" * 500,
        hint=hint,
        paths=("calc.py", "tests/"),
        category="feature",
    )


def test_the_doctors_hint_becomes_the_rule_with_its_scope_and_evidence() -> None:
    rule = derive_rule(_failure("mul() adds instead of multiplying; return a * b"))
    assert rule.text == (
        "When changing calc.py, tests/: mul() adds instead of multiplying; return a * b "
        "(learned from a resolved tests_failed failure)"
    )
    assert rule.paths == ("calc.py", "tests/") and rule.category == "feature"
    assert rule.evidence["run_id"] == "r1" and rule.evidence["attempt"] == 1
    assert len(str(rule.evidence["error"])) <= 300


def test_without_a_hint_the_failure_class_gives_the_advice() -> None:
    rule = derive_rule(_failure(kind="apply_no_match"))
    assert CLASS_ADVICE["apply_no_match"] in rule.text
    assert "an unknown_kind" not in derive_rule(_failure(kind="unknown_kind")).text


def test_the_same_lesson_has_the_same_key_and_a_different_one_does_not() -> None:
    assert (
        derive_rule(_failure("Use  a * b")).rule_key == derive_rule(_failure("use a * b")).rule_key
    )
    assert (
        derive_rule(_failure("use a * b")).rule_key != derive_rule(_failure("use a / b")).rule_key
    )


def test_paths_match_by_file_directory_and_glob() -> None:
    assert paths_overlap(["calc.py"], ["calc.py"])
    assert paths_overlap(["src/"], ["src/app/main.py"])
    assert paths_overlap(["src/app/main.py"], ["src/"])
    assert paths_overlap(["src/*.py"], ["src/calc.py"])
    assert paths_overlap(["src/**"], ["src/a/b/c.py"])
    assert not paths_overlap(["src/*.py"], ["src/a/b.py"])
    assert not paths_overlap(["calc.py"], ["docs/"])
    assert not paths_overlap(["src/"], ["srcx/a.py"])
    assert paths_overlap([], ["anything.py"])


def test_category_matches() -> None:
    assert category_matches("feature", "feature")
    assert category_matches("", "tests") and category_matches("general", "tests")
    assert not category_matches("feature", "docs")


def test_weight_halves_every_thirty_days_of_inactivity() -> None:
    now = datetime(2026, 1, 31, tzinfo=UTC)
    assert weight(2, 2, now, now) == 4.0
    assert weight(2, 2, now - timedelta(days=30), now) == 2.0
    assert weight(1, 0, now - timedelta(days=60), now) == 0.25
