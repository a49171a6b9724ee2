"""Files read as text and written back byte-compatible: endings, BOM, mode, atomicity."""

from __future__ import annotations

import stat
from pathlib import Path

from autopack.workspace.textfile import TextFile, atomic_write, encode_text, load_text_file


def load(path: Path, data: bytes, max_bytes: int = 10_000) -> TextFile:
    path.write_bytes(data)
    return load_text_file(path.name, path, max_bytes=max_bytes)


def test_crlf_file_is_edited_as_lf_and_written_back_as_crlf(tmp_path: Path) -> None:
    loaded = load(tmp_path / "a.txt", b"one\r\ntwo\r\n")
    assert loaded.text == "one\ntwo\n" and loaded.eol == "\r\n"
    assert encode_text(loaded, "one\nTWO\nthree\n") == b"one\r\nTWO\r\nthree\r\n"


def test_mixed_endings_keep_each_unchanged_lines_ending(tmp_path: Path) -> None:
    loaded = load(tmp_path / "a.txt", b"a\r\nb\nc\r\nd\r\n")
    assert loaded.line_endings == ["\r\n", "\n", "\r\n", "\r\n"]
    out = encode_text(loaded, "a\nb\nNEW\nc\nd\n")
    # The new line takes the majority ending; `b` keeps its lone LF.
    assert out == b"a\r\nb\nNEW\r\nc\r\nd\r\n"


def test_bom_is_kept(tmp_path: Path) -> None:
    loaded = load(tmp_path / "a.txt", "\ufeffhé\n".encode())
    assert loaded.bom and loaded.text == "hé\n"
    assert encode_text(loaded, "hé!\n") == "\ufeffhé!\n".encode()


def test_binary_non_utf8_and_oversized_files_are_not_text(tmp_path: Path) -> None:
    binary = load(tmp_path / "img.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    assert binary.problem is not None and binary.problem.code == "binary_file"
    latin1 = load(tmp_path / "old.txt", "café\n".encode("latin-1"))
    assert latin1.problem is not None and latin1.problem.code == "not_utf8"
    assert latin1.text is None and latin1.raw == "café\n".encode("latin-1")
    big = load(tmp_path / "big.txt", b"x" * 101, max_bytes=100)
    assert big.problem is not None and big.problem.code == "file_too_large"


def test_missing_file_loads_as_absent(tmp_path: Path) -> None:
    loaded = load_text_file("x", tmp_path / "x", max_bytes=10)
    assert not loaded.exists and loaded.text is None and loaded.problem is None


def test_atomic_write_keeps_mode_and_leaves_no_temp_files(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("old\n")
    script.chmod(0o755)
    atomic_write(script, b"new\n", stat.S_IMODE(script.stat().st_mode))
    assert script.read_bytes() == b"new\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    atomic_write(tmp_path / "fresh.txt", b"x", None)
    assert stat.S_IMODE((tmp_path / "fresh.txt").stat().st_mode) & 0o600 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.txt", "run.sh"]
