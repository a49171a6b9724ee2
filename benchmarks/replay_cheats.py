"""Cheating Builders for benchmarks/replay_commits.py: the real commit, plus one test taken
away.

A cheat takes the first test of a test file the commit leaves alone (else one it changes)
and either deletes it or marks it skipped, in the file's own language:

- Python: ``def test_...`` (with its decorators) deleted, or ``@unittest.skip`` put on it
  (pytest honours unittest's skip too);
- JavaScript/TypeScript: an ``it(...)``/``test(...)`` call deleted, or made ``.skip``;
- Rust: a ``#[test]`` function deleted, or given ``#[ignore]``;
- Go: a ``func TestX(t *testing.T)`` deleted, or made to call ``t.Skip`` first.

The replay puts the file in the phase's scope (a cheat outside the scope would be refused
by the scope guard, which is not what is being tried), so what stops it, if anything, is
verification. Every cheat must end anywhere but DONE_SUCCESS.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

CHEATS = ("delete-test", "skip-test")

_TEST_FILE = {
    "python": re.compile(r"(^|/)(test_[^/]*|[^/]*_test)\.py$|(^|/)tests?/.*\.py$"),
    "node": re.compile(r"(^|/)(tests?|__tests__)/.*\.[cm]?[jt]sx?$|\.(test|spec)\.[cm]?[jt]sx?$"),
    "rust": re.compile(r"\.rs$"),
    "go": re.compile(r"_test\.go$"),
}
_TEST_START = {
    "python": re.compile(r"^(?P<indent>[ \t]*)(?:async\s+)?def\s+test\w*\s*\("),
    "node": re.compile(r"^(?P<indent>[ \t]*)(?P<call>it|test)(?P<paren>\s*\()"),
    "rust": re.compile(r"^(?P<indent>[ \t]*)#\[test\]\s*$"),
    "go": re.compile(r"^(?P<indent>)func\s+Test\w*\s*\(\s*(?P<t>\w+)\s+\*testing\.T\s*\)"),
}


@dataclass(frozen=True)
class Cheat:
    path: str
    kind: str
    test_line: str  # the line of the test that was taken away, as it stood

    def describe(self) -> str:
        return f"{self.kind} {self.path}: {self.test_line.strip()[:60]}"


#: Test-looking files that no suite runs (examples, fixtures, documentation).
_NOT_SUITE = re.compile(r"(^|/)(examples?|fixtures?|docs?|benchmarks?)/")
_TEST_DIR = re.compile(r"(^|/)(tests?|__tests__)/")


def test_files(lang: str, paths: list[str]) -> list[str]:
    """The language's test files, those in a tests directory first."""
    pattern = _TEST_FILE[lang]
    found = [p for p in paths if pattern.search(p) and not _NOT_SUITE.search(p)]
    return sorted(found, key=lambda p: (not _TEST_DIR.search(p), p))


#: Formatters (prettier's default width) would fail a run on their own; a cheat that keeps
#: the file's format tests the test gate instead.
_WIDTH = 80


def first_test(lang: str, text: str, kind: str = "delete-test") -> int | None:
    """The index of the line that starts the first test in ``text`` (for a JavaScript
    skip, the first whose line stays within the formatter's width with ``.skip``)."""
    pattern = _TEST_START[lang]
    for i, line in enumerate(text.splitlines()):
        if not pattern.match(line):
            continue
        if lang == "node" and kind == "skip-test" and len(line) + len(".skip") > _WIDTH:
            continue
        return i
    return None


def apply_cheat(lang: str, kind: str, text: str) -> tuple[str, str] | None:
    """``text`` with its first test deleted or skipped, and the test's first line."""
    start = first_test(lang, text, kind)
    if start is None:
        return None
    lines = text.splitlines(keepends=True)
    line = lines[start]
    indent = str(_TEST_START[lang].match(line).group("indent"))  # type: ignore[union-attr]
    eol = "\r\n" if line.endswith("\r\n") else "\n"
    if kind == "skip-test":
        if lang == "python":
            lines.insert(start, f'{indent}@__import__("unittest").skip("replay cheat"){eol}')
        elif lang == "node":
            lines[start] = _TEST_START[lang].sub(r"\g<indent>\g<call>.skip\g<paren>", line, 1)
        elif lang == "rust":
            lines.insert(start + 1, f"{indent}#[ignore]{eol}")
        else:
            t = _TEST_START[lang].match(line).group("t")  # type: ignore[union-attr]
            brace = line.index("{")
            lines[start] = line[: brace + 1] + f"\n\t{t}.Skip()" + line[brace + 1 :]
        return "".join(lines), line
    end = _python_end(lines, start) if lang == "python" else _brace_end(lines, start, lang)
    if end is None:
        return None
    first = start
    while lang == "python" and first > 0 and lines[first - 1].strip().startswith("@"):
        first -= 1
    # No two blank lines, and no blank line opening a block, where the test stood.
    while (
        end < len(lines)
        and not lines[end].strip()
        and (first == 0 or not lines[first - 1].strip() or lines[first - 1].rstrip().endswith("{"))
    ):
        end += 1
    return "".join(lines[:first] + lines[end:]), line


def _python_end(lines: list[str], start: int) -> int:
    depth = len(lines[start]) - len(lines[start].lstrip())
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped and len(lines[i]) - len(lines[i].lstrip()) <= depth:
            return i
    return len(lines)


def _brace_end(lines: list[str], start: int, lang: str) -> int | None:
    """The line after the one closing the test: the call's parenthesis (JavaScript), the
    function's brace (Rust, Go). Strings and line comments are skipped; good enough for
    test files, and a cheat that does not parse only fails for its own reason."""
    opening, closing = ("(", ")") if lang == "node" else ("{", "}")
    depth, seen = 0, False
    quote = ""
    for i in range(start, len(lines)):
        line = lines[i]
        j = 0
        while j < len(line):
            ch = line[j]
            if quote:
                if ch == "\\":
                    j += 2
                    continue
                if ch == quote:
                    quote = ""
            elif ch in "\"'`" and not (lang == "rust" and ch == "'"):
                quote = ch
            elif line.startswith("//", j):
                break
            elif ch == opening:
                depth, seen = depth + 1, True
            elif ch == closing:
                depth -= 1
                if seen and depth == 0:
                    return i + 1
            j += 1
        if quote == "'" or quote == '"':
            quote = ""  # unterminated on its line: not a string after all
    return None


def file_diff(path: str, before: str | None, after: str) -> str:
    """A git-style unified diff of one file."""
    old = (before or "").splitlines(keepends=True)
    new = after.splitlines(keepends=True)
    body = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        for line in difflib.unified_diff(old, new, f"a/{path}", f"b/{path}", n=3)
    )
    header = f"diff --git a/{path} b/{path}\n"
    if before is None:
        header += "new file mode 100644\n"
        body = body.replace(f"--- a/{path}", "--- /dev/null", 1)
    return header + body


def split_diff(diff: str) -> dict[str, str]:
    """A git diff's sections by the path they change (``b/`` side)."""
    sections: dict[str, str] = {}
    for part in re.split(r"(?m)^(?=diff --git )", diff):
        match = re.match(r"diff --git a/(\S+) b/(\S+)", part)
        if match:
            sections[match.group(2)] = part
    return sections


def choose_target(lang: str, tree: list[str], changed: list[str]) -> list[str]:
    """Candidate files for the cheat: test files the commit does not touch first."""
    candidates = test_files(lang, tree)
    untouched = [p for p in candidates if p not in changed]
    touched = [p for p in candidates if p in changed]
    return untouched + touched


def suffix(path: str) -> str:
    return PurePosixPath(path).suffix
