"""Code chunks at top-level definitions, windows for long ones; query words."""

from __future__ import annotations

from pathlib import Path

from autopack.memory.chunks import MAX_CHUNK_LINES, WINDOW_LINES, candidate_files, chunk_file
from autopack.memory.lexical import query_words


def test_python_is_cut_at_top_level_definitions_with_their_decorators() -> None:
    source = (
        "import os\n\n\n@cache\ndef load(p):\n    return p\n\n\n"
        "class Store:\n    def get(self):\n        pass\n"
    )
    chunks = chunk_file("a.py", source)
    assert [(c.symbol, c.start, c.end) for c in chunks] == [
        ("", 1, 1),
        ("load", 4, 6),
        ("Store", 9, 11),
    ]
    assert chunks[1].text.startswith("@cache\ndef load")
    assert chunks[2].key == "a.py#L9" and chunks[2].title == "a.py Store"


def test_other_languages_and_long_definitions() -> None:
    go = "package x\n\nfunc Parse(s string) int {\n\treturn 0\n}\n"
    assert [c.symbol for c in chunk_file("x.go", go)] == ["", "Parse"]
    ts = "export async function fetchUser(id) {\n  return id\n}\n"
    assert [c.symbol for c in chunk_file("u.ts", ts)] == ["fetchUser"]
    rust = "pub fn area(r: f64) -> f64 {\n    r * r\n}\n"
    assert [c.symbol for c in chunk_file("a.rs", rust)] == ["area"]
    long = "def big():\n" + "".join(f"    x{i} = {i}\n" for i in range(MAX_CHUNK_LINES + 10))
    pieces = chunk_file("big.py", long)
    assert len(pieces) == 3 and all(c.symbol == "big" for c in pieces)
    assert pieces[1].start == WINDOW_LINES + 1 and pieces[-1].end == MAX_CHUNK_LINES + 11


def test_secret_and_protected_files_are_never_indexed(tmp_path: Path) -> None:
    for rel in ("app.py", ".env", "keys/server.pem", "data.db", "notes.md", "logo.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    assert candidate_files(tmp_path) == ["app.py", "notes.md"]


def test_query_words_split_identifiers_and_drop_noise() -> None:
    assert query_words("Fix parse_config in HttpClient.py, the URL is wrong") == [
        "fix",
        "parse",
        "config",
        "httpclient",
        "http",
        "client",
        "url",
        "wrong",
    ]
    assert query_words('"; DROP TABLE x; -- OR NEAR(') == ["drop", "table", "near"]
    assert query_words("the a of") == []
