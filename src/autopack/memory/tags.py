"""Definitions and references of source files, parsed with tree-sitter and cached.

A file's *tags* are its definitions (functions, methods, classes, types: name and the lines
the definition spans) and its references (every identifier that is not a definition's own
name, with its line). :func:`parse_tags` reads one text; :class:`TagCache` keeps the result
per content hash under a directory (``AUTOPACK_HOME/cache/repomap/``), so a file that did
not change is never parsed again, whichever worktree or run it is read from.

Grammars come from ``tree-sitter-language-pack`` 0.x, whose wheels bundle them (1.x
downloads grammars at run time, which fails offline). Definitions are found with one small
query per language; references with a query for the language's identifier node kinds, so
a language is added with one row in :data:`LANGUAGES`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from tree_sitter import Language, Node, Parser, Query, QueryCursor
from tree_sitter_language_pack import SupportedLanguage, get_language, get_parser

#: Bump when the tag format or the queries change: old cache entries are then ignored.
TAGS_VERSION = 1

# Definition queries: every pattern captures the defined name as @name. The definition's
# span is the name's parent node (widened to a wrapper such as a decorator list or an
# `export`/`const` statement by _WRAPPERS).
_PY = """
(function_definition name: (identifier) @name)
(class_definition name: (identifier) @name)
"""
_JS = """
(function_declaration name: (identifier) @name)
(generator_function_declaration name: (identifier) @name)
(class_declaration name: (_) @name)
(method_definition name: (property_identifier) @name)
(variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)])
"""
_TS = (
    _JS
    + """
(abstract_class_declaration name: (type_identifier) @name)
(interface_declaration name: (type_identifier) @name)
(type_alias_declaration name: (type_identifier) @name)
(enum_declaration name: (identifier) @name)
"""
)
_GO = """
(function_declaration name: (identifier) @name)
(method_declaration name: (field_identifier) @name)
(type_spec name: (type_identifier) @name)
"""
_RUST = """
(function_item name: (identifier) @name)
(struct_item name: (type_identifier) @name)
(enum_item name: (type_identifier) @name)
(trait_item name: (type_identifier) @name)
(type_item name: (type_identifier) @name)
(macro_definition name: (identifier) @name)
"""
_JAVA = """
(class_declaration name: (identifier) @name)
(interface_declaration name: (identifier) @name)
(enum_declaration name: (identifier) @name)
(record_declaration name: (identifier) @name)
(method_declaration name: (identifier) @name)
(constructor_declaration name: (identifier) @name)
"""

#: file suffix -> (grammar name, definitions query)
LANGUAGES: dict[str, tuple[str, str]] = {
    ".py": ("python", _PY),
    ".pyi": ("python", _PY),
    ".js": ("javascript", _JS),
    ".jsx": ("javascript", _JS),
    ".mjs": ("javascript", _JS),
    ".cjs": ("javascript", _JS),
    ".ts": ("typescript", _TS),
    ".mts": ("typescript", _TS),
    ".tsx": ("tsx", _TS),
    ".go": ("go", _GO),
    ".rs": ("rust", _RUST),
    ".java": ("java", _JAVA),
}
_IDENTIFIER_KINDS = (
    "identifier",
    "type_identifier",
    "field_identifier",
    "property_identifier",
    "shorthand_property_identifier",
)
# A definition's span grows to these parents, so decorators and `export` come along.
_WRAPPERS = frozenset(
    {
        "decorated_definition",
        "export_statement",
        "lexical_declaration",
        "variable_declaration",
        "type_declaration",
    }
)


@dataclass(frozen=True, slots=True)
class Definition:
    """A name defined in a file: ``start``/``end`` are 0-based lines, inclusive."""

    name: str
    start: int
    end: int
    line: int  # the line holding the name (the signature line shown in a map)


@dataclass(frozen=True, slots=True)
class FileTags:
    """What one file defines and references (``refs``: (name, 0-based line))."""

    defs: tuple[Definition, ...]
    refs: tuple[tuple[str, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "defs": [[d.name, d.start, d.end, d.line] for d in self.defs],
            "refs": [list(r) for r in self.refs],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileTags:
        return cls(
            defs=tuple(Definition(str(n), int(s), int(e), int(ln)) for n, s, e, ln in data["defs"]),
            refs=tuple((str(n), int(ln)) for n, ln in data["refs"]),
        )


def language_of(path: str) -> str | None:
    """The grammar name for ``path`` by its suffix, or None when it is not supported."""
    entry = LANGUAGES.get(Path(path).suffix.lower())
    return entry[0] if entry else None


@cache
def _compiled(grammar: str) -> tuple[Parser, Query, Query]:
    language: Language = get_language(cast(SupportedLanguage, grammar))
    definitions = next(q for g, q in LANGUAGES.values() if g == grammar)
    kinds = [k for k in _IDENTIFIER_KINDS if language.id_for_node_kind(k, True) is not None]
    references = " ".join(f"({k}) @ref" for k in kinds)
    parser = get_parser(cast(SupportedLanguage, grammar))
    return parser, Query(language, definitions), Query(language, f"[{references}]")


def parse_tags(text: str, grammar: str) -> FileTags:
    """The definitions and references of ``text`` in language ``grammar`` (a value of
    :data:`LANGUAGES`). A file with syntax errors still yields what tree-sitter recovers."""
    parser, definitions, references = _compiled(grammar)
    root = parser.parse(text.encode("utf-8")).root_node
    defs: list[Definition] = []
    names: set[int] = set()
    for node in QueryCursor(definitions).captures(root).get("name", []):
        span = _span_of(node)
        names.add(node.start_byte)
        if _is_local(span):
            continue  # a helper inside a function body is nobody else's to use
        defs.append(
            Definition(_text(node), span.start_point.row, span.end_point.row, node.start_point.row)
        )
    refs = [
        (_text(node), node.start_point.row)
        for node in QueryCursor(references).captures(root).get("ref", [])
        if node.start_byte not in names
    ]
    defs.sort(key=lambda d: (d.start, d.line))
    refs.sort(key=lambda r: (r[1], r[0]))
    return FileTags(tuple(defs), tuple(refs))


def _span_of(name: Node) -> Node:
    node = name.parent or name
    while node.parent is not None and node.parent.type in _WRAPPERS:
        node = node.parent
    return node


def _is_local(node: Node) -> bool:
    parent = node.parent
    while parent is not None:
        if any(word in parent.type for word in _BODY_OWNERS):
            return True
        parent = parent.parent
    return False


_BODY_OWNERS = ("function", "method", "constructor", "lambda", "arrow", "closure")


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def content_hash(data: bytes) -> str:
    """The cache key of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


class TagCache:
    """Tags per (content hash, grammar) under ``directory``; ``None`` keeps them in memory
    only. ``parses`` counts the files actually parsed (what a warm cache saves)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.parses = 0
        self._memory: dict[str, FileTags] = {}

    def tags(self, data: bytes, grammar: str) -> FileTags:
        """The tags of ``data``, parsed only when no earlier parse of the same bytes is
        cached. Text that is not UTF-8 has no tags."""
        key = f"{content_hash(data)}-{grammar}-v{TAGS_VERSION}"
        found = self._memory.get(key) or self._load(key)
        if found is None:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                return FileTags((), ())
            self.parses += 1
            found = parse_tags(text, grammar)
            self._store(key, found)
        self._memory[key] = found
        return found

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / key[:2] / f"{key}.json"

    def _load(self, key: str) -> FileTags | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            return FileTags.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent or damaged: parse again and overwrite

    def _store(self, key: str, tags: FileTags) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written whole and renamed, so a concurrent reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(tags.to_json(), handle, separators=(",", ":"))
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written costs time, never correctness
