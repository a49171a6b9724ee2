"""Reading files as ``\\n`` text and writing them back in their own style, atomically.

A file is edited as text only if it is UTF-8 (with or without a BOM) and has no NUL byte;
anything else is reported, never decoded with replacement characters (which would
corrupt it on write). Line endings are remembered: a CRLF file is written back as CRLF; a
file that mixes endings keeps each unchanged line's own ending.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from autopack.workspace.guards import GuardViolation, looks_binary

_BOM = "\ufeff"


def _current_umask() -> int:
    # os.umask can only be read by setting it; do it once, at import, before any threads.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_NEW_FILE_MODE = 0o666 & ~_current_umask()


@dataclass
class TextFile:
    """A file as loaded before an apply: enough to edit it and to restore it."""

    rel: str
    abs: Path
    raw: bytes | None = None
    mode: int | None = None
    text: str | None = None
    eol: str = "\n"
    bom: bool = False
    line_endings: list[str] | None = None
    problem: GuardViolation | None = None

    @property
    def exists(self) -> bool:
        """Whether the file was on disk before the apply."""
        return self.raw is not None


def load_text_file(rel: str, path: Path, *, max_bytes: int) -> TextFile:
    """Load ``path``; ``problem`` says why it cannot be edited as text (if it cannot)."""
    if not path.exists():
        return TextFile(rel=rel, abs=path)
    if not path.is_file():
        # Reading a FIFO or device would block or never end.
        return TextFile(
            rel=rel,
            abs=path,
            raw=b"",
            problem=GuardViolation("not_regular_file", f"{rel!r} is not a regular file"),
        )
    raw = path.read_bytes()
    loaded = TextFile(rel=rel, abs=path, raw=raw, mode=stat.S_IMODE(path.stat().st_mode))
    if len(raw) > max_bytes:
        loaded.problem = GuardViolation(
            "file_too_large", f"{rel!r} has {len(raw)} bytes, over the {max_bytes}-byte cap"
        )
        return loaded
    if looks_binary(raw):
        loaded.problem = GuardViolation(
            "binary_file", f"{rel!r} is binary; it is never edited as text"
        )
        return loaded
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        loaded.problem = GuardViolation(
            "not_utf8",
            f"{rel!r} is not UTF-8 (byte {exc.start}); it is not edited as text, "
            "so its encoding cannot be damaged",
        )
        return loaded
    if decoded.startswith(_BOM):
        loaded.bom, decoded = True, decoded[1:]
    crlf = decoded.count("\r\n")
    lf = decoded.count("\n") - crlf
    loaded.eol = "\r\n" if crlf > lf else "\n"
    if crlf and lf:
        loaded.line_endings = [
            "\r\n" if line.endswith("\r") else "\n" for line in decoded.split("\n")[:-1]
        ]
    loaded.text = decoded.replace("\r\n", "\n")
    return loaded


def encode_text(file: TextFile, text: str) -> bytes:
    """``text`` (``\\n`` endings) as bytes in the file's encoding and line-ending style."""
    if file.line_endings is not None and file.text is not None:
        body = _mixed_endings(file.text, text, file.line_endings, file.eol)
    elif file.eol == "\r\n":
        body = text.replace("\n", "\r\n")
    else:
        body = text
    return ((_BOM if file.bom else "") + body).encode("utf-8")


def _mixed_endings(old: str, new: str, endings: list[str], default: str) -> str:
    old_lines = old.split("\n")
    new_lines = new.split("\n")
    chosen = [default] * (len(new_lines) - 1)
    matcher = SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, _ in matcher.get_opcodes():
        if tag == "equal":
            for d in range(i2 - i1):
                if i1 + d < len(endings) and j1 + d < len(chosen):
                    chosen[j1 + d] = endings[i1 + d]
    out = [line + chosen[i] for i, line in enumerate(new_lines[:-1])]
    return "".join(out) + new_lines[-1]


def atomic_write(path: Path, data: bytes, mode: int | None) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    A reader (or a crash) sees the old file or the new one, never a truncated mix. The
    file keeps ``mode`` (a new file gets the default mode under the process umask).
    """
    fd, tmp = tempfile.mkstemp(prefix=".autopack-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).chmod(_NEW_FILE_MODE if mode is None else mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
