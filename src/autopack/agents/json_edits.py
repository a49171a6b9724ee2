"""NDJSON edit operations and the ``{"files": [...]}`` object, as models write them.

Operations are normalized before validation: op and field aliases (``type`` for ``op``,
``search``/``replace`` for ``old``/``new``, ``file`` for ``path`` ...), content given as a
list of lines, CRLF in strings. A broken line is reported with its line number; a broken
*last* line is truncation. A truncated files object keeps every complete file object.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic

from autopack.agents.access_requests import request_from_value
from autopack.agents.parse_result import FENCE, Diagnostic, LineNumbers, ParsedOutput
from autopack.agents.unified_diff import parse_unified_diff
from autopack.domain.edits import (
    CreateFile,
    DeleteFile,
    Edit,
    ReplaceFile,
    edit_from_dict,
    join_lines,
)

NDJSON_START = re.compile(r'^\s*\[?\s*\{.*"(?:op|type|action|kind|operation)"\s*:', re.MULTILINE)
FILES_START = re.compile(r'\{\s*"files"\s*:')
_OP_KEYS = ("op", "type", "action", "kind", "operation")
_PATH_KEYS = ("path", "file", "filename", "file_path", "filepath", "target")
_ALIASES: dict[str, tuple[str, ...]] = {
    "content": ("content", "text", "code", "new_content", "body", "lines"),
    "old": ("old", "search", "old_text", "old_string", "find", "original", "expected"),
    "new": ("new", "replace", "new_text", "new_string", "replacement"),
    "anchor": ("anchor", "after", "before", "marker", "target_text"),
    "start": ("start", "start_line", "line_start", "from_line", "line"),
    "end": ("end", "end_line", "line_end", "to_line"),
}
_OP_NAMES = {
    "create": "create",
    "create_file": "create",
    "new_file": "create",
    "add_file": "create",
    "replace_file": "replace_file",
    "write": "replace_file",
    "write_file": "replace_file",
    "overwrite": "replace_file",
    "rewrite": "replace_file",
    "update_file": "replace_file",
    "delete": "delete",
    "delete_file": "delete",
    "remove": "delete",
    "remove_file": "delete",
    "search_replace": "search_replace",
    "replace": "search_replace",
    "edit": "search_replace",
    "str_replace": "search_replace",
    "search_and_replace": "search_replace",
    "insert_before": "insert_before",
    "insert_after": "insert_after",
    "replace_lines": "replace_lines",
    "replace_range": "replace_lines",
    "delete_lines": "delete_lines",
    "delete_range": "delete_lines",
    "append": "append",
    "prepend": "prepend",
    "diff": "diff",
    "patch": "diff",
    "unified_diff": "diff",
    "apply_diff": "diff",
}


def parse_ndjson(text: str, stopped_early: bool | None) -> ParsedOutput:
    """Every JSON object line (or array) of ``text`` as an edit; the rest diagnosed."""
    out = ParsedOutput()
    line_at = LineNumbers(text)
    decoder = json.JSONDecoder()
    pos = 0
    while pos < len(text):
        end_of_line = text.find("\n", pos)
        end_of_line = len(text) if end_of_line == -1 else end_of_line
        line = text[pos:end_of_line]
        stripped = line.strip().rstrip(",")
        if not stripped or FENCE.match(line) or stripped in ("[", "]"):
            pos = end_of_line + 1
            continue
        if not stripped.startswith(("{", "[")):
            out.diagnostics.append(
                Diagnostic(
                    line=line_at(pos),
                    segment=line[:200],
                    reason="not a JSON object (ignored)",
                    severity="ignored",
                )
            )
            pos = end_of_line + 1
            continue
        start = pos + len(line) - len(line.lstrip())
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            rest = text[end_of_line + 1 :]
            last = not any(r.strip().startswith("{") for r in rest.split("\n"))
            if last:
                out.truncated = True
                reason = "the last operation is incomplete JSON (the answer looks truncated)"
            else:
                reason = f"invalid JSON: {exc.msg} at column {exc.colno}"
            out.diagnostics.append(Diagnostic(line=line_at(pos), segment=line[:200], reason=reason))
            if last:
                break
            pos = end_of_line + 1
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            _take_operation(item, line_at(start), line, out, stopped_early)
        pos = end
    return out


def _take_operation(
    item: object, line: int, raw: str, out: ParsedOutput, stopped_early: bool | None
) -> None:
    def lose(reason: str) -> None:
        out.diagnostics.append(Diagnostic(line=line, segment=raw[:200], reason=reason))

    if not isinstance(item, dict):
        lose("an operation must be a JSON object")
        return
    if isinstance(item.get("files"), list):
        _take_files(item["files"], line, raw, out)
        return
    name = next((item[k] for k in _OP_KEYS if isinstance(item.get(k), str)), None)
    path = next((item[k] for k in _PATH_KEYS if isinstance(item.get(k), str)), None)
    if name is None:
        lose('the object has no "op"')
        return
    kind = _OP_NAMES.get(name.strip().lower().replace("-", "_").replace(" ", "_"))
    if kind is None:
        lose(f"unknown op {name!r}; known: {', '.join(sorted(set(_OP_NAMES.values())))}")
        return
    if kind == "diff":
        diff = next(
            (item[k] for k in ("diff", "patch", "content") if isinstance(item.get(k), str)), None
        )
        if diff is None:
            lose('a diff operation needs a "diff" string')
            return
        edits, problems, cut = parse_unified_diff(
            _lf(diff), default_path=path, stopped_early=stopped_early
        )
        out.edits.extend(edits)
        out.truncated = out.truncated or cut
        out.diagnostics.extend(
            Diagnostic(
                line=line,
                segment=p.segment,
                reason=f"in the diff: {p.reason}",
                severity="error" if p.lost else "ignored",
            )
            for p in problems
        )
        return
    if path is None:
        lose(f'the {kind} operation has no "path"')
        return
    fields: dict[str, Any] = {"kind": kind, "path": path}
    for target, keys in _ALIASES.items():
        value = next((item[k] for k in keys if k in item and item[k] is not None), None)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = join_lines(value)  # some models send content as a list of lines
        if value is not None:
            fields[target] = _lf(value) if isinstance(value, str) else value
    # Models mix up the names of the text fields; the operation says which one it needs.
    if kind == "search_replace" and "new" not in fields and "content" in fields:
        fields["new"] = fields.pop("content")
    needs_content = kind in ("create", "replace_file", "append", "prepend")
    if needs_content and "content" not in fields and "new" in fields:
        fields["content"] = fields.pop("new")
    if kind in ("replace_lines", "delete_lines") and "old" in fields:
        fields["expected"] = fields.pop("old")
    allowed = _FIELDS[kind]
    try:
        out.edits.append(edit_from_dict({k: v for k, v in fields.items() if k in allowed}))
    except pydantic.ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(map(str, e['loc'][1:])) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        lose(f"invalid {kind} operation: {detail}")


_FIELDS: dict[str, frozenset[str]] = {
    "create": frozenset({"kind", "path", "content"}),
    "replace_file": frozenset({"kind", "path", "content"}),
    "delete": frozenset({"kind", "path"}),
    "search_replace": frozenset({"kind", "path", "old", "new"}),
    "insert_before": frozenset({"kind", "path", "anchor", "content"}),
    "insert_after": frozenset({"kind", "path", "anchor", "content"}),
    "replace_lines": frozenset({"kind", "path", "start", "end", "content", "expected"}),
    "delete_lines": frozenset({"kind", "path", "start", "end", "expected"}),
    "append": frozenset({"kind", "path", "content"}),
    "prepend": frozenset({"kind", "path", "content"}),
}


def _lf(value: str) -> str:
    return value.replace("\r\n", "\n")


def _take_files(files: list[Any], line: int, raw: str, out: ParsedOutput) -> None:
    for number, entry in enumerate(files):
        edit = _file_entry(entry)
        if isinstance(edit, str):
            out.diagnostics.append(
                Diagnostic(line=line, segment=raw[:200], reason=f"files[{number}]: {edit}")
            )
        else:
            out.edits.append(edit)


def _file_entry(entry: object) -> Edit | str:
    if not isinstance(entry, dict):
        return "not an object"
    path = next((entry[k] for k in _PATH_KEYS if isinstance(entry.get(k), str)), None)
    if not path:
        return "no path"
    mode = next((entry[k] for k in ("mode", *_OP_KEYS) if isinstance(entry.get(k), str)), "")
    mode = mode.strip().lower()
    if mode in ("delete", "remove", "deleted"):
        return DeleteFile(path=path)
    content = next(
        (
            entry[k]
            for k in ("new_content", "content", "text", "code")
            if isinstance(entry.get(k), str)
        ),
        None,
    )
    if content is None:
        return f"{path}: no new_content"
    if mode in ("create", "new", "add", "added", "created"):
        return CreateFile(path=path, content=_lf(content))
    return ReplaceFile(path=path, content=_lf(content))


def _take_requests(value: object, line: int, out: ParsedOutput) -> None:
    """A files object's ``request_access`` list (governance requests)."""
    if value is None:
        return
    for entry in value if isinstance(value, list) else [value]:
        found = request_from_value(entry)
        if isinstance(found, str):
            out.diagnostics.append(Diagnostic(line=line, reason=f"request_access: {found}"))
        else:
            out.requests.append(found)


def parse_files_json(text: str, stopped_early: bool | None) -> ParsedOutput:
    """The ``{"files": [...]}`` object in ``text``, salvaging complete files if cut."""
    out = ParsedOutput()
    line_at = LineNumbers(text)
    found = FILES_START.search(text)
    assert found is not None  # the caller chose this format because it matched
    start = found.start()
    decoder = json.JSONDecoder()
    try:
        value, _ = decoder.raw_decode(text, start)
        _take_requests(value.get("request_access"), line_at(start), out)
        _take_files(
            value["files"] if isinstance(value.get("files"), list) else [],
            line_at(start),
            text[start : start + 200],
            out,
        )
        return out
    except json.JSONDecodeError:
        pass
    # Truncated or broken wrapper: salvage each complete file object in the array.
    pos = text.find("[", found.end())
    if pos == -1:
        out.truncated = True
        out.diagnostics.append(
            Diagnostic(
                line=line_at(start),
                reason="the files array never starts (the answer looks truncated)",
            )
        )
        return out
    pos += 1
    number = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            if pos >= len(text):
                out.truncated = True
            break
        try:
            entry, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            out.truncated = True
            out.diagnostics.append(
                Diagnostic(
                    line=line_at(pos),
                    segment=text[pos : pos + 200],
                    reason=f"files[{number}] is incomplete ({exc.msg}); the answer looks "
                    "truncated, so it and anything after it were dropped",
                )
            )
            break
        edit = _file_entry(entry)
        if isinstance(edit, str):
            out.diagnostics.append(Diagnostic(line=line_at(pos), reason=f"files[{number}]: {edit}"))
        else:
            out.edits.append(edit)
        number += 1
    out.truncated = out.truncated or bool(stopped_early)
    return out
