"""Markdown plans: headings are tiers, list items phases, tags fields, nested bullets criteria."""

from __future__ import annotations

import pytest

from autopack.domain.states import Complexity
from autopack.errors import PlanError
from autopack.planning import parse_markdown_plan

FULL_PLAN = """\
# Text statistics [id:stats-run] [verify:python -m pytest -q] [protected:secrets/]

Give textstats word frequencies
and a reading-time estimate.

A second paragraph is prose for readers, not the goal.

## Core [id:T1]
Library features.

- Add word_frequencies() [complexity:low] [category:tests] [paths:textstats/, tests/]
  [deliverables:textstats/freq.py::word_frequencies,tests/test_freq.py]
  - counts are case-insensitive
  - punctuation is not part
    of a word
  - [tests:python -m pytest -q tests/test_freq.py] [read_only:docs/,README.md]
1. [ ] Add reading_time() [id:reading-time] [mode:tweak_light] [protected:*.lock]

### Grouping heading, ignored

## Quality

* Add a command line. It prints one statistic per line and reads standard
  input when no file is given.
* Add a command line. It prints one statistic per line and reads standard
input when no file is given.

```
- not a phase
## not a tier
```
"""


def test_full_plan_sets_every_field_from_its_tag() -> None:
    spec = parse_markdown_plan(FULL_PLAN, source="plan.md")

    assert spec.run_id == "stats-run"
    assert spec.name == "Text statistics"
    assert spec.goal == "Give textstats word frequencies and a reading-time estimate."
    assert spec.verify == "python -m pytest -q"
    assert spec.protected_paths == ["secrets/"]

    assert [(t.tier_id, t.name, t.description) for t in spec.tiers] == [
        ("T1", "Core", "Library features."),
        ("quality", "Quality", ""),
    ]
    freq, reading, cli, cli_again = spec.phases
    assert freq.phase_id == "add-word-frequencies"
    assert freq.tier_id == "T1"
    assert freq.name == freq.description == "Add word_frequencies()"
    assert freq.complexity is Complexity.LOW
    assert freq.task_category == "tests"
    assert freq.scope.paths == ["textstats/", "tests/"]
    assert freq.scope.deliverables == ["textstats/freq.py::word_frequencies", "tests/test_freq.py"]
    assert freq.scope.acceptance_criteria == [
        "counts are case-insensitive",
        "punctuation is not part of a word",
    ]
    assert freq.scope.tests == ["python -m pytest -q tests/test_freq.py"]
    assert [c.path for c in freq.scope.read_only_context] == ["docs/", "README.md"]

    assert reading.phase_id == "reading-time"
    assert reading.name == "Add reading_time()"
    assert reading.builder_mode == "tweak_light"
    assert reading.scope.protected_paths == ["*.lock"]
    assert reading.complexity is Complexity.MEDIUM
    assert reading.task_category == "feature"

    assert cli.tier_id == cli_again.tier_id == "quality"
    assert cli.phase_id == "add-a-command-line-it-prints-one-statistic-per"
    assert cli_again.phase_id == cli.phase_id + "-2"
    assert cli.name == "Add a command line."
    assert (
        cli.description
        == cli_again.description
        == (
            "Add a command line. It prints one statistic per line and reads standard input when "
            "no file is given."
        )
    )
    assert [p.phase_index for p in spec.phases] == [0, 1, 2, 3]


def test_plan_without_tier_headings_is_one_tier_and_gets_a_stable_derived_id() -> None:
    text = "# Quick fixes\n\n- Fix the typo in README\n- Bump the version\n"
    spec = parse_markdown_plan(text)
    again = parse_markdown_plan(text)

    assert [t.tier_id for t in spec.tiers] == ["T1"]
    assert [p.phase_id for p in spec.phases] == ["fix-the-typo-in-readme", "bump-the-version"]
    assert spec.run_id.startswith("quick-fixes-")
    assert spec.run_id == again.run_id
    assert parse_markdown_plan(text + "- One more\n").run_id != spec.run_id


def test_run_id_argument_wins_over_the_title_tag() -> None:
    spec = parse_markdown_plan("# T [id:from-tag]\n- Do it\n", run_id="from-cli")
    assert spec.run_id == "from-cli"


def test_explicit_ids_are_reserved_before_slugs_are_made() -> None:
    spec = parse_markdown_plan("## A\n- Do it\n- Other thing [id:do-it]\n")
    assert [p.phase_id for p in spec.phases] == ["do-it-2", "do-it"]


def test_non_ascii_text_falls_back_to_numbered_ids() -> None:
    spec = parse_markdown_plan("## 核心\n- 添加功能\n")
    assert spec.tiers[0].tier_id == "T1"
    assert spec.tiers[0].name == "核心"
    assert spec.phases[0].phase_id == "phase-1"


def test_paragraph_after_a_blank_line_ends_the_phase() -> None:
    spec = parse_markdown_plan("## Core\n- Add X\n\nNotes about the tier.\n")
    assert spec.phases[0].description == "Add X"
    assert spec.tiers[0].description == "Notes about the tier."


def _error(text: str) -> PlanError:
    with pytest.raises(PlanError) as info:
        parse_markdown_plan(text, source="plan.md")
    return info.value


def test_unknown_tag_names_the_line_and_suggests_the_right_tag() -> None:
    err = _error("# Plan\n\n## Core\n- Do thing [complexty:low]\n")
    assert err.message.startswith("plan.md:4: unknown tag 'complexty'")
    assert "did you mean 'complexity'?" in err.message
    assert err.context["line"] == 4


def test_invalid_tag_value_names_line_and_field() -> None:
    err = _error("## Core\n- Fine\n- Bad [complexity:hard]\n")
    assert "plan.md:3: phases[1].complexity" in err.message
    assert "'low', 'medium' or 'high'" in err.message
    assert err.field == "phases[1].complexity"


def test_duplicate_explicit_phase_ids_name_both_lines() -> None:
    err = _error("## Core\n- One [id:x]\n- Two [id:x]\n")
    assert err.message.startswith("plan.md:3: phase id 'x' is already used on line 2")


def test_list_before_the_first_tier_heading_is_an_error() -> None:
    err = _error("# Plan\n- stray item\n## Core\n- Real phase\n")
    assert err.message.startswith("plan.md:2:")
    assert "before the first '##'" in err.message


def test_phase_with_only_tags_is_an_error() -> None:
    err = _error("## Core\n- [paths:src/]\n")
    assert err.message.startswith("plan.md:2: this phase has tags but no text")


def test_second_title_is_an_error() -> None:
    err = _error("# One\n# Two\n")
    assert err.message.startswith("plan.md:2: a plan has one '#' title")


def test_links_checkboxes_and_comments_are_not_tags() -> None:
    text = "## Core\n<!-- reviewer: keep this -->\n- [x] Follow [the guide](docs/guide.md)\n"
    phase = parse_markdown_plan(text).phases[0]
    assert phase.description == "Follow [the guide](docs/guide.md)"
