"""`autopack memory rules | search | stats | prune | index`: what Autopack remembers.

Memory holds, per repository (keyed by its root commit, so every clone and worktree of a
project shares it): code chunks, phase summaries, decisions, errors with their fixes,
and the rules learned from resolved failures that later Builder prompts are given.
Search is lexical (SQLite FTS5 / PostgreSQL full text); with the ``autopack[semantic]``
extra and a database that holds vectors it is hybrid. Exit 0 on success, 2 on usage
errors (a directory that does not exist, a bad collection name).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from autopack.cli.main import app
from autopack.cli.output import console, database, err_console, print_json
from autopack.errors import ValidationError
from autopack.memory.store import Collection, repository_key
from autopack.services import memory as memory_service

memory_app = typer.Typer(
    help="Memory across runs: learned rules, retrieval over code, summaries, decisions "
    "and errors with their fixes.",
    no_args_is_help=True,
)
app.add_typer(memory_app, name="memory")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
RepoOpt = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        help="The project's repository (default: the current directory); its memory is "
        "found by the repository's root commit.",
    ),
]


def _repo_key(repo: Path | None) -> str:
    root = (repo or Path.cwd()).expanduser()
    if not root.is_dir():
        raise ValidationError(f"{str(root)!r} is not a directory; pass --repo DIR", field="repo")
    return repository_key(root.resolve())


def _now() -> datetime:
    return datetime.now(UTC)


@memory_app.command("rules")
def rules_command(repo: RepoOpt = None, as_json: JsonOpt = False) -> None:
    """List the rules learned for the repository: text, scope (paths, category), how
    often seen and used, when last seen, and the evidence (run, phase, attempt, error)."""
    key = _repo_key(repo)
    with database().factory() as session:
        rows = memory_service.list_rules(session, repo_key=key)
        data: list[dict[str, Any]] = [
            {
                "id": r.id,
                "text": r.text,
                "paths": r.paths,
                "category": r.category,
                "failure_kind": r.failure_kind,
                "times_seen": r.times_seen,
                "hit_count": r.hit_count,
                "last_seen_at": r.last_seen_at.isoformat(),
                "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None,
                "evidence": r.evidence,
            }
            for r in rows
        ]
    if as_json:
        print_json({"repo_key": key, "rules": data})
        return
    if not data:
        err_console.print(f"no learned rules for this repository ({key[:12]})")
        return
    table = Table("id", "rule", "scope", "seen", "used", "last seen", "evidence")
    for r in data:
        evidence: dict[str, Any] = r["evidence"][-1] if r["evidence"] else {}
        table.add_row(
            str(r["id"]),
            escape(str(r["text"])),
            escape(", ".join(r["paths"]) + (f" [{r['category']}]" if r["category"] else "")),
            str(r["times_seen"]),
            str(r["hit_count"]),
            str(r["last_seen_at"])[:19],
            escape(
                f"{evidence.get('run_id', '')}/{evidence.get('phase_id', '')} "
                f"#{evidence.get('attempt', '')}: {evidence.get('error', '')}"
            ),
        )
    console.print(table)


@memory_app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="What to look for, in words or identifiers.")],
    collection: Annotated[
        list[str] | None,
        typer.Option(
            "--collection",
            "-c",
            help="Only this collection (repeatable): code, summaries, decisions, errors.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=200)] = 10,
    repo: RepoOpt = None,
    all_repos: Annotated[
        bool, typer.Option("--all-repos", help="Search the memory of every repository.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Ranked hits for QUERY with their scores and the method that found them
    (lexical, semantic, or hybrid when both did)."""
    names = [c.value for c in Collection]
    for name in collection or []:
        if name not in names:
            raise ValidationError(
                f"unknown collection {name!r}; use one of: {', '.join(names)}",
                field="collection",
            )
    key = None if all_repos else _repo_key(repo)
    with database().factory() as session:
        result = memory_service.search_memory(
            session, query, repo_key=key, collections=collection or [], limit=limit
        )
    hits: list[dict[str, Any]] = [
        {
            "rank": n,
            "score": round(h.score, 6),
            "method": h.method,
            "collection": h.collection,
            "key": h.key,
            "title": h.title,
            "metadata": h.metadata,
        }
        for n, h in enumerate(result.hits, start=1)
    ]
    if as_json:
        print_json({"query": query, "methods": result.methods, "notes": result.notes, "hits": hits})
        return
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}")
    if not hits:
        err_console.print("no matches")
        return
    table = Table("#", "score", "method", "collection", "where")
    for h in hits:
        table.add_row(
            str(h["rank"]),
            f"{h['score']:.4f}",
            str(h["method"]),
            str(h["collection"]),
            escape(str(h["key"]) + (f"  {h['title']}" if h["collection"] != "code" else "")),
        )
    console.print(table)


@memory_app.command("stats")
def stats_command(as_json: JsonOpt = False) -> None:
    """Documents per collection, learned rules, the embedding cache per model, and
    whether semantic search is on (and why not)."""
    with database().factory() as session:
        stats = memory_service.memory_stats(session)
    data = {
        "documents": stats.documents,
        "rules": stats.rules,
        "embedding_cache": stats.embeddings,
        "semantic_search": "on" if not stats.semantic else "off",
        "semantic_reason": stats.semantic,
    }
    if as_json:
        print_json(data)
        return
    table = Table("what", "count")
    for name, count in stats.documents.items():
        table.add_row(f"documents: {name}", str(count))
    table.add_row("learned rules", str(stats.rules))
    for model, count in stats.embeddings.items() or {"(none)": 0}.items():
        table.add_row(f"embedding cache: {escape(model)}", str(count))
    console.print(table)
    if stats.semantic:
        console.print(f"semantic search: off ({escape(stats.semantic)})")
    else:
        console.print("semantic search: on (hybrid lexical + vectors)")


@memory_app.command("prune")
def prune_command(
    older_than: Annotated[
        float,
        typer.Option(
            "--older-than", min=0, help="Remove rules neither seen nor used for this many days."
        ),
    ] = 90,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be removed.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove stale learned rules and cached embeddings no document uses any more."""
    db = database()
    with db.factory.begin() as session:
        result = memory_service.prune_memory(
            session, older_than_days=older_than, now=_now(), dry_run=dry_run
        )
        removed = [{"id": r.id, "text": r.text, "repo_key": r.repo_key} for r in result.rules]
    verb = "would remove" if dry_run else "removed"
    if as_json:
        print_json({"dry_run": dry_run, "rules": removed, "embeddings": result.embeddings})
        return
    for r in removed:
        console.print(f"{verb} rule {r['id']}: {escape(str(r['text']))}")
    console.print(f"{verb} {len(removed)} rule(s), {result.embeddings} cached embedding(s)")


@memory_app.command("index")
def index_command(repo: RepoOpt = None, as_json: JsonOpt = False) -> None:
    """Index the repository's code for search (runs do this after each phase; only
    files whose content changed since the last index cost anything)."""
    key = _repo_key(repo)
    root = (repo or Path.cwd()).expanduser().resolve()
    db = database()
    stats = memory_service.index_repository(db.factory, root, key)
    data = {"repo_key": key, **stats.__dict__}
    if as_json:
        print_json(data)
        return
    console.print(
        f"indexed {stats.files_indexed} file(s) ({stats.chunks} chunks), "
        f"{stats.files_unchanged} unchanged, {stats.files_removed} removed"
    )
