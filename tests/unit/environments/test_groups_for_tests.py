"""Which extras and dependency groups an environment installs for a project's tests."""

from __future__ import annotations

import pytest

from autopack.environments.python import groups_for_tests


@pytest.mark.parametrize(
    ("declared", "picked"),
    [
        ({"test": [], "dev": [], "docs": []}, ["test"]),
        (["dev", "lint"], ["dev"]),
        (["testing", "tests", "dev"], ["tests", "testing"]),
        (["docs", "lint"], []),
        ([], []),
    ],
)
def test_test_named_groups_win_over_dev(declared: object, picked: list[str]) -> None:
    assert groups_for_tests(declared) == picked  # type: ignore[arg-type]
