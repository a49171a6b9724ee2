"""Poetry's dependency tables read without poetry (python-poetry/cleo's dev group)."""

from __future__ import annotations

import pytest

from autopack.environments.poetry_metadata import poetry_constraint, poetry_requirements


@pytest.mark.parametrize(
    ("poetry", "pep440"),
    [
        ("^1.2.3", ">=1.2.3,<2.0.0"),
        ("^0.2.3", ">=0.2.3,<0.3.0"),
        ("^0.0.3", ">=0.0.3,<0.0.4"),
        ("^0", ">=0,<1"),
        ("~1.2.3", ">=1.2.3,<1.3.0"),
        ("~1.2", ">=1.2,<1.3"),
        ("~1", ">=1,<2"),
        ("*", ""),
        ("1.2", "==1.2"),
        ("1.2.*", "==1.2.*"),
        (">=1.18", ">=1.18"),
        (">= 2.1, < 3", ">=2.1,<3"),
        ("~=2.0", "~=2.0"),
    ],
)
def test_poetry_constraints_in_pep_440(poetry: str, pep440: str) -> None:
    assert poetry_constraint(poetry) == pep440


def test_alternatives_have_no_pep_440_spelling() -> None:
    with pytest.raises(ValueError, match="alternatives"):
        poetry_constraint("^1.0 || ^2.0")


def test_test_groups_are_read_and_other_groups_and_sources_are_not() -> None:
    pyproject = {
        "project": {"name": "cleo", "dependencies": ["rapidfuzz>=3"]},
        "tool": {
            "poetry": {
                "dependencies": {"python": "^3.9", "rapidfuzz": "^3"},  # [project] wins
                "group": {
                    "dev": {
                        "dependencies": {
                            "pytest": ">=8.3.5",
                            "pytest-mock": {"version": "^3.8.2", "extras": ["x"]},
                            "local": {"path": "../local"},
                            "tomli": {"version": "*", "markers": "python_version < '3.11'"},
                        }
                    },
                    "doc": {"dependencies": {"sphinx": "^7.1"}},
                },
            }
        },
    }
    lines, notes = poetry_requirements(pyproject, ("test", "dev"))
    assert lines == [
        "pytest>=8.3.5",
        "pytest-mock[x]>=3.8.2,<4.0.0",
        "tomli; python_version < '3.11'",
    ]
    assert notes == ["poetry group dev: local left out (a path dependency)"]


def test_an_old_poetry_project_without_pep_621_gets_its_runtime_and_dev_dependencies() -> None:
    pyproject = {
        "tool": {
            "poetry": {
                "dependencies": {
                    "python": "^3.8",
                    "requests": "^2.31",
                    "ujson": {"version": "^5", "optional": True},
                },
                "dev-dependencies": {"pytest": "^7.0"},
            }
        }
    }
    lines, notes = poetry_requirements(pyproject, ("dev",))
    assert lines == ["requests>=2.31,<3.0", "pytest>=7.0,<8.0"]
    assert notes == []
