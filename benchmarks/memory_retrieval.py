"""Memory retrieval on a real repository: index time (first, unchanged, one file
changed) and query latency (lexical; hybrid when the semantic extra and a vector store
are available).

The repository is copied with ``git archive`` into a temporary directory (a bare mirror
works), committed there, and indexed into a fresh database: the embedded SQLite by
default, or ``--database-url`` (PostgreSQL: give a database you can throw away).

Run: ``.venv/bin/python benchmarks/memory_retrieval.py /path/to/repo [--database-url URL]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from autopack.db.database import open_database
from autopack.db.session import unit_of_work
from autopack.memory.embeddings import load_embedder
from autopack.memory.retrieval import search, semantic_unavailable
from autopack.memory.store import repository_key
from autopack.services import memory as memory_service
from autopack.services.memory_store import SqlDocumentStore
from autopack.settings import Settings

QUERIES = [
    "parse command line options and arguments",
    "prompt the user for confirmation",
    "print colored output to the terminal",
    "shell completion for bash and zsh",
    "file path type that checks existence",
    "context object passed to subcommands",
    "environment variables as default values",
    "progress bar with estimated time",
    "testing CLI runner invoke isolation",
    "BadParameter error message formatting",
]


def _copy(repo: Path, into: Path) -> Path:
    into.mkdir()
    bare = (repo / "HEAD").is_file() and not (repo / ".git").exists()
    where = [f"--git-dir={repo}"] if bare else ["-C", str(repo)]
    archive = subprocess.run(
        ["git", *where, "archive", "HEAD"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "snapshot"]):
        subprocess.run(
            ["git", "-C", str(into), "-c", "user.name=b", "-c", "user.email=b@b", *args],
            check=True,
        )
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rounds", type=int, default=5, help="query rounds over the set")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = _copy(args.repo.resolve(), Path(tmp) / "repo")
        settings = Settings(home=Path(tmp) / "home", database_url=args.database_url)
        db = open_database(settings)
        key = repository_key(work)
        embedder = load_embedder()
        with unit_of_work(db.factory) as session:
            reason = semantic_unavailable(SqlDocumentStore(session), embedder)
        print(f"repository: {args.repo}  database: {db.engine.dialect.name}")
        print(f"semantic search: {'on' if not reason else 'off (' + reason + ')'}")

        def index() -> tuple[float, memory_service.IndexStats]:
            start = time.perf_counter()
            stats = memory_service.index_repository(db.factory, work, key, embedder=embedder)
            return time.perf_counter() - start, stats

        first, stats = index()
        print(
            f"index, first:     {first:7.3f} s  ({stats.files_indexed} files, "
            f"{stats.chunks} chunks)"
        )
        again, stats = index()
        print(f"index, unchanged: {again:7.3f} s  ({stats.files_unchanged} files skipped)")
        target = next(p for p in sorted(work.rglob("*.py")) if p.stat().st_size > 2000)
        target.write_text(target.read_text() + "\n\ndef benchmark_marker():\n    return 1\n")
        changed, stats = index()
        print(f"index, one file:  {changed:7.3f} s  ({stats.files_indexed} re-indexed)")

        latencies: list[float] = []
        with unit_of_work(db.factory) as session:
            for _ in range(args.rounds):
                for query in QUERIES:
                    start = time.perf_counter()
                    search(
                        SqlDocumentStore(session), query, repo_key=key, limit=10, embedder=embedder
                    )
                    latencies.append((time.perf_counter() - start) * 1000)
        latencies.sort()
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        print(
            f"query latency:    p50 {statistics.median(latencies):6.2f} ms  "
            f"p95 {p95:6.2f} ms  max {latencies[-1]:6.2f} ms  ({len(latencies)} queries)"
        )
        db.dispose()


if __name__ == "__main__":
    main()
