"""The edit operations as data: one kind per operation, validated, immutable."""

from __future__ import annotations

import typing

import pydantic
import pytest

from autopack.domain.edits import (
    EDIT_KINDS,
    Edit,
    Hunk,
    HunkLine,
    ReplaceLines,
    SearchReplace,
    edit_from_dict,
)


def test_edit_kinds_lists_every_operation_once() -> None:
    union = typing.get_args(typing.get_args(Edit)[0])
    kinds = [cls.model_fields["kind"].default for cls in union]
    assert sorted(kinds) == sorted(EDIT_KINDS) and len(set(kinds)) == len(kinds)


def test_edit_from_dict_picks_the_operation_by_kind() -> None:
    edit = edit_from_dict({"kind": "search_replace", "path": "a.py", "old": "x", "new": "y"})
    assert edit == SearchReplace(path="a.py", old="x", new="y")
    with pytest.raises(pydantic.ValidationError):
        edit_from_dict({"kind": "teleport", "path": "a.py"})
    with pytest.raises(pydantic.ValidationError):
        edit_from_dict({"kind": "delete", "path": "a.py", "extra": 1})


def test_line_ranges_are_one_based_and_ordered() -> None:
    with pytest.raises(pydantic.ValidationError):
        ReplaceLines(path="a", start=0, end=1, content="")
    with pytest.raises(pydantic.ValidationError):
        ReplaceLines(path="a", start=3, end=2, content="")


def test_edits_are_immutable() -> None:
    edit = SearchReplace(path="a.py", old="x", new="y")
    with pytest.raises(pydantic.ValidationError):
        edit.path = "b.py"  # type: ignore[misc]


def test_hunk_sides() -> None:
    hunk = Hunk(
        old_start=3,
        lines=(
            HunkLine(tag=" ", text="a"),
            HunkLine(tag="-", text="b"),
            HunkLine(tag="+", text="c"),
        ),
        new_ends_without_newline=True,
    )
    assert hunk.old_text() == "a\nb\n"
    assert hunk.new_text() == "a\nc"
