"""Markdown tags for a phase's integrity fields: [mode:verify], [optional], [allow_test_removal]."""

from __future__ import annotations

import pytest

from autopack.errors import PlanError
from autopack.planning import parse_markdown_plan

PLAN = """\
# Checks

- Check the release notes build [id:notes] [mode:verify]
- Tidy the docs [id:docs] [optional] [mode:tweak_light]
- Drop the legacy API and its tests [id:drop] [Allow-Test-Removal] [mode:build]
- Plain phase [id:plain]
"""


def test_integrity_tags_set_the_phase_fields() -> None:
    phases = {p.phase_id: p for p in parse_markdown_plan(PLAN).phases}

    assert (phases["notes"].mode, phases["notes"].builder_mode) == ("verify", None)
    assert phases["docs"].optional and phases["docs"].builder_mode == "tweak_light"
    assert phases["docs"].mode == "build"
    assert phases["drop"].allow_test_removal and phases["drop"].mode == "build"
    plain = phases["plain"]
    assert (plain.mode, plain.optional, plain.allow_test_removal) == ("build", False, False)
    # Flags are not part of the phase's text.
    assert phases["docs"].description == "Tidy the docs"


def test_a_phase_mode_given_twice_is_an_error() -> None:
    with pytest.raises(PlanError, match="'mode' tag is given twice"):
        parse_markdown_plan("# P\n\n- Check [mode:verify] [mode:build]\n")
