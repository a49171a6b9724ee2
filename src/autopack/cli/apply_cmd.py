"""`autopack apply OUTPUT_FILE --repo DIR`: apply any LLM's answer to a repository safely.

The same governed apply a run uses, as a standalone tool: the answer is parsed in any
supported format (NDJSON operations, a files object, SEARCH/REPLACE blocks, unified
diffs) and applied to DIR's working tree through the same guards, all or nothing. Files
are written but not committed unless ``--commit``. In a git repository a dirty working
tree is refused unless ``--allow-dirty`` (the answer file itself does not count), and a
net deletion over 50 lines is preceded by a savepoint ``refs/autopack/apply/save/<n>``;
over 200 lines it needs ``--approve-deletions``. An answer the parser could only read in
part is refused unless ``--allow-partial``.

Exit codes: 0 applied (or nothing to do: every edit was already present), 1 rejected
(with the reason per edit), 2 usage error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from autopack.agents.output import ParsedOutput, parse_model_output
from autopack.cli.main import app
from autopack.cli.output import console, err_console, print_json
from autopack.errors import WorkspaceError
from autopack.workspace.apply import ApplyResult, EditOutcome, apply_edits
from autopack.workspace.git import GitWorkspace
from autopack.workspace.guards import ApplyPolicy, GuardViolation, normalize_path

_MARKS = {
    "applied": "[green]applied[/]",
    "already_present": "[cyan]present[/]",
    "failed": "[red]failed[/]",
    "not_checked": "[dim]not checked[/]",
}


def _usage(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def _read_answer(output_file: Path) -> str:
    if str(output_file) == "-":
        return sys.stdin.read()
    if not output_file.is_file():
        raise _usage(f"{str(output_file)!r} is not a file; pass the model's answer (or '-')")
    return output_file.read_bytes().decode("utf-8", errors="replace")


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for raw in values or [] for v in raw.split(",") if v.strip())


def _parse_report(parsed: ParsedOutput) -> dict[str, Any]:
    return {
        "format": parsed.format,
        "truncated": parsed.truncated,
        "edits": len(parsed.edits),
        "diagnostics": [d.model_dump() for d in parsed.diagnostics],
    }


def _refuse(reason: str, code: str, parsed: ParsedOutput | None, as_json: bool) -> typer.Exit:
    if as_json:
        print_json(
            {
                "status": "rejected",
                "applied": False,
                "code": code,
                "reason": reason,
                "parse": _parse_report(parsed) if parsed else None,
            }
        )
    else:
        err_console.print(f"[bold red]rejected:[/] {reason}", highlight=False)
        if parsed:
            for diagnostic in parsed.errors:
                where = f"line {diagnostic.line}: " if diagnostic.line else ""
                err_console.print(f"  {where}{diagnostic.reason}", highlight=False)
    return typer.Exit(1)


def _describe(outcome: EditOutcome) -> str:
    where = f" line {outcome.first_line}" if outcome.first_line else ""
    if outcome.last_line and outcome.last_line != outcome.first_line:
        where += f"-{outcome.last_line}"
    how = f" ({outcome.method})" if outcome.method else ""
    line = f"  {_MARKS[outcome.status]} {outcome.kind} {outcome.path}{where}{how}"
    if outcome.reason:
        line += f": {outcome.reason}"
    for candidate in outcome.candidates:
        line += f"\n      near line {candidate.line} ({candidate.score:.2f}): {candidate.preview}"
    return line


def _render(result: ApplyResult, parsed: ParsedOutput) -> None:
    summary = {
        "applied": f"[green]applied[/] {len(result.files_changed)} file(s)",
        "no_op": "[cyan]nothing to do[/]: every edit is already present",
        "checked": f"[green]dry run passed[/]: {len(result.files_changed)} file(s) would change",
        "requires_approval": "[yellow]needs approval[/]",
        "rejected": "[bold red]rejected[/]",
    }[result.status]
    if result.files_changed:
        summary += f" (+{result.lines_added} -{result.lines_removed})"
    target = console if result.ok else err_console
    target.print(
        summary + (f": {result.reason}" if result.reason and not result.ok else ""), highlight=False
    )
    for outcome in result.outcomes:
        target.print(_describe(outcome), highlight=False)
    for event in result.events:
        target.print(f"  [yellow]{event.kind}[/]: {event.message}", highlight=False)
    if result.requires_approval:
        target.print("  rerun with --approve-deletions to apply it anyway", highlight=False)
    if parsed.truncated:
        target.print(
            "  [yellow]the answer looks truncated[/]; only complete operations were used",
            highlight=False,
        )


@app.command("apply")
def apply_command(
    output_file: Annotated[
        Path, typer.Argument(help="The model's answer (any supported format); '-' is stdin.")
    ],
    repo: Annotated[Path, typer.Option("--repo", help="The repository to change.")] = Path(),
    paths: Annotated[
        list[str] | None,
        typer.Option(
            "--paths",
            help="Allowed path (repeatable or comma-separated); a "
            "directory ends in '/'. Default: the whole repository.",
        ),
    ] = None,
    protect: Annotated[
        list[str] | None,
        typer.Option(
            "--protect",
            help="Extra protected pattern (repeatable), besides the defaults and the "
            "repository's .autopack.yaml protected_paths. Globs follow .gitignore.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check; write nothing.")] = False,
    allow_dirty: Annotated[
        bool, typer.Option("--allow-dirty", help="Apply even with uncommitted changes.")
    ] = False,
    commit: Annotated[bool, typer.Option("--commit", help="Commit the changed files.")] = False,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Commit message for --commit.")
    ] = None,
    approve_deletions: Annotated[
        bool, typer.Option("--approve-deletions", help="Allow large net deletions.")
    ] = False,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Apply what parsed even if some "
            "operations could not be read (e.g. a truncated answer).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Apply a model's answer to a repository's working tree through the apply guards."""
    if not repo.is_dir():
        raise _usage(f"--repo {str(repo)!r} is not a directory")
    repo = repo.resolve()
    text = _read_answer(output_file)
    try:
        workspace: GitWorkspace | None = GitWorkspace.open(repo)
    except WorkspaceError:
        workspace = None
    if commit and workspace is None:
        raise _usage(f"--commit needs a git repository, and {repo} is not inside one")
    if workspace is not None and not allow_dirty and not dry_run:
        answer = output_file.resolve() if str(output_file) != "-" else None
        # The answer file itself may sit in the repository; it is not a change at risk.
        top = workspace.toplevel()
        dirty = [e for e in workspace.status() if (top / e.path).resolve() != answer]
        if dirty:
            names = ", ".join(e.path for e in dirty[:5]) + (" ..." if len(dirty) > 5 else "")
            raise _refuse(
                f"the working tree has uncommitted changes ({names}); commit or "
                "stash them, or pass --allow-dirty",
                "dirty_tree",
                None,
                as_json,
            )
    parsed = parse_model_output(text)
    if not parsed.edits:
        raise _refuse(
            "the answer contains no edits that could be read", "no_edits", parsed, as_json
        )
    if parsed.errors and not allow_partial:
        raise _refuse(
            f"{len(parsed.errors)} part(s) of the answer could not be read, so "
            "applying the rest could leave a half-done change; pass --allow-partial "
            "to apply the rest anyway",
            "parse_errors",
            parsed,
            as_json,
        )
    for entry in _split(paths):
        if entry not in (".", "./") and isinstance(normalize_path(entry), GuardViolation):
            raise _usage(f"--paths {entry!r} is not a path inside the repository")
    policy = ApplyPolicy(
        allowed_paths=_split(paths) or None,
        protected_paths=_split(protect),
        deletion_approved=approve_deletions,
    )
    commit_message = None
    if commit:
        commit_message = message or f"autopack apply: {output_file.name}"
    try:
        result = apply_edits(
            repo,
            parsed.edits,
            policy,
            workspace=workspace,
            commit_message=commit_message,
            dry_run=dry_run,
            always_savepoint=False,
        )
    except WorkspaceError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        raise typer.Exit(1) from exc
    if as_json:
        print_json({**result.model_dump(mode="json"), "parse": _parse_report(parsed)})
    else:
        _render(result, parsed)
    raise typer.Exit(0 if result.ok else 1)
