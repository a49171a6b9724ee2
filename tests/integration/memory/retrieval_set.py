"""A generated repository with known answers, for measuring retrieval.

Each topic is a module of six functions about one subject (their names and docstrings
use the subject's words); noise modules use a few of those words in passing. A query
describes a topic in other words than any one function uses, and its relevant set is
that topic's six functions.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

TOPICS: dict[str, tuple[list[str], str]] = {
    "billing/invoice.py": (
        ["invoice", "tax", "total", "line_item", "currency", "discount"],
        "compute the invoice total with tax and discounts in the customer's currency",
    ),
    "net/retry.py": (
        ["retry", "backoff", "timeout", "request", "jitter", "attempts"],
        "retry a failed HTTP request with exponential backoff and jitter",
    ),
    "auth/password.py": (
        ["password", "hash", "salt", "verify", "bcrypt", "strength"],
        "hash and verify user passwords with a salt, reject weak ones",
    ),
    "storage/cache.py": (
        ["cache", "evict", "lru", "expire", "capacity", "entry"],
        "evict least recently used cache entries when capacity is reached",
    ),
    "text/slug.py": (
        ["slug", "unicode", "normalize", "ascii", "hyphen", "title"],
        "turn a unicode title into an ascii slug with hyphens",
    ),
    "geo/distance.py": (
        ["distance", "latitude", "longitude", "haversine", "radius", "earth"],
        "great circle distance between latitude longitude points on earth",
    ),
    "sched/cron.py": (
        ["cron", "schedule", "minute", "weekday", "next_run", "expression"],
        "parse a cron expression and find the next run time for a schedule",
    ),
    "img/thumbnail.py": (
        ["thumbnail", "resize", "aspect", "pixels", "image", "crop"],
        "resize an image into a thumbnail keeping its aspect ratio, crop pixels",
    ),
}
_FILLER = [
    "value",
    "result",
    "data",
    "item",
    "config",
    "state",
    "index",
    "buffer",
    "handle",
    "record",
]


@dataclass(frozen=True)
class Query:
    text: str
    relevant: frozenset[str]  # "path#symbol"


def _function(name: str, words: list[str], rng: random.Random) -> str:
    doc_words = rng.sample(words, 3) + rng.sample(_FILLER, 2)
    body = "\n".join(
        f"    {rng.choice(_FILLER)}_{i} = {rng.choice(_FILLER)!r}" for i in range(rng.randint(3, 8))
    )
    doc = " ".join(doc_words)
    return f'def {name}(value):\n    """Helper for {doc}."""\n{body}\n    return value\n'


def build_repository(root: Path, seed: int = 7) -> list[Query]:
    """Write the repository under ``root`` (a git repository with one commit) and
    return its queries with their relevant sets."""
    rng = random.Random(seed)
    queries: list[Query] = []
    for path, (words, question) in TOPICS.items():
        names = [f"{w}_{rng.choice(['for', 'of', 'from'])}_{rng.choice(words)}" for w in words]
        names = [n.replace("-", "_") for n in names]
        source = "\n\n".join(_function(n, words, rng) for n in names)
        file = root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(f'"""The {path} module."""\n\n\n{source}')
        queries.append(Query(question, frozenset(f"{path}#{n}" for n in names)))
    # Noise: modules that mention topic words once each, amid filler.
    all_words = [w for words, _ in TOPICS.values() for w in words]
    for i in range(24):
        names = [f"{rng.choice(_FILLER)}_{rng.choice(all_words)}_{i}_{j}" for j in range(5)]
        source = "\n\n".join(_function(n, rng.sample(all_words, 3), rng) for n in names)
        (root / "misc").mkdir(exist_ok=True)
        (root / "misc" / f"noise_{i}.py").write_text(source)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "init"], check=True)
    return queries


def precision_recall(ranked: list[str], relevant: frozenset[str]) -> tuple[float, float]:
    """(precision@5, recall@10) of a ranked list of "path#symbol"."""
    top5 = ranked[:5]
    p5 = sum(1 for r in top5 if r in relevant) / 5
    r10 = sum(1 for r in ranked[:10] if r in relevant) / len(relevant)
    return p5, r10
