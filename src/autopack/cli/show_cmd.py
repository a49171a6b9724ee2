"""`autopack show RUN_ID`: read a run's model calls back from its trajectory."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from autopack.cli.main import app
from autopack.cli.output import console, database, print_json, settings
from autopack.services.trajectory import TrajectoryPage, read_trajectory


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="The run whose model calls to show."),
    phase: str = typer.Option(None, "--phase", help="Only the calls of this phase."),
    call: int = typer.Option(
        None, "--call", min=1, help="Show this call in full: messages, answer and context."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the call records as JSON."),
) -> None:
    """Every model call of a run (Builder, Auditor, goal checks, Doctor, continuations and
    re-asks), from `trajectory.jsonl` in the run's artifacts.

    Without --call: a table (call number, phase, attempt, role, model, tokens, cost,
    latency, stop reason or error). With --call N: the messages as sent (secrets
    redacted), the answer, usage, and the context the prompt was built from (files kept
    with tokens, files left out and why). Output to a pipe or file is never cut.
    Exit 2 for an unknown run, phase or call number."""
    db = database()
    try:
        with db.factory() as session:
            page = read_trajectory(
                session, run_id, runs_dir=settings().runs_dir, phase_id=phase, call=call
            )
    finally:
        db.dispose()
    if as_json:
        if call is not None:
            print_json(page.calls[0])
        else:
            print_json({"run_id": run_id, "total": page.total, "calls": page.calls})
        return
    out = _console()
    if call is not None:
        _print_call(out, page.calls[0])
    elif not page.calls:
        where = f" in phase {phase}" if phase else ""
        out.print(f"run {run_id} has no model calls on record{where}")
    else:
        _print_table(out, page)


def _console() -> Console:
    # A pipe or a file gets everything: no wrapping into narrow columns, no ellipses.
    if console.is_terminal:
        return console
    return Console(width=100_000, no_color=True, highlight=False, soft_wrap=True)


def _tokens(usage: dict[str, Any] | None) -> str:
    if not usage:
        return "-"
    split = ""
    if usage.get("prompt_tokens") is not None and usage.get("completion_tokens") is not None:
        split = f" ({usage['prompt_tokens']}+{usage['completion_tokens']})"
    approx = "" if usage.get("exact", True) else "~"
    return f"{approx}{usage.get('total_tokens', 0)}{split}"


def _cost(usage: dict[str, Any] | None) -> str:
    cost = (usage or {}).get("cost_usd")
    return "-" if cost is None else f"${cost:.4f}"


def _role(record: dict[str, Any]) -> str:
    purpose = record.get("purpose") or record.get("role") or "-"
    kind = record.get("kind") or "call"
    return purpose if kind == "call" else f"{purpose} ({kind})"


def _outcome(record: dict[str, Any]) -> str:
    if record.get("error"):
        return f"error: {record.get('error_type') or 'error'}"
    return str(record.get("stop_reason") or "-")


def _print_table(out: Console, page: TrajectoryPage) -> None:
    table = Table(title=f"Run {page.run_id}: {page.total} model call(s)")
    for name in ("n", "phase", "attempt", "role", "model", "tokens", "cost", "latency", "stop"):
        justify = "right" if name in ("n", "attempt", "tokens", "cost", "latency") else "left"
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for record in page.calls:
        table.add_row(
            str(record.get("call")),
            record.get("phase_id") or "-",
            "-" if record.get("attempt") is None else str(record["attempt"]),
            _role(record),
            record.get("model") or "-",
            _tokens(record.get("usage")),
            _cost(record.get("usage")),
            f"{record.get('latency_ms', 0)} ms",
            _outcome(record),
        )
    out.print(table)
    out.print("Show one call in full with `autopack show RUN_ID --call N`.")


def _print_call(out: Console, record: dict[str, Any]) -> None:
    head = [
        f"call {record.get('call')} of run {record.get('run_id')}",
        f"phase {record.get('phase_id') or '-'}, attempt {record.get('attempt') or '-'}, "
        f"{_role(record)}",
        f"model {record.get('model') or '-'} via {record.get('provider') or '-'}, "
        f"max_tokens {record.get('max_tokens')}",
        f"tokens {_tokens(record.get('usage'))}, cost {_cost(record.get('usage'))}, "
        f"latency {record.get('latency_ms', 0)} ms, retries {record.get('retries', 0)}, "
        f"stop {record.get('stop_reason') or '-'}",
        f"at {record.get('at') or '-'}",
    ]
    out.print(Text("\n".join(head)))
    if record.get("error"):
        _block(out, f"error ({record.get('error_type') or 'error'})", record["error"])
    for message in record.get("messages") or []:
        _block(out, str(message.get("role")), str(message.get("content") or ""))
    if record.get("answer") is not None:
        _block(out, "answer", str(record["answer"]))
    _print_context(out, record.get("context"))


def _block(out: Console, title: str, body: str) -> None:
    if out is console:
        out.print(Panel(Text(body), title=title, title_align="left"))
    else:
        # Not a terminal: plain text, line for line as sent, so it can be searched and diffed.
        out.print(Text(f"----- {title} -----"))
        out.print(Text(body), soft_wrap=True)


def _print_context(out: Console, context: dict[str, Any] | None) -> None:
    if not context:
        out.print(Text("context: none recorded for this call"))
        return
    out.print(
        Text(
            f"context: {context.get('tokens_used', 0)} of "
            f"{context.get('token_budget', '-')} tokens used"
        )
    )
    kept = Table(title="kept", title_justify="left")
    for name in ("path", "kind", "tokens", "mode", "reason"):
        kept.add_column(name, overflow="fold")
    for item in context.get("files") or []:
        mode = item.get("mode") or ("cut" if item.get("truncated") else "whole")
        kept.add_row(
            str(item.get("path")),
            str(item.get("kind") or "-"),
            str(item.get("tokens", "-")),
            str(mode),
            str(item.get("reason") or ""),
        )
    out.print(kept)
    omitted = context.get("omitted") or []
    if omitted:
        left = Table(title="left out", title_justify="left")
        for name in ("path", "tokens", "reason"):
            left.add_column(name, overflow="fold")
        for item in omitted:
            tokens = item.get("tokens")
            left.add_row(
                str(item.get("path")),
                "-" if tokens is None else str(tokens),
                str(item.get("reason") or ""),
            )
        out.print(left)
