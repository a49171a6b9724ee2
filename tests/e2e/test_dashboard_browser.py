"""The dashboard in a real browser (Playwright driving Debian's Chromium) against a real
server, real git repositories and the scripted provider: a run started from the board
and followed live to done, an approval given on the approvals page, a merge from the
delivery page (and one refused for a conflict), and the usage chart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dashboard_support import CHROMIUM, CHROMIUM_ARGS, needs_chromium, screenshot, serve
from executor_support import (
    LEGACY_300,
    auditor,
    builder,
    git,
    make_repo,
    mul_ops,
    op,
    phase,
    write_script,
)

from autopack.settings import Settings

pytestmark = [needs_chromium, pytest.mark.slow]
LIVE_TIMEOUT_MS = 60_000


@pytest.fixture
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()
            browser.close()


def plan_text(run_id: str, phases: list[dict[str, Any]]) -> str:
    return yaml.safe_dump(
        {
            "run_id": run_id,
            "goal": "extend calc",
            "tiers": [{"tier_id": "T1", "name": "Core"}],
            "phases": phases,
        },
        sort_keys=False,
    )


def start_from_board(page: Any, base: str, repo: Path, plan: str) -> None:
    """Fill and submit the board's start-run form."""
    page.goto(f"{base}/ui/")
    page.fill("#start-run input[name=repo]", str(repo))
    page.fill("#start-run textarea[name=plan_text]", plan)
    page.click("#start-run button[type=submit]")


def test_a_run_started_on_the_board_moves_live_to_done_and_its_tokens_are_charted(
    sqlite_settings: Settings, tmp_path: Path, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    repo = make_repo(tmp_path)
    script = write_script(
        tmp_path / "s.jsonl", [builder("mul", *mul_ops(), tokens=(900, 300)), auditor("mul")]
    )
    plan = plan_text("board-run", [phase("mul", paths=["calc.py", "tests/"])])
    with serve(sqlite_settings, script) as base:
        board = browser_page.new_page()
        board.goto(f"{base}/ui/")
        board.evaluate("window.__notReloaded = true")
        # Another tab starts the run; the board tab only listens.
        start_from_board(browser_page.new_page(), base, repo, plan)
        card = board.locator("#card-board-run")
        expect(card).to_be_visible(timeout=30_000)
        expect(board.locator("#column-done #card-board-run")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        assert board.evaluate("window.__notReloaded") is True  # moved live, no reload
        expect(card.locator('[data-field="progress"]')).to_have_text("1 / 1")
        expect(card.locator('[data-field="tokens"]')).to_have_text("1,800")  # builder+auditor
        screenshot(board, "board_run_done")

        run_page = browser_page.new_page()
        run_page.goto(f"{base}/ui/runs/board-run")
        expect(run_page.locator("#phase-mul")).to_have_class("phase state-complete")
        expect(run_page.locator("#live-log")).to_contain_text("run_finished")
        screenshot(run_page, "run_page")
        run_page.goto(f"{base}/ui/runs/board-run/phases/mul?view=side")
        expect(run_page.locator("table.code.side")).to_contain_text("def mul")
        screenshot(run_page, "phase_side_by_side")

        usage = browser_page.new_page()
        usage.goto(f"{base}/ui/usage")
        chart = usage.locator("#tokens-chart svg")
        expect(chart).to_be_visible()
        assert "1,800" in chart.inner_html()  # today's point: the run's recorded tokens
        screenshot(usage, "usage_chart")


def test_a_large_deletion_waits_on_the_approvals_page_and_is_approved_there(
    sqlite_settings: Settings, tmp_path: Path, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    repo = make_repo(tmp_path, {"legacy.py": LEGACY_300})
    script = write_script(
        tmp_path / "s.jsonl",
        [builder("mul", op("delete", "legacy.py"), *mul_ops()), auditor("mul")],
    )
    plan = plan_text("approve-run", [phase("mul", paths=["calc.py", "tests/", "legacy.py"])])
    with serve(sqlite_settings, script) as base:
        page = browser_page.new_page()
        start_from_board(page, base, repo, plan)
        board = browser_page.new_page()
        board.goto(f"{base}/ui/")
        expect(board.locator("#column-waiting #card-approve-run")).to_be_visible(
            timeout=LIVE_TIMEOUT_MS
        )
        page.goto(f"{base}/ui/approvals")
        approval = page.locator("section.approval").first
        expect(approval).to_contain_text("large deletion")
        expect(approval).to_contain_text("legacy.py")
        screenshot(page, "approval_waiting")
        approval.locator("textarea[name=note]").fill("legacy.py is dead code")
        approval.locator("button.approve").click()
        expect(page.locator("#no-approvals")).to_be_visible()
        expect(page.locator("table")).to_contain_text("legacy.py is dead code")
        expect(board.locator("#column-done #card-approve-run")).to_be_visible(
            timeout=LIVE_TIMEOUT_MS
        )
        screenshot(board, "approval_run_done")
    assert (repo / "legacy.py").exists()  # the user's checkout is never touched


def test_a_finished_run_is_merged_from_the_delivery_page_and_a_conflict_is_refused(
    sqlite_settings: Settings, tmp_path: Path, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    repo = make_repo(tmp_path)
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    plan = plan_text("merge-run", [phase("mul", paths=["calc.py", "tests/"])])
    # A branch whose calc.py ends differently: merging the run into it must conflict.
    git(repo, "checkout", "-q", "-b", "rival")
    (repo / "calc.py").write_text(
        (repo / "calc.py").read_text() + "\n\ndef mul(a, b):\n    return 0\n"
    )
    git(repo, "commit", "-qam", "a rival mul")
    git(repo, "checkout", "-q", "main")
    with serve(sqlite_settings, script) as base:
        page = browser_page.new_page()
        start_from_board(page, base, repo, plan)
        expect(page.locator("#run-state")).to_have_text("DONE_SUCCESS", timeout=LIVE_TIMEOUT_MS)
        # A fresh tab: the run page reloads itself once the run has ended.
        page = browser_page.new_page()
        page.goto(f"{base}/ui/runs/merge-run/delivery")
        expect(page.locator("ul.commits")).to_contain_text("mul")

        page.fill("#merge-form input[name=into]", "rival")
        page.click("#merge-form button[type=submit]")
        expect(page.locator("#delivery-error")).to_contain_text("refused")
        expect(page.locator("li.conflict-file")).to_have_text(["calc.py"])
        screenshot(page, "merge_conflict_refused")
        assert git(repo, "log", "-1", "--format=%s", "rival").strip() == "a rival mul"

        page.fill("#merge-form input[name=into]", "main")
        page.click("#merge-form button[type=submit]")
        expect(page.locator("#delivery-result")).to_be_visible()
        screenshot(page, "merged")
    log = git(repo, "log", "--format=%s", "main")
    assert "mul" in log.splitlines()[0] and "initial" in log
    assert "def mul" in git(repo, "show", "main:calc.py")
