"""The apply benchmark's corpus: one intended change per case, as a model would write it.

Each case renders a change (:mod:`apply_sources`) in one answer format with one defect
from :data:`DEFECTS` (see ``apply_robustness.py`` for the table), and records the files
before and the files a correct apply leaves behind.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from difflib import unified_diff

from apply_sources import (
    LANGS,
    VERBS,
    Change,
    Line,
    Source,
    apply_change,
    make_change,
    make_source,
    render,
)

FORMATS = ("ndjson", "files_json", "search_replace", "unified_diff")
DEFECTS = (
    "clean",
    "shifted_numbers",
    "wrong_counts",
    "missing_blank",
    "extra_blank",
    "trailing_ws",
    "tabs_vs_spaces",
    "crlf",
    "fences",
    "truncated",
    "duplicate_anchor",
    "already_applied",
    "stale_context",
)
#: Defects that describe how a model quotes text; a whole-file answer has nothing to quote.
_QUOTING = {
    "shifted_numbers",
    "wrong_counts",
    "missing_blank",
    "extra_blank",
    "trailing_ws",
    "tabs_vs_spaces",
    "duplicate_anchor",
    "stale_context",
}
APPLICABLE = {
    "ndjson": set(DEFECTS) - {"wrong_counts"},
    "files_json": set(DEFECTS) - _QUOTING,
    "search_replace": set(DEFECTS) - {"wrong_counts", "shifted_numbers"},
    "unified_diff": set(DEFECTS),
}


# --- rendering answers -------------------------------------------------------------------


@dataclass
class Case:
    id: str
    fmt: str
    defect: str
    answer: str
    files: dict[str, bytes]  # on disk before
    expected: dict[str, bytes]  # on disk after, if correct
    edits: int


@dataclass
class View:
    """How the model sees a file and its change; ``file_*`` is what is on disk."""

    src: Source
    change: Change
    model_base: list[Line]
    model_truth: list[Line]
    tabs: bool
    crlf: bool


def _unique_block(text_lines: list[str], start: int, end: int, ctx: int) -> tuple[int, int]:
    """Grow context around [start, end) until the quoted block occurs once."""
    joined = "\n".join(text_lines)
    lo, hi = max(0, start - ctx), min(len(text_lines), end + ctx)
    while True:
        block = "\n".join(text_lines[lo:hi])
        if block.strip() and joined.count(block) == 1:
            return lo, hi
        if lo == 0 and hi == len(text_lines):
            return lo, hi
        lo, hi = max(0, lo - 1), min(len(text_lines), hi + 1)


def _model_lines(view: View, lines: list[Line]) -> list[str]:
    return render(lines, lang=view.src.lang, tabs=view.tabs, model=True).split("\n")[:-1]


def _changed_range(base: list[Line], truth: list[Line]) -> tuple[int, int]:
    """[start, end) of the base lines the change replaces (by identity)."""
    start = 0
    while start < min(len(base), len(truth)) and base[start] is truth[start]:
        start += 1
    tail = 0
    while tail < min(len(base), len(truth)) - start and base[-1 - tail] is truth[-1 - tail]:
        tail += 1
    return start, len(base) - tail


def _region(view: View, ctx: int, fixed: bool) -> tuple[str, str, int, int, int, int]:
    """The model's old and new text around the change, their range and the change's."""
    base, truth = view.model_base, view.model_truth
    start, end = _changed_range(base, truth)
    rendered = _model_lines(view, base)
    lo, hi = (
        (max(0, start - ctx), min(len(base), end + ctx))
        if fixed
        else _unique_block(rendered, start, end, ctx)
    )
    new_hi = len(truth) - (len(base) - hi)
    old = "".join(x + "\n" for x in rendered[lo:hi])
    new = "".join(x + "\n" for x in _model_lines(view, truth)[lo:new_hi])
    return old, new, lo, hi, start, end


def ndjson_op(view: View, rng: random.Random, defect: str) -> str:
    ctx = 3 if defect in ("missing_blank", "extra_blank", "stale_context") else rng.randint(1, 2)
    fixed = defect == "duplicate_anchor"
    old, new, lo, hi, start, _ = _region(view, 1 if fixed else ctx, fixed)
    path = view.src.path
    change = view.change
    if defect == "shifted_numbers" or (
        defect == "clean" and change.kind != "insert" and rng.random() < 0.3
    ):
        shift = rng.choice((-1, 1)) * rng.randint(3, 15) if defect == "shifted_numbers" else 0
        op = {
            "op": "replace_lines",
            "path": path,
            "start": max(1, lo + 1 + shift),
            "end": max(1, hi + shift),
            "old": old,
            "content": new,
        }
    elif change.kind == "insert" and start > 0 and rng.random() < 0.5 and not fixed:
        rendered = _model_lines(view, view.model_base)
        anchor_lo = min(lo, start - 1)
        anchor_text = "\n".join(rendered)
        while anchor_lo > 0 and anchor_text.count("\n".join(rendered[anchor_lo:start])) > 1:
            anchor_lo -= 1
        added = _model_lines(view, view.model_truth)[start : start + len(change.new)]
        op = {
            "op": "insert_after",
            "path": path,
            "anchor": "".join(x + "\n" for x in rendered[anchor_lo:start]),
            "content": "".join(x + "\n" for x in added),
        }
    else:
        op = {"op": "search_replace", "path": path, "old": old, "new": new}
    return json.dumps(op)


def search_replace_block(view: View, rng: random.Random, defect: str) -> str:
    ctx = 3 if defect in ("missing_blank", "extra_blank", "stale_context") else rng.randint(1, 2)
    fixed = defect == "duplicate_anchor"
    old, new, *_ = _region(view, 1 if fixed else ctx, fixed)
    lang = view.src.lang
    return f"{view.src.path}\n```{lang}\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n```\n"


def diff_section(view: View, rng: random.Random, defect: str) -> str:
    a = [x + "\n" for x in _model_lines(view, view.model_base)]
    b = [x + "\n" for x in _model_lines(view, view.model_truth)]
    path = view.src.path
    lines = list(unified_diff(a, b, f"a/{path}", f"b/{path}", n=3))
    text = f"diff --git a/{path} b/{path}\n" + "".join(lines)
    if defect == "shifted_numbers":
        shift = rng.choice((-1, 1)) * rng.randint(3, 15)
        text = re.sub(
            r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@",
            lambda m: (
                f"@@ -{max(1, int(m.group(1)) + shift)}{m.group(2) or ''} "
                f"+{max(1, int(m.group(3)) + shift)}{m.group(4) or ''} @@"
            ),
            text,
            flags=re.M,
        )
    if defect == "wrong_counts":

        def recount(m: re.Match[str]) -> str:
            old_n = int(m.group(2) or 1) + rng.choice((-2, -1, 1, 2))
            new_n = int(m.group(4) or 1) + rng.choice((-1, 1))
            return f"@@ -{m.group(1)},{max(0, old_n)} +{m.group(3)},{max(0, new_n)} @@"

        text = re.sub(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", recount, text, flags=re.M)
    return text


def files_entry(view: View) -> dict[str, str]:
    content = render(view.model_truth, lang=view.src.lang, tabs=view.tabs, model=True)
    return {"path": view.src.path, "mode": "modify", "new_content": content}


# --- building cases ----------------------------------------------------------------------


def _perturb(view: View, rng: random.Random, defect: str) -> bool:
    """Apply a quoting defect to the model's view near (not next to) the change."""
    change = view.change
    base = view.model_base
    first = change.start
    last = change.end  # first unchanged line after the change (in base)
    near = [i for i in (first - 3, first - 2, last + 1, last + 2) if 0 <= i < len(base)]
    if defect == "missing_blank":
        spots = [i for i in near if not base[i].text]
        if not spots:
            return False
        victim = base[rng.choice(spots)]
        view.model_base = [x for x in base if x is not victim]
        view.model_truth = [x for x in view.model_truth if x is not victim]
    elif defect == "extra_blank":
        spots = [i for i in near if base[i].text]
        if not spots:
            return False
        after = base[rng.choice(spots)]
        blank = Line(0, "")
        view.model_base = _insert_after(base, after, blank)
        view.model_truth = _insert_after(view.model_truth, after, blank)
    elif defect == "stale_context":
        spots = [i for i in near if base[i].simple and len(base[i].text) > 12]
        if not spots:
            return False
        victim = base[rng.choice(spots)]
        stale = Line(
            victim.level,
            re.sub(r"\d+", lambda m: str(int(m.group()) + 1), victim.text, count=1)
            if re.search(r"\d", victim.text)
            else victim.text.replace("the", "a", 1),
            simple=True,
        )
        if stale.text == victim.text:
            return False
        view.model_base = [stale if x is victim else x for x in base]
        view.model_truth = [stale if x is victim else x for x in view.model_truth]
    return True


def _insert_after(lines: list[Line], after: Line, new: Line) -> list[Line]:
    out: list[Line] = []
    for line in lines:
        out.append(line)
        if line is after:
            out.append(new)
    return out


def _make_view(rng: random.Random, src: Source, defect: str) -> View | None:
    kinds = (
        ("modify", "replace", "delete")
        if defect == "shifted_numbers"
        else ("modify", "insert", "delete", "replace")
    )
    change = make_change(rng, src, kinds)
    if change is None:
        return None
    if defect == "trailing_ws":
        for i in range(max(0, change.start - 3), min(len(src.lines), change.end + 3)):
            if src.lines[i].text and not (change.start <= i < change.end):
                src.lines[i].trail = rng.choice(("  ", " ", "\t"))
    truth = apply_change(src.lines, change)
    view = View(
        src, change, list(src.lines), truth, tabs=defect == "tabs_vs_spaces", crlf=defect == "crlf"
    )
    if defect in ("missing_blank", "extra_blank", "stale_context") and not _perturb(
        view, rng, defect
    ):
        return None
    return view


def _duplicate(rng: random.Random, src: Source, change: Change) -> None:
    """Copy the changed function into a second one, so a short quote occurs twice."""
    lines = src.lines
    header = max(
        i for i in range(change.start) if lines[i].text.startswith(("def ", "function ", "func "))
    )
    level = lines[header].level
    end = header + 1
    while end < len(lines) and not (lines[end].text and lines[end].level <= level):
        end += 1
    braces = src.lang != "python"
    body_end = end  # the closing brace (brace languages) or the next definition (Python)
    while body_end > header + 1 and not lines[body_end - 1].text:
        body_end -= 1
    copy = [Line(x.level, x.text) for x in lines[header + 1 : body_end]]
    verb = rng.choice(VERBS)
    name = f"{verb}_copy" if src.lang == "python" else f"{verb}Copy"
    head = {
        "python": f"def {name}(self):" if level else f"def {name}():",
        "javascript": f"function {name}() {{",
        "go": f"func {name}() error {{",
    }[src.lang]
    tail = [Line(level, "}")] if braces else []
    at = end + 1 if braces else body_end
    src.lines = [*lines[:at], Line(0, ""), Line(level, head), *copy, *tail, *lines[at:]]


def build_case(rng: random.Random, fmt: str, defect: str, lang: str, number: int) -> Case | None:
    encode_eol = "\r\n" if defect == "crlf" else "\n"
    sources = [make_source(rng, lang, number)]
    if defect == "truncated":
        sources.append(make_source(rng, rng.choice(LANGS), number + 1000))
    views: list[View] = []
    for src in sources:
        view = None
        for _ in range(20):
            view = _make_view(rng, src, defect)
            if view is not None:
                break
        if view is None:
            return None
        if defect == "duplicate_anchor":
            _duplicate(rng, src, view.change)
            view = View(
                src,
                view.change,
                list(src.lines),
                apply_change(src.lines, view.change),
                tabs=False,
                crlf=False,
            )
            old = _region(view, 1, True)[0]
            if "".join(x + "\n" for x in _model_lines(view, view.model_base)).count(old) < 2:
                return None  # the short quote reaches a line the copy lacks: not a duplicate
        views.append(view)

    def disk(lines: list[Line], view: View) -> bytes:
        return render(lines, lang=view.src.lang, tabs=view.tabs, eol=encode_eol).encode()

    before = {v.src.path: disk(v.src.lines, v) for v in views}
    after = {v.src.path: disk(apply_change(v.src.lines, v.change), v) for v in views}
    if defect == "already_applied":
        before = dict(after)
    # A cut answer's intended result is still the whole change: applying the part that
    # arrived is scored on its own (partial), never as correct.
    parts: list[str] = []
    for view in views:
        if fmt == "ndjson":
            parts.append(ndjson_op(view, rng, defect) + "\n")
        elif fmt == "search_replace":
            parts.append(search_replace_block(view, rng, defect))
        elif fmt == "unified_diff":
            parts.append(diff_section(view, rng, defect))
    if fmt == "files_json":
        entries = [json.dumps(files_entry(v)) for v in views]
        body = '{"files": [\n  ' + ",\n  ".join(entries) + "\n]}\n"
        first_len = len('{"files": [\n  ') + len(entries[0])
        parts = [body[:first_len], body[first_len:]]
    if defect == "truncated":
        cut = rng.uniform(0.3, 0.9)
        parts[-1] = parts[-1][: max(1, int(len(parts[-1]) * cut))]
    answer = "".join(parts)
    if defect == "fences" and fmt == "search_replace":
        # SEARCH/REPLACE blocks are fenced already; models wrap them in prose.
        answer = f"I'll make these changes:\n\n{answer}\nThat should do it.\n"
    elif defect == "fences":
        lang_tag = {
            "ndjson": "jsonl",
            "files_json": "json",
            "search_replace": "",
            "unified_diff": "diff",
        }[fmt]
        answer = (
            f"Here is the change you asked for.\n\n```{lang_tag}\n{answer}```\n\n"
            "Let me know if you want the tests updated too.\n"
        )
    return Case(
        f"{fmt}/{defect}/{lang}/{number}",
        fmt,
        defect,
        answer,
        before,
        after,
        edits=len(views),
    )


def build_corpus(seed: int, per_cell: int) -> list[Case]:
    """``per_cell`` cases for every applicable format x defect, the same for the same seed.

    A draw that cannot carry its defect (no blank line near the change, a quote that is
    not really duplicated) is drawn again, so every case has the defect it is filed under.
    """
    rng = random.Random(seed)
    cases: list[Case] = []
    number = 0
    for fmt in FORMATS:
        for defect in DEFECTS:
            if defect not in APPLICABLE[fmt]:
                continue
            for k in range(per_cell):
                number += 1
                case = None
                for _ in range(500):
                    case = build_case(rng, fmt, defect, LANGS[k % len(LANGS)], number)
                    if case is not None:
                        break
                if case is None:
                    raise RuntimeError(f"could not build a {fmt}/{defect} case")
                cases.append(case)
    return cases
