"""Live progress of a run on stderr: one line per executor event, read by people.

Each line carries the elapsed time, the tier, the tokens used so far and what happened.
While a test suite runs (baseline or a phase's verification) a terminal also shows a
spinner line with the phase and the elapsed time, so a long suite is visibly alive. The
phase's commit is shown once, when the phase completes: the squashed commit that stays
on the branch (attempt commits are intermediate and vanish in the squash).
"""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape
from rich.status import Status

from autopack.cli.output import err_console
from autopack.db.database import Database
from autopack.db.orm import Run

#: Events after which a test suite runs until the next event arrives.
TEST_EVENTS = {"baseline": "baseline tests", "verify": "tests"}


class LiveProgress:
    """Renders executor events as lines: elapsed time, tier, phase, attempt, tokens."""

    def __init__(self, db: Database, run_id: str, *, quiet: bool) -> None:
        self.db = db
        self.run_id = run_id
        self.quiet = quiet
        self.started = time.monotonic()
        self.tier = "-"
        self.status: Status | None = None

    def __call__(self, event: str, **data: Any) -> None:
        if self.quiet:
            return
        self._stop_status()
        if event == "apply_event" and str(data.get("message", "")).startswith("committed "):
            return  # an attempt's commit: squashed away when the phase completes
        if event == "tier_started":
            self.tier = str(data.get("tier_id"))
        with self.db.factory() as session:
            run = session.get(Run, self.run_id)
            tokens = run.tokens_used if run else 0
        elapsed = time.monotonic() - self.started
        label, detail = environment_line(event, data)
        if event == "phase_complete":
            label, detail = "phase complete", f"{data.get('phase_id')} commit {data.get('commit')}"
        elif event == "baseline":
            label, detail = "baseline", "running the project's tests before any change"
        elif event == "tested":
            label = "tests"
            detail = f"{data.get('phase_id') or 'baseline'}: {escape(str(data.get('summary')))}"
        if not label:
            label = event
            detail = " ".join(
                f"{k}={v}" for k, v in data.items() if k != "run_id" and v is not None
            )
        err_console.print(
            f"[dim]{elapsed:6.1f}s[/] tier {self.tier:<8} tokens {tokens:>8,}  "
            f"[bold]{label}[/] {detail}",
            highlight=False,
            soft_wrap=True,
        )
        if event in TEST_EVENTS and err_console.is_terminal:
            what = TEST_EVENTS[event]
            phase = data.get("phase_id")
            self.status = Status(
                f"running {what}" + (f" of phase {phase}" if phase else "") + " ...",
                console=err_console,
            )
            self.status.start()

    def _stop_status(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    def close(self) -> None:
        """Stop the live line (the run ended or raised)."""
        self._stop_status()


def environment_line(event: str, data: dict[str, Any]) -> tuple[str, str]:
    """How provisioning events read live: ("", "") for other events. Builds can take
    minutes on a cold cache, so each step the environments package reports is a line."""
    if event == "environment":
        setup = int(data.get("setup_commands") or 0)
        return "environment", "preparing" + (f" ({setup} setup commands)" if setup else "")
    if event == "environment_progress":
        return "environment", escape(str(data.get("message", "")))
    if event == "environment_rebuild":
        return "environment", f"phase {data.get('phase_id')} changed a manifest: rebuilding"
    if event == "environment_ready":
        how = "reused" if data.get("reused") else f"built in {data.get('seconds', 0)}s"
        return "environment", (
            f"ready: {data.get('key')} ({how}), interpreter {escape(str(data.get('interpreter')))}"
        )
    return "", ""
