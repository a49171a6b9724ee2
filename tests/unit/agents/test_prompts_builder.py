"""What the Builder is told."""

from __future__ import annotations

from autopack.agents.builder import (
    BuilderContext,
    ContextRef,
    FileContext,
    render_builder_prompt,
)
from autopack.agents.output import NDJSON_FORMAT_SPEC


def context(**overrides: object) -> BuilderContext:
    values: dict[str, object] = {
        "run_id": "r1",
        "phase_id": "p1",
        "goal": "Ship a slug helper.",
        "phase_name": "Add slugify",
        "phase_description": "Add slugify(text).",
        "deliverables": ["src/app/slug.py::slugify", "tests/test_slug.py"],
        "allowed_paths": ["src/app/", "tests/test_slug.py"],
        "read_only_context": [ContextRef("pyproject.toml", "test settings")],
        "files": [
            FileContext("src/app/__init__.py", "VERSION = 1\n"),
            FileContext("src/app/big.py", "x = 1\n", truncated=True),
            FileContext("pyproject.toml", "[project]\nname='app'\n", read_only=True),
        ],
    }
    values.update(overrides)
    return BuilderContext(**values)  # type: ignore[arg-type]


def test_prompt_carries_goal_deliverables_paths_context_and_format() -> None:
    prompt = render_builder_prompt(context())
    user = prompt.user
    assert "Ship a slug helper." in user and "Add slugify(text)." in user
    assert "the answer must create or change these" in user
    assert "- src/app/slug.py (must define `slugify`)" in user
    assert "- tests/test_slug.py" in user
    assert 'a path ending in "/" allows creating files beneath it' in user
    assert "- src/app/\n" in user
    assert "- pyproject.toml: test settings" in user
    assert "### src/app/__init__.py\n```\nVERSION = 1\n```" in user
    assert "### src/app/big.py (truncated: only part of the file is shown)" in user
    assert user.index("## Read-only files") < user.index("### pyproject.toml")
    assert NDJSON_FORMAT_SPEC.strip() in prompt.system
    assert "None" not in user


def test_hints_and_rules_appear_only_when_present() -> None:
    plain = render_builder_prompt(context()).user
    assert "previous attempt" not in plain and "Rules learned" not in plain
    hinted = render_builder_prompt(
        context(
            learned_rules=["Tests import `app`, never `src.app`."],
            human_notes=["Keep the public API small."],
            previous_failure="tests/test_slug.py::test_unicode failed",
            auditor_notes="Non-ASCII letters are dropped.",
            doctor_hint="Normalize with unicodedata first.",
            attempt=3,
        )
    ).user
    assert "## Rules learned from earlier failures" in hinted
    assert "- Tests import `app`, never `src.app`." in hinted
    assert "(from a person) Keep the public API small." in hinted
    assert "Failure: tests/test_slug.py::test_unicode failed" in hinted
    assert "Auditor's notes: Non-ASCII letters are dropped." in hinted
    assert "Doctor's fix to apply: Normalize with unicodedata first." in hinted
    assert "attempt 3" in hinted


def test_empty_lists_say_so() -> None:
    user = render_builder_prompt(
        context(deliverables=[], allowed_paths=[], files=[], read_only_context=[])
    ).user
    assert "(none listed: change what the phase description requires)" in user
    assert "(none listed: only the deliverables above)" in user
    assert "## Current files" not in user


def test_prompt_size_is_reported() -> None:
    prompt = render_builder_prompt(context())
    assert 400 < prompt.estimated_tokens < 2000
    request = prompt.request("builder", max_tokens=4096, run_id="r1", phase_id="p1")
    assert request.system == prompt.system and request.messages[0].content == prompt.user
