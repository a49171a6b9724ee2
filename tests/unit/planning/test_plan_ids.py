"""Ids made for plans that state none."""

from __future__ import annotations

from autopack.domain.plan import check_slug
from autopack.planning.ids import default_run_id, slugify, unique_slug


def test_slugify_makes_valid_ids_cut_at_a_word() -> None:
    assert slugify("Add word_frequencies() & most_common()!") == "add-word-frequencies-most-common"
    assert slugify("Crème brûlée") == "creme-brulee"
    long = slugify("one two three four five six seven eight nine ten eleven", max_length=20)
    assert long == "one-two-three-four"
    assert slugify("x" * 60, max_length=10) == "x" * 10
    assert slugify("日本語") == ""


def test_unique_slug_counts_up_from_two() -> None:
    assert unique_slug("a", set()) == "a"
    assert unique_slug("a", {"a", "a-2"}) == "a-3"


def test_default_run_id_is_a_valid_id_stable_per_content() -> None:
    first = default_run_id("My Plan.yaml", "phases: []")
    assert first == default_run_id("My Plan.yaml", "phases: []")
    assert first != default_run_id("My Plan.yaml", "phases: [x]")
    assert first.startswith("my-plan-yaml-")
    assert check_slug(first) == first
    assert default_run_id("???", "x").startswith("plan-")
