"""Command help wraps at the reader's width: a docstring's line breaks are not kept."""

from __future__ import annotations

import pytest
from tests.cli_runner import invoke_cli

from autopack.cli.app import reflow


def test_paragraphs_become_one_line_each() -> None:
    text = """Merge a run.

    Fast-forwards when possible, else makes
    a merge commit.

    Exit codes: 0 merged,
    1 refused.
    """
    assert reflow(text) == (
        "Merge a run.\n\nFast-forwards when possible, else makes a merge commit."
        "\n\nExit codes: 0 merged, 1 refused."
    )


def test_lists_indented_blocks_and_verbatim_paragraphs_stay_as_written() -> None:
    listed = "Steps:\n- one\n- two"
    indented = "Example:\n    autopack run plan.yaml\n    autopack status r"
    verbatim = "\b\nkeep\nthese lines"
    text = f"Title.\n\n{listed}\n\n{indented}\n\n{verbatim}\n\fhidden\nfrom help"
    assert reflow(text) == f"Title.\n\n{listed}\n\n{indented}\n\n{verbatim}\n\fhidden\nfrom help"


@pytest.mark.parametrize("registered_before", [False, True])
def test_a_command_help_keeps_sentences_whole_at_a_wide_terminal(
    registered_before: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if registered_before:  # as after another command ran in this process
        from autopack.cli.app import register_all

        register_all()
    monkeypatch.setenv("COLUMNS", "300")
    code, out, _ = invoke_cli(monkeypatch, capsys, "merge", "--help")
    assert code == 0
    # One line in the help, though the docstring breaks it after "uncommitted".
    assert "checked out with uncommitted changes the merge is refused" in out
