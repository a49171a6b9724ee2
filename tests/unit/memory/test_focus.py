"""focus_file on its own: the head, a named definition too big for the cap, no room at all."""

from __future__ import annotations

from autopack.executor.context import estimate_tokens_by_chars
from autopack.memory.focus import focus_file
from autopack.memory.tags import parse_tags


def module(body_lines: int = 400) -> str:
    head = '"""Module doc\n\nspanning lines.\n"""\n\nimport os\nimport sys\n\n\n'
    fillers = "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(300))
    huge = "def huge():\n" + "".join(f"    x{i} = os.sep * {i}\n" for i in range(body_lines))
    return head + fillers + huge + "    return sys.path\n"


def test_multi_line_docstring_and_imports_form_the_head() -> None:
    text = module(5)
    view = focus_file(
        text,
        cap=300,
        tags=parse_tags(text, "python"),
        symbols=["huge"],
        must_edit=True,
        estimate_tokens=estimate_tokens_by_chars,
    )
    assert view is not None
    assert view.content.startswith('"""Module doc\n\nspanning lines.\n"""\n\nimport os\nimport sys')
    assert view.kept[0].label == "head (imports)" and view.kept[0].start == 1


def test_named_definition_larger_than_the_cap_keeps_its_start() -> None:
    text = module(2_000)
    view = focus_file(
        text,
        cap=200,
        tags=parse_tags(text, "python"),
        symbols=["huge"],
        must_edit=True,
        estimate_tokens=estimate_tokens_by_chars,
    )
    assert view is not None and estimate_tokens_by_chars(view.content) <= 200
    assert "def huge():\n    x0 = os.sep * 0" in view.content
    assert "first" in view.kept[0].label


def test_no_room_for_a_single_line_gives_nothing() -> None:
    text = module(10)
    assert (
        focus_file(
            text,
            cap=2,
            tags=parse_tags(text, "python"),
            symbols=["huge"],
            must_edit=True,
            estimate_tokens=estimate_tokens_by_chars,
        )
        is None
    )
