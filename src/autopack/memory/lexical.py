"""Lexical search words: a query turned into the words an OR-query matches.

A query is turned into an OR of its words (identifiers split at ``_`` and camelCase, stop
words dropped), so a question in prose still finds code that shares only some of its
words; the ranking (BM25 on SQLite, ``ts_rank_cd`` on PostgreSQL, run by the service
layer's ``SqlDocumentStore``) rewards documents that share more, and rarer, words. The
words are plain ``[a-z0-9]`` tokens, so no query can inject FTS or tsquery syntax.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z0-9]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
#: Words that carry no meaning for retrieval (English glue, boilerplate, file extensions).
_STOP_TEXT = (
    "a an and are as at be but by for from has have if in into is it its of on or so that "
    "the their then there these this to was were will with without when where which who "
    "why how what do does done should would can could may must not no yes you your we "
    "our i me add make use using new get set self none true false def class return import "
    # File extensions: every path has one, so they match everything.
    "py js ts tsx jsx go rs java md txt json yaml yml toml"
)
STOP_WORDS = frozenset(_STOP_TEXT.split())
MAX_QUERY_WORDS = 32


def query_words(query: str) -> list[str]:
    """The distinct search words of ``query``, lower case, in order: identifiers whole
    and split (``parse_config`` -> parse, config; ``HttpClient`` -> httpclient, http,
    client), stop words and single characters dropped."""
    words: list[str] = []
    for raw in _WORD.findall(query.replace("_", " ")):
        parts = [raw, *_CAMEL.findall(raw)] if not raw.islower() else [raw]
        for part in parts:
            word = part.lower()
            if len(word) > 1 and word not in STOP_WORDS and word not in words:
                words.append(word)
    return words[:MAX_QUERY_WORDS]
