"""Edit operations: what a model asks to change in a file, as plain data.

Every operation names one file by ``path`` (relative to the worktree, ``/``-separated; the
guards normalize and check it) and is told apart by ``kind``. Text fields use ``\\n``
line endings whatever the target file uses; governed apply converts to the file's own
line endings and indentation when it writes.

==================  ============================================================
kind                meaning
==================  ============================================================
``create``          a new file with ``content`` (an existing, different file is refused)
``replace_file``    the whole file becomes ``content`` (created when missing)
``delete``          remove the file (already gone = already applied)
``search_replace``  the one occurrence of ``old`` becomes ``new``
``insert_before``   ``content`` as whole lines before the line where ``anchor`` starts
``insert_after``    ``content`` as whole lines after the line where ``anchor`` ends
``replace_lines``   lines ``start``..``end`` (1-based, inclusive) become ``content``;
                    ``expected`` (their current text) catches stale line numbers
``delete_lines``    remove lines ``start``..``end`` (``expected`` as above)
``append``          ``content`` at the end of the file
``prepend``         ``content`` at the start of the file
``diff_hunks``      unified-diff hunks; the line numbers are hints, the text decides
==================  ============================================================

This module is pure: no I/O, no subprocess.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator


class _Edit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(min_length=1, max_length=4096)


class CreateFile(_Edit):
    """A new file; refused when a file with different content is there already."""

    kind: Literal["create"] = "create"
    content: str


class ReplaceFile(_Edit):
    """The whole file becomes ``content`` (created when missing)."""

    kind: Literal["replace_file"] = "replace_file"
    content: str


class DeleteFile(_Edit):
    """Remove the file; a file already gone counts as applied."""

    kind: Literal["delete"] = "delete"


class SearchReplace(_Edit):
    """Replace the unique occurrence of ``old`` with ``new``.

    ``old`` ending in a newline means whole lines: it only matches at line starts. Without
    a trailing newline it may match inside a line (str_replace semantics). An empty ``old``
    is only accepted for a missing or empty file, which then becomes ``new``.
    """

    kind: Literal["search_replace"] = "search_replace"
    old: str
    new: str


class InsertBefore(_Edit):
    """``content`` as whole lines before the line where the unique ``anchor`` starts."""

    kind: Literal["insert_before"] = "insert_before"
    anchor: str = Field(min_length=1)
    content: str


class InsertAfter(_Edit):
    """``content`` as whole lines after the line where the unique ``anchor`` ends."""

    kind: Literal["insert_after"] = "insert_after"
    anchor: str = Field(min_length=1)
    content: str


class _LineRange(_Edit):
    start: int = Field(ge=1, description="First line, 1-based.")
    end: int = Field(ge=1, description="Last line, 1-based, inclusive.")
    expected: str | None = Field(
        default=None, description="The current text of the lines, to catch stale numbers."
    )

    @model_validator(mode="after")
    def _ordered(self) -> _LineRange:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class ReplaceLines(_LineRange):
    """Lines ``start``..``end`` become ``content``; ``expected`` guards stale numbers."""

    kind: Literal["replace_lines"] = "replace_lines"
    content: str


class DeleteLines(_LineRange):
    """Remove lines ``start``..``end``; ``expected`` guards stale numbers."""

    kind: Literal["delete_lines"] = "delete_lines"


class Append(_Edit):
    """``content`` at the end of the file (created when missing)."""

    kind: Literal["append"] = "append"
    content: str


class Prepend(_Edit):
    """``content`` at the start of the file (created when missing)."""

    kind: Literal["prepend"] = "prepend"
    content: str


class HunkLine(BaseModel):
    """One body line of a hunk: context (``' '``), removed (``'-'``) or added (``'+'``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tag: Literal[" ", "-", "+"]
    text: str


class Hunk(BaseModel):
    """A unified-diff hunk. The header numbers are as the model wrote them: hints only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    old_start: int = Field(default=0, ge=0)
    old_count: int | None = Field(default=None, ge=0)
    new_start: int = Field(default=0, ge=0)
    new_count: int | None = Field(default=None, ge=0)
    lines: tuple[HunkLine, ...]
    old_ends_without_newline: bool = False
    new_ends_without_newline: bool = False

    def old_lines(self) -> list[str]:
        """The text the hunk expects to find: context and removed lines."""
        return [ln.text for ln in self.lines if ln.tag != "+"]

    def new_lines(self) -> list[str]:
        """The text the hunk leaves behind: context and added lines."""
        return [ln.text for ln in self.lines if ln.tag != "-"]

    def old_text(self) -> str:
        """:meth:`old_lines` as text, honouring "no newline at end of file"."""
        return join_lines(self.old_lines(), final_newline=not self.old_ends_without_newline)

    def new_text(self) -> str:
        """:meth:`new_lines` as text, honouring "no newline at end of file"."""
        return join_lines(self.new_lines(), final_newline=not self.new_ends_without_newline)


class DiffHunks(_Edit):
    """One file's hunks of a unified diff, or a whole new or deleted file."""

    kind: Literal["diff_hunks"] = "diff_hunks"
    hunks: tuple[Hunk, ...] = ()
    new_file: bool = False
    deleted_file: bool = False


Edit = Annotated[
    CreateFile
    | ReplaceFile
    | DeleteFile
    | SearchReplace
    | InsertBefore
    | InsertAfter
    | ReplaceLines
    | DeleteLines
    | Append
    | Prepend
    | DiffHunks,
    Field(discriminator="kind"),
]

EDIT_KINDS: tuple[str, ...] = (
    "create",
    "replace_file",
    "delete",
    "search_replace",
    "insert_before",
    "insert_after",
    "replace_lines",
    "delete_lines",
    "append",
    "prepend",
    "diff_hunks",
)

_EDIT_ADAPTER: TypeAdapter[Edit] = TypeAdapter(Edit)


def edit_from_dict(data: object) -> Edit:
    """Validate one edit given as a dict with a ``kind``; raises pydantic's ValidationError."""
    return _EDIT_ADAPTER.validate_python(data)


def join_lines(lines: list[str], *, final_newline: bool = True) -> str:
    """Lines (without endings) back to ``\\n`` text; an empty list is the empty string."""
    if not lines:
        return ""
    return "\n".join(lines) + ("\n" if final_newline else "")
