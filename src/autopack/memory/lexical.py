"""Lexical search: SQLite FTS5 ranked by bm25(), PostgreSQL full text ranked by ts_rank_cd.

A query is turned into an OR of its words (identifiers split at ``_`` and camelCase, stop
words dropped), so a question in prose still finds code that shares only some of its
words; the ranking rewards documents that share more, and rarer, words. The words are
plain ``[a-z0-9]`` tokens, so no query can inject FTS or tsquery syntax.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

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


def search_lexical(
    session: Session,
    query: str,
    *,
    repo_key: str | None,
    collections: Sequence[str] = (),
    limit: int = 10,
) -> list[tuple[int, float]]:
    """(document id, score) for the documents matching any word of ``query``, best first.
    Scores are higher-is-better on both databases. An empty query finds nothing."""
    words = query_words(query)
    if not words or limit <= 0:
        return []
    filters = []
    params: dict[str, object] = {"limit": limit}
    if repo_key is not None:
        filters.append("d.repo_key = :repo_key")
        params["repo_key"] = repo_key
    if collections:
        names = [f":c{i}" for i in range(len(collections))]
        filters.append(f"d.collection IN ({', '.join(names)})")
        params.update({f"c{i}": c for i, c in enumerate(collections)})
    where = "".join(f" AND {f}" for f in filters)
    if session.get_bind().dialect.name == "sqlite":
        # bm25() is lower-is-better; the title column weighs more than the text.
        params["match"] = " OR ".join(f'"{w}"' for w in words)
        sql = (
            "SELECT d.id, -bm25(memory_fts, 4.0, 1.0) AS score FROM memory_fts "
            "JOIN memory_documents d ON d.id = memory_fts.rowid "
            f"WHERE memory_fts MATCH :match{where} ORDER BY score DESC, d.id LIMIT :limit"
        )
    else:
        params["match"] = " or ".join(words)
        # Normalisation 1: divided by 1 + log(length), so a long chunk does not win on
        # size alone (BM25's length normalisation does the same on SQLite).
        sql = (
            "SELECT d.id, ts_rank_cd(d.search_vector, q, 1) AS score FROM memory_documents d, "
            "websearch_to_tsquery('english', :match) q "
            f"WHERE d.search_vector @@ q{where} ORDER BY score DESC, d.id LIMIT :limit"
        )
    rows = session.execute(text(sql), params).all()
    return [(int(r[0]), float(r[1])) for r in rows]
