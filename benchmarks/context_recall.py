"""Context recall on real history: does the Builder prompt hold the code a commit changed?

For each of the last N non-merge commits of a local clone that touch source code, the
commit's parent is checked out in a temporary clone (``git clone --shared``: the clone
passed in is only read), a one-phase plan is written from the commit message (subject:
the phase name and run goal, body: the description) with the commit's files as scope,
and the Builder prompt is rendered as the executor renders it (context selection, then
the Builder template; no LLM). Measured per strategy:

- recall: the share of the parent's lines the commit touches (its removed lines and the
  diff's context lines around each change, blank lines excepted) that appear verbatim as
  a line of the prompt;
- tokens: the prompt's estimated tokens (system and user message).

Strategies: ``whole`` (the scope files whole, in order, cut at the budget), ``old`` (the
context selection of Autopack at ``--old-rev``, loaded from this repository's history),
``new`` (the selection in this tree: focused cuts and the repository map, no retrieval),
``retrieval`` (``new`` with the hints retrieval gives the executor: the parent indexed into
a scratch SQLite database, queried with the phase's texts, hits inside the commit's files).
The tag cache
is measured too: files parsed and seconds for the first commit (cold) and the others
(only files that changed between parents are parsed again).

Run: ``.venv/bin/python benchmarks/context_recall.py --repo PATH --commits N
[--budget TOKENS] [--old-rev REV] [--verbose]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from autopack.agents.builder import BuilderContext, ContextRef, FileContext, render_builder_prompt
from autopack.db.database import open_database
from autopack.domain.plan import Scope
from autopack.executor.context import estimate_tokens_by_chars, select_context
from autopack.executor.memory import RETRIEVAL_LIMIT, in_files
from autopack.executor.phase import CONTEXT_TOKEN_BUDGET, REPO_MAP_TOKENS
from autopack.memory.embeddings import EmbedderStatus, load_embedder
from autopack.memory.focus import ContextHint
from autopack.memory.tags import TagCache, language_of
from autopack.planning.normalize import load_plan
from autopack.services import memory as memory_service
from autopack.settings import Settings
from autopack.workspace.guards import project_protected_paths

AUTOPACK_ROOT = Path(__file__).resolve().parents[1]
#: The last commit of `main` before focused context and the repository map.
OLD_REV = "907131c"


@dataclass
class Sample:
    commit: str
    subject: str
    touched: int
    recall: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def pick_commits(repo: Path, wanted: int) -> list[str]:
    """The last ``wanted`` non-merge commits with a parent that change a source file."""
    found: list[str] = []
    for sha in git(repo, "log", "--no-merges", "--format=%H", "-n", str(wanted * 20)).split():
        parents = git(repo, "rev-list", "--parents", "-n", "1", sha).split()[1:]
        if len(parents) != 1:
            continue
        files = git(repo, "diff", "--name-only", parents[0], sha).split("\n")
        if any(language_of(f) for f in files if f):
            found.append(sha)
        if len(found) == wanted:
            break
    return found


def touched_lines(repo: Path, parent: str, sha: str) -> tuple[list[str], set[str]]:
    """The commit's files, and the parent's lines it touches (removed and context lines)."""
    files = [f for f in git(repo, "diff", "--name-only", parent, sha).split("\n") if f]
    lines: set[str] = set()
    diff = git(repo, "diff", "-U3", "--no-color", parent, sha)
    for line in diff.split("\n"):
        if line.startswith(("---", "+++", "@@", "diff ", "index ")):
            continue
        if line[:1] in ("-", " ") and line[1:].strip():
            lines.add(line[1:].rstrip())
    return files, lines


def write_plan(workdir: Path, sha: str, message: str, files: list[str]) -> Any:
    """The one-phase plan a person would write from the commit, loaded as Autopack loads it."""
    subject, _, body = message.partition("\n")
    plan = {
        "run_id": f"recall-{sha[:8]}",
        "goal": subject.strip() or "change",
        "phases": [
            {
                "phase_id": "p1",
                "name": (subject.strip() or "change")[:200],
                "description": body.strip(),
                "scope": {"paths": files},
            }
        ],
    }
    path = workdir / "plan.yaml"
    path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    return load_plan(path)


def load_old_context(rev: str) -> ModuleType:
    """``executor/context.py`` as it was at ``rev`` (the selection before this change)."""
    source = git(AUTOPACK_ROOT, "show", f"{rev}:src/autopack/executor/context.py")
    path = Path(tempfile.mkdtemp(prefix="old-context-")) / "old_context.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_context", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_context"] = module
    spec.loader.exec_module(module)
    return module


def render(run: Any, scope: Scope, files: list[FileContext], repo_map: str = "") -> str:
    """The Builder prompt as the executor builds it for a first attempt."""
    phase = run.phases[0]
    ctx = BuilderContext(
        run_id=run.run_id,
        phase_id=phase.phase_id,
        goal=run.goal or run.name,
        phase_name=phase.name,
        phase_description=phase.description,
        task_category=phase.task_category,
        complexity=phase.complexity,
        builder_mode=phase.builder_mode,
        deliverables=scope.deliverables,
        allowed_paths=scope.paths,
        read_only_context=[ContextRef(c.path, c.reason) for c in scope.read_only_context],
        acceptance_criteria=scope.acceptance_criteria,
        files=files,
        repo_map=repo_map,
    )
    prompt = render_builder_prompt(ctx)
    return prompt.system + "\n" + prompt.user


def whole_files(worktree: Path, scope: Scope, budget: int) -> list[FileContext]:
    out: list[FileContext] = []
    left = budget
    for rel in scope.paths:
        path = worktree / rel
        if not path.is_file() or left <= 0:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        tokens = estimate_tokens_by_chars(text)
        keep = text if tokens <= left else text[: left * 4]
        out.append(FileContext(rel, keep, truncated=keep != text))
        left -= estimate_tokens_by_chars(keep)
    return out


def measure(prompt: str, touched: set[str]) -> float:
    lines = {ln.rstrip() for ln in prompt.split("\n")}
    return sum(t in lines for t in touched) / len(touched) if touched else 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, required=True, help="a local clone (bare is fine)")
    parser.add_argument("--commits", type=int, default=20)
    parser.add_argument("--budget", type=int, default=CONTEXT_TOKEN_BUDGET)
    parser.add_argument("--old-rev", default=OLD_REV, help="Autopack revision of `old`")
    parser.add_argument("--verbose", action="store_true", help="one line per commit")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    old = load_old_context(args.old_rev)
    map_tokens = min(REPO_MAP_TOKENS, args.budget // 8)
    samples: list[Sample] = []
    parse_log: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="context-recall-") as tmp:
        work = Path(tmp) / "clone"
        subprocess.run(
            ["git", "clone", "-q", "--shared", "--no-checkout", str(repo), str(work)], check=True
        )
        cache_dir = Path(tmp) / "tags"
        db = open_database(Settings(home=Path(tmp) / "home"))
        embedder = load_embedder()
        for sha in pick_commits(repo, args.commits):
            parent = git(repo, "rev-parse", f"{sha}^").strip()
            git(work, "checkout", "-q", "-f", "--detach", parent)
            files, touched = touched_lines(repo, parent, sha)
            run = write_plan(Path(tmp), sha, git(repo, "log", "-1", "--format=%B", sha), files)
            phase = run.phases[0]
            scope = Scope.model_validate(phase.scope.model_dump())
            protected = (*run.protected_paths, *project_protected_paths(work))
            sample = Sample(sha[:10], phase.name[:60], len(touched))
            strategies: dict[str, Callable[[], str]] = {
                "whole": lambda: render(run, scope, whole_files(work, scope, args.budget)),
                "old": lambda: render(
                    run,
                    scope,
                    _files(
                        old.select_context(
                            work, scope, token_budget=args.budget, protected=protected
                        )
                    ),
                ),
            }
            for name, make in strategies.items():
                prompt = make()
                sample.recall[name] = measure(prompt, touched)
                sample.tokens[name] = estimate_tokens_by_chars(prompt)
            cache = TagCache(cache_dir)
            start = time.perf_counter()
            bundle = select_context(
                work,
                scope,
                token_budget=args.budget,
                protected=protected,
                goal_texts=(run.goal, phase.name, phase.description),
                repo_map_tokens=map_tokens,
                tag_cache=cache,
            )
            parse_log.append((cache.parses, time.perf_counter() - start))
            prompt = render(run, scope, _files(bundle), bundle.repo_map)
            sample.recall["new"] = measure(prompt, touched)
            sample.tokens["new"] = estimate_tokens_by_chars(prompt)
            hints = retrieval_hints(db, work, run, phase, embedder)
            bundle = select_context(
                work,
                scope,
                token_budget=args.budget,
                protected=protected,
                goal_texts=(run.goal, phase.name, phase.description),
                hints=hints,
                repo_map_tokens=map_tokens,
                tag_cache=cache,
            )
            prompt = render(run, scope, _files(bundle), bundle.repo_map)
            sample.recall["retrieval"] = measure(prompt, touched)
            sample.tokens["retrieval"] = estimate_tokens_by_chars(prompt)
            samples.append(sample)
            if args.verbose:
                print(
                    f"{sample.commit} {sample.touched:5d} lines  "
                    + "  ".join(
                        f"{k} {sample.recall[k]:.2f}/{sample.tokens[k]}" for k in sample.recall
                    )
                    + f"  {sample.subject}"
                )
        db.dispose()
    report(repo, args.budget, samples, parse_log)
    return 0


def retrieval_hints(
    db: Any, work: Path, run: Any, phase: Any, embedder: EmbedderStatus
) -> list[ContextHint]:
    """What ``executor.memory.retrieval_hints`` gives the phase, on a scratch database."""
    scope = phase.scope
    found = memory_service.hints_for_phase(
        db.factory,
        work,
        repo_key="benchmark",
        goal=run.goal or "",
        phase_name=phase.name,
        description=phase.description,
        deliverables=scope.deliverables,
        acceptance_criteria=scope.acceptance_criteria,
        limit=RETRIEVAL_LIMIT,
        embedder=embedder,
    )
    return in_files(found, [*scope.paths, *scope.deliverables])


def _files(bundle: Any) -> list[FileContext]:
    return [
        FileContext(f.path, f.content, f.truncated, f.kind == "read_only") for f in bundle.files
    ]


def report(
    repo: Path, budget: int, samples: list[Sample], parse_log: list[tuple[int, float]]
) -> None:
    print(f"repository {repo} · {len(samples)} commits · budget {budget} tokens")
    if not samples:
        print("no commit changed a source file")
        return
    print(f"{'strategy':9} {'recall mean':>12} {'median':>8} {'tokens mean':>12} {'median':>8}")
    for name in ("whole", "old", "new", "retrieval"):
        recall = [s.recall[name] for s in samples]
        tokens = [s.tokens[name] for s in samples]
        print(
            f"{name:9} {statistics.mean(recall):12.3f} {statistics.median(recall):8.3f} "
            f"{statistics.mean(tokens):12.0f} {statistics.median(tokens):8.0f}"
        )
    cold, warm = parse_log[0], parse_log[1:]
    print(f"tag cache: first commit parsed {cold[0]} files in {cold[1]:.2f}s (new selection)")
    if warm:
        parsed = statistics.mean(p for p, _ in warm)
        seconds = statistics.mean(t for _, t in warm)
        print(f"tag cache: later commits parsed {parsed:.1f} files in {seconds:.2f}s on average")


if __name__ == "__main__":
    raise SystemExit(main())
