"""Placement: exact, whitespace-insensitive, fuzzy; ambiguity is a failure, never a guess."""

from __future__ import annotations

from autopack.workspace.matching import MatchFailure, Placement, locate

PY = """\
import os


def load(path):
    # read the file
    with open(path) as handle:
        return handle.read()


def save(path, data):
    # write the file
    with open(path, "w") as handle:
        handle.write(data)
"""


def placed(result: Placement | MatchFailure) -> Placement:
    assert isinstance(result, Placement), result
    return result


def failed(result: Placement | MatchFailure) -> MatchFailure:
    assert isinstance(result, MatchFailure), result
    return result


def test_exact_unique_block_reports_offsets_and_lines() -> None:
    needle = "def save(path, data):\n    # write the file\n"
    place = placed(locate(PY, needle))
    assert place.method == "exact"
    assert PY[place.start : place.end] == needle
    assert (place.first_line, place.last_line) == (10, 11)


def test_whole_line_text_does_not_match_inside_a_line() -> None:
    # "path)\n" occurs only as the end of longer lines, so as whole lines it is absent.
    result = locate(PY, "path)\n", fuzzy=False)
    assert failed(result).reason == "not_found"


def test_text_without_newline_may_match_inside_a_line_when_unique() -> None:
    place = placed(locate(PY, 'open(path, "w")'))
    assert place.method == "exact" and not place.whole_lines
    assert place.first_line == 12


def test_duplicate_exact_match_is_ambiguous_with_candidate_lines() -> None:
    failure = failed(locate(PY, "    with open("))
    assert failure.reason == "ambiguous"
    assert [c.line for c in failure.candidates] == [6, 12]


def test_line_hint_picks_only_a_candidate_starting_exactly_there() -> None:
    needle = "        return handle.read()\n"
    text = PY + "\n\ndef again(path):\n    with open(path) as handle:\n" + needle
    assert failed(locate(text, needle)).reason == "ambiguous"
    assert placed(locate(text, needle, hint_line=7)).first_line == 7
    assert placed(locate(text, needle, hint_line=18)).first_line == 18
    # One line off is not "exactly there": still refused, never the nearest guess.
    assert failed(locate(text, needle, hint_line=8)).reason == "ambiguous"


def test_whitespace_method_ignores_indentation_trailing_spaces_and_blank_lines() -> None:
    text = "def f():\n\tx = 1   \n\n\n\treturn  x\n"
    needle = "def f():\n    x = 1\n    return x\n"
    place = placed(locate(text, needle))
    assert place.method == "whitespace"
    assert (place.first_line, place.last_line) == (1, 5)
    assert place.whole_lines


def test_blank_lines_quoted_around_a_block_join_the_span_when_the_file_has_them() -> None:
    text = "a = 1\n\nb = 2\n"
    place = placed(locate(text, "\n  b = 2\n"))
    assert place.method == "whitespace"
    assert place.first_line == 2


def test_quoted_blank_lines_extend_every_candidate_alike() -> None:
    text = "x\n\nif a:\n    go()\ny\n\nif a:\n    go()\n"
    failure = failed(locate(text, "\nif a:\n  go()\n"))
    assert [c.line for c in failure.candidates] == [2, 6]
    assert placed(locate(text, "\nif a:\n  go()\n", hint_line=6)).first_line == 6


def test_whitespace_ambiguity_is_reported() -> None:
    text = "if x:\n    go()\nif x:\n\tgo()\n"
    failure = failed(locate(text, "if x:\n  go()\n"))
    assert failure.reason == "ambiguous"
    assert [c.line for c in failure.candidates] == [1, 3]


def test_fuzzy_places_a_block_with_one_stale_line() -> None:
    needle = "def save(path, data):\n    # write teh file\n    with open(path, 'w') as handle:\n"
    place = placed(locate(PY, needle))
    assert place.method == "fuzzy"
    assert (place.first_line, place.last_line) == (10, 12)
    assert 0.85 <= place.score < 1


def test_fuzzy_refuses_near_twins() -> None:
    text = (
        "def a():\n    total = compute(1)\n    return total\n\n"
        "def b():\n    total = compute(2)\n    return total\n"
    )
    failure = failed(locate(text, "    total = compute(3)\n    return total\n"))
    assert failure.reason == "ambiguous"
    assert {c.line for c in failure.candidates} >= {2, 6}


def test_single_lines_are_never_placed_fuzzily() -> None:
    failure = failed(locate(PY, "    # write the files\n"))
    assert failure.reason == "not_found"
    assert failure.candidates and failure.candidates[0].line == 11


def test_missing_block_lists_nearest_candidates_with_line_numbers() -> None:
    failure = failed(locate(PY, "def delete(path):\n    os.remove(path)\n"))
    assert failure.reason == "not_found"
    assert 1 <= len(failure.candidates) <= 3
    assert all(c.line >= 1 and c.preview for c in failure.candidates)


def test_fuzzy_false_stops_after_whitespace() -> None:
    needle = "def save(path, data):\n    # write teh file\n    with open(path, 'w') as handle:\n"
    assert failed(locate(PY, needle, fuzzy=False)).reason == "not_found"


def test_partial_false_treats_text_as_whole_lines() -> None:
    assert failed(locate("xx = 1\n", "x = 1", partial=False, fuzzy=False)).reason == "not_found"
    assert placed(locate("x = 1", "x = 1", partial=False)).first_line == 1


def test_empty_needle_is_refused() -> None:
    assert failed(locate(PY, "  \n")).reason == "empty"
