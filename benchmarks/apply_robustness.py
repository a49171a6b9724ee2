"""Apply robustness: how often a model's edit lands correctly, in every answer format.

Run: ``python benchmarks/apply_robustness.py [--seed N] [--per-cell N] [--json] [--verbose]
[--repo PATH [--changes N]]``

The corpus is generated, deterministically from the seed, from real-looking Python,
JavaScript and Go modules (classes and functions with imports, comments, loops, early
returns, ``if err != nil`` blocks: the repetitive lines that make anchors ambiguous). Each
case is one intended change (modify, insert, delete or replace lines inside a function)
whose correct result is known, rendered as a model would write it in one of four formats
(NDJSON operations, a ``{"files": [...]}`` object, SEARCH/REPLACE blocks, a unified diff),
with one defect that real models produce:

==================  =========================================================================
clean               no defect
shifted_numbers     diff hunk headers / replace_lines numbers off by 3-15 lines
wrong_counts        diff hunk header counts off by 1-2
missing_blank       the quoted text lacks a blank line the file has (not next to the change)
extra_blank         the quoted text has a blank line the file does not have
trailing_ws         the file has trailing spaces that the model's quote drops
tabs_vs_spaces      the file is indented with tabs, the model writes spaces
crlf                the file has CRLF line endings, the model writes LF
fences              the answer is wrapped in prose and a code fence
truncated           two changes in two files; the answer is cut inside the second
duplicate_anchor    the quoted text occurs twice in the file (diffs: correct line numbers)
already_applied     the file already contains the change (a retried answer)
stale_context       one quoted context line differs slightly from the file (a stale read)
==================  =========================================================================

Each answer is parsed with the stop reason a provider would report: ``max_tokens`` for
the ``truncated`` cases, a normal end for the others.

Scoring, per case, from the files on disk afterwards:

- applied correctly: every file equals the intended result (for ``truncated``, the whole
  change, which only happens when the cut took nothing but trailing context; for
  ``already_applied``: unchanged and reported fine);
- rejected safely: every file unchanged and the tool reported a failure;
- partial (cut): only for ``truncated``: the complete edits of the cut answer applied,
  the cut one not, and the answer reported as truncated. That is what the tool is built
  to do (the executor then asks the model to continue), but it is not the intended
  change, so it is never counted as correct;
- applied wrongly: anything else, including "success" with nothing changed when a change
  was intended. For ``duplicate_anchor`` without line numbers there is no right place, so
  rejecting is the only safe outcome.

With ``--repo`` (a local git clone; nothing of it is stored) the newest ``--changes``
modified files of its history are added as real cases (:mod:`apply_history`): each
applied to the parent revision's bytes and compared with the child's byte for byte, per
kind. The exit status is 1 if any case, synthetic or real, was applied wrongly.

For the diff cases the same answer files are also given to ``git apply`` and to
``patch -p1 --fuzz=3``, in fresh temporary directories, in the same run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from apply_corpus import DEFECTS, FORMATS, Case, build_corpus
from apply_history import KINDS, HistoryCase, diff_hunks, file_changes, render_cases, text_lines

from autopack.agents.output import parse_model_output
from autopack.workspace.apply import apply_edits
from autopack.workspace.guards import ApplyPolicy

# --- running -----------------------------------------------------------------------------


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _classify(root: Path, case: Case, reported_ok: bool) -> str:
    now = {rel: (root / rel).read_bytes() if (root / rel).exists() else b"" for rel in case.files}
    if now == case.expected and (reported_ok or case.expected == case.files):
        return "correct" if reported_ok else "rejected"
    if now == case.files and not reported_ok:
        return "rejected"
    return "wrong"


def run_ours(case: Case, root: Path) -> tuple[str, float]:
    _write(root, case.files)
    started = time.perf_counter()
    # The provider says whether it stopped at max_tokens; the cut cases are those.
    parsed = parse_model_output(case.answer, stopped_early=case.defect == "truncated")
    ok = False
    if parsed.edits:
        ok = apply_edits(root, parsed.edits, ApplyPolicy(), always_savepoint=False).ok
    elapsed = time.perf_counter() - started
    verdict = _classify(root, case, ok)
    if verdict == "wrong" and _partial(root, case, ok and parsed.truncated):
        verdict = "partial"
    return verdict, elapsed


def _partial(root: Path, case: Case, reported_cut: bool) -> bool:
    """A cut answer's complete edits applied, the cut one not, and the cut reported.

    That is what the tool is built to do with an answer the provider cut off (the
    executor asks the model to continue), but it is not the intended change, so it is
    counted on its own and never as correct.
    """
    if not reported_cut or case.defect != "truncated":
        return False
    now = {rel: (root / rel).read_bytes() if (root / rel).exists() else b"" for rel in case.files}
    return now != case.files and all(
        now[rel] in (case.files[rel], case.expected[rel]) for rel in case.files
    )


def run_history(case: HistoryCase, root: Path) -> str:
    """``correct``, ``rejected``, ``partial`` or ``wrong`` for one real-history case."""
    target = root / case.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(case.before)
    parsed = parse_model_output(case.answer, stopped_early=case.stopped_early)
    ok = False
    if parsed.edits:
        ok = apply_edits(root, parsed.edits, ApplyPolicy(), always_savepoint=False).ok
    now = target.read_bytes()
    if ok and now == case.after:
        return "correct"
    if not ok and now == case.before:
        return "rejected"
    if ok and parsed.truncated and case.stopped_early and now == case.before:
        return "rejected"  # every edit was in the cut part: nothing applied, cut reported
    if ok and parsed.truncated and case.stopped_early and _is_prefix_apply(case, now):
        return "partial"
    return "wrong"


def _is_prefix_apply(case: HistoryCase, now: bytes) -> bool:
    """Whether ``now`` is the change up to the cut hunk: the earlier hunks, none of the cut."""
    before = case.before.decode("utf-8").replace("\r\n", "\n")
    after = case.after.decode("utf-8").replace("\r\n", "\n")
    old, new = text_lines(before), text_lines(after)
    hunks = diff_hunks(
        old,
        new,
        old_eof=bool(before) and not before.endswith("\n"),
        new_eof=bool(after) and not after.endswith("\n"),
    )
    result = list(old)
    for hunk in reversed(hunks[:-1]):
        start = hunk.old_start - 1
        old_n, _ = hunk.counts()
        result[start : start + old_n] = [text for tag, text in hunk.lines if tag != "-"]
    crlf = b"\r\n" in case.before
    text = "\n".join(result) + ("\n" if before.endswith("\n") else "")
    return (text.replace("\n", "\r\n") if crlf else text).encode() == now


TOOLS = {
    "git apply": ["git", "apply", "--whitespace=nowarn"],
    "git apply --recount -C1": [
        "git",
        "apply",
        "--whitespace=nowarn",
        "--recount",
        "-C1",
        "--ignore-whitespace",
    ],
    "patch --fuzz=3": [
        "patch",
        "-p1",
        "--fuzz=3",
        "--forward",
        "--batch",
        "--silent",
        "--no-backup-if-mismatch",
        "--reject-file=-",
    ],
}


def run_tool(name: str, case: Case, root: Path, patch_file: Path) -> str:
    _write(root, case.files)
    patch_file.write_text(case.answer)
    command = (
        [*TOOLS[name], str(patch_file)]
        if name.startswith("git")
        else [*TOOLS[name], "-i", str(patch_file)]
    )
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "GIT_CEILING_DIRECTORIES": str(root.parent),
        "HOME": str(root.parent),
        "LC_ALL": "C",
    }
    done = subprocess.run(
        command,
        cwd=root,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=20,
        env=env,
        check=False,
    )
    return _classify(root, case, done.returncode == 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--per-cell", type=int, default=12, help="cases per format x defect")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--verbose", action="store_true", help="list every non-correct case")
    parser.add_argument(
        "--repo",
        type=Path,
        help="a local git clone whose history adds real cases (nothing of it is stored)",
    )
    parser.add_argument(
        "--changes", type=int, default=500, help="file changes taken from --repo's history"
    )
    args = parser.parse_args(argv)
    cases = build_corpus(args.seed, args.per_cell)
    tools = [t for t in TOOLS if shutil.which(TOOLS[t][0])]
    ours: dict[str, Counter[str]] = defaultdict(Counter)
    seconds: dict[str, float] = defaultdict(float)
    edits: Counter[str] = Counter()
    theirs: dict[str, Counter[str]] = defaultdict(Counter)
    by_defect: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    misses: list[str] = []
    with tempfile.TemporaryDirectory(prefix="apply-bench-") as tmp:
        for n, case in enumerate(cases):
            root = Path(tmp) / f"c{n}"
            root.mkdir()
            verdict, elapsed = run_ours(case, root)
            ours[case.fmt][verdict] += 1
            seconds[case.fmt] += elapsed
            edits[case.fmt] += case.edits
            by_defect[case.defect][f"autopack/{case.fmt}"][verdict] += 1
            if verdict != "correct":
                misses.append(f"{verdict:8} {case.id}")
            if case.fmt == "unified_diff":
                theirs["autopack"][verdict] += 1
                for tool in tools:
                    tool_root = Path(tmp) / f"c{n}-{tool.replace(' ', '_')}"
                    tool_root.mkdir()
                    result = run_tool(tool, case, tool_root, Path(tmp) / f"c{n}.patch")
                    theirs[tool][result] += 1
                    by_defect[case.defect][tool][result] += 1
    report = {
        "seed": args.seed,
        "cases": len(cases),
        "formats": {
            fmt: {
                **ours[fmt],
                "cases": sum(ours[fmt].values()),
                "edits_per_second": round(edits[fmt] / max(seconds[fmt], 1e-9)),
            }
            for fmt in FORMATS
        },
        "diff_subset": {tool: dict(counts) for tool, counts in theirs.items()},
        "by_defect": {d: {k: dict(v) for k, v in row.items()} for d, row in by_defect.items()},
    }
    history_wrong = 0
    if args.repo is not None:
        report["history"] = history = run_history_corpus(args.repo, args.changes, misses)
        kinds = history["kinds"]
        assert isinstance(kinds, dict)
        history_wrong = sum(row.get("wrong", 0) for row in kinds.values())
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report, misses if args.verbose else [])
    wrong = sum(ours[f]["wrong"] for f in FORMATS) + history_wrong
    rate = {t: c["correct"] / max(1, sum(c.values())) for t, c in theirs.items()}
    beaten = all(rate["autopack"] > rate[t] for t in tools)
    return 0 if wrong == 0 and beaten else 1


def run_history_corpus(repo: Path, changes: int, misses: list[str]) -> dict[str, object]:
    """Every kind of :mod:`apply_history` for ``changes`` real file changes of ``repo``."""
    kinds: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    commits: set[str] = set()
    files = 0
    with tempfile.TemporaryDirectory(prefix="apply-history-") as tmp:
        for change in file_changes(repo, changes):
            files += 1
            commits.add(change.commit)
            for n, case in enumerate(render_cases(change)):
                root = Path(tmp) / f"h{files}-{n}"
                root.mkdir()
                verdict = run_history(case, root)
                kinds[case.kind][verdict] += 1
                if verdict != "correct":
                    misses.append(f"{verdict:8} history/{case.id}")
                shutil.rmtree(root)
    return {
        "repo": str(repo),
        "file_changes": files,
        "commits": len(commits),
        "kinds": {kind: dict(counts) for kind, counts in kinds.items()},
    }


def _pct(part: int, whole: int) -> str:
    return f"{part:4d} ({100 * part / max(1, whole):5.1f}%)"


def _print_report(report: dict[str, object], misses: list[str]) -> None:
    formats = report["formats"]
    assert isinstance(formats, dict)
    print(f"Apply robustness (seed {report['seed']}, {report['cases']} cases)\n")
    print(
        f"{'format':16} {'cases':>5}  {'applied correctly':>17}  {'rejected safely':>15}  "
        f"{'partial (cut)':>15}  {'applied wrongly':>15}  {'edits/sec':>9}"
    )
    for fmt, row in formats.items():
        total = row["cases"]
        print(
            f"{fmt:16} {total:5d}  {_pct(row.get('correct', 0), total):>17}  "
            f"{_pct(row.get('rejected', 0), total):>15}  "
            f"{_pct(row.get('partial', 0), total):>15}  "
            f"{_pct(row.get('wrong', 0), total):>15}  {row['edits_per_second']:9,d}"
        )
    subset = report["diff_subset"]
    assert isinstance(subset, dict)
    print("\nUnified-diff cases, same answers, same run:")
    print(
        f"{'tool':26} {'applied correctly':>17}  {'rejected safely':>15}  {'applied wrongly':>15}"
    )
    for tool, row in subset.items():
        total = sum(row.values())
        print(
            f"{tool:26} {_pct(row.get('correct', 0), total):>17}  "
            f"{_pct(row.get('rejected', 0), total):>15}  {_pct(row.get('wrong', 0), total):>15}"
        )
    by_defect = report["by_defect"]
    assert isinstance(by_defect, dict)
    short = {
        "ndjson": "ndjson",
        "files_json": "files",
        "search_replace": "s/r",
        "unified_diff": "diff",
    }
    columns = [f"autopack/{f}" for f in FORMATS] + [t for t in subset if t != "autopack"]
    labels = [f"ours:{short[f]}" for f in FORMATS] + [
        {
            "git apply": "git apply",
            "git apply --recount -C1": "git lenient",
            "patch --fuzz=3": "patch",
        }.get(t, t)
        for t in columns[len(FORMATS) :]
    ]
    print("\nApplied correctly / rejected safely / partial (cut) / applied wrongly, by defect:")
    print(f"{'defect':17}" + "".join(f"{label:>13}" for label in labels))
    for defect in DEFECTS:
        row = by_defect.get(defect, {})
        cells = []
        for column in columns:
            counts = row.get(column)
            got = Counter(counts or {})
            cell = (
                f"{got['correct']}/{got['rejected']}/{got['partial']}/{got['wrong']}"
                if counts
                else "-"
            )
            cells.append(f"{cell:>13}")
        print(f"{defect:17}" + "".join(cells))
    print(
        "\n(git lenient = git apply --recount -C1 --ignore-whitespace. For duplicate_anchor "
        "in formats without\nline numbers the quoted text occurs twice, so rejecting is the "
        "only safe outcome.)"
    )
    history = report.get("history")
    if isinstance(history, dict):
        print(
            f"\nReal history: {history['file_changes']} file changes from "
            f"{history['commits']} commits of {history['repo']}, applied to the parent's "
            "bytes and\ncompared with the child's byte for byte:"
        )
        print(
            f"{'kind':16} {'cases':>5}  {'applied correctly':>17}  {'rejected safely':>15}  "
            f"{'partial (cut)':>15}  {'applied wrongly':>15}"
        )
        for kind, row in history["kinds"].items():
            total = sum(row.values())
            print(
                f"{kind:16} {total:5d}  {_pct(row.get('correct', 0), total):>17}  "
                f"{_pct(row.get('rejected', 0), total):>15}  "
                f"{_pct(row.get('partial', 0), total):>15}  "
                f"{_pct(row.get('wrong', 0), total):>15}"
            )
    for miss in misses:
        print(miss)


if __name__ == "__main__":
    sys.exit(main())
