"""A phase whose scope file is larger than the whole context budget: the Builder is shown
the function it must change, and its edit inside the file applies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from executor_support import auditor, builder, git, make_repo, op, phase, write_plan, write_script
from sqlalchemy import select

from autopack.db.orm import PhaseAttempt
from autopack.executor.context import estimate_tokens_by_chars
from autopack.executor.phase import CONTEXT_TOKEN_BUDGET
from autopack.llm.base import Completion, LLMRequest
from autopack.llm.scripted import ScriptedProvider
from autopack.settings import Settings

TARGET = (
    "def scale_total(values: list[int]) -> int:\n"
    '    """The sum of ``values`` times the factor."""\n'
    "    return sum(values) * factor()\n"
)


def big_module() -> str:
    """~30k tokens: the target in the middle, its callee near the top."""
    out = ['"""A large module."""', "", "", "def factor() -> int:", "    return 2", "", ""]
    for i in range(2_400):
        if i == 1_200:
            out += [*TARGET.rstrip("\n").split("\n"), "", ""]
        out += [f"def unrelated_{i:04d}(value: int) -> int:", f"    return value + {i}", "", ""]
    return "\n".join(out) + "\n"


TEST = "from big import scale_total\n\n\ndef test_scale_total() -> None:\n"
TEST += "    assert scale_total([1, 2]) == 8\n"


@pytest.fixture
def builder_prompts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every prompt the scripted Builder is sent, its messages joined, in order."""
    prompts: list[str] = []
    original = ScriptedProvider.complete

    def recording(self: ScriptedProvider, request: LLMRequest) -> Completion:
        if request.role == "builder":
            prompts.append("\n".join(m.content for m in request.messages))
        return original(self, request)

    monkeypatch.setattr(ScriptedProvider, "complete", recording)
    return prompts


def test_edit_inside_a_file_larger_than_the_budget_applies(
    settings: Settings, tmp_path: Path, harness_factory: Any, builder_prompts: list[str]
) -> None:
    source = big_module()
    assert estimate_tokens_by_chars(source) > CONTEXT_TOKEN_BUDGET
    repo = make_repo(tmp_path, {"big.py": source})
    plan = write_plan(
        tmp_path / "plan.yaml",
        "big-file",
        [
            phase(
                "scale",
                paths=["big.py", "tests/"],
                deliverables=["tests/test_big.py"],
                description="scale_total must add one before multiplying by the factor.",
            )
        ],
    )
    edit = op(
        "search_replace",
        "big.py",
        old="    return sum(values) * factor()\n",
        new="    return (sum(values) + 1) * factor()\n",
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder("scale", edit, op("create", "tests/test_big.py", content=TEST)),
            auditor("scale"),
        ],
    )
    harness = harness_factory(settings)
    outcome = harness.execute(harness.create(plan, repo), script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    # The Builder saw the function verbatim, its callee, and where the cuts are.
    (prompt,) = builder_prompts
    assert TARGET in prompt
    assert "def factor() -> int:\n    return 2" in prompt
    assert "omitted] ..." in prompt and "(truncated: only part of the file is shown)" in prompt
    changed = (Path(outcome.worktree or "") / "big.py").read_text(encoding="utf-8")
    assert changed == source.replace("sum(values) * factor()", "(sum(values) + 1) * factor()")
    assert git(repo, "log", "--format=%s", "main..autopack/big-file").splitlines() == [
        "scale: Phase scale"
    ]
    with harness.db.factory() as session:
        attempt = session.scalars(select(PhaseAttempt).where(PhaseAttempt.role == "builder")).one()
        context = attempt.payload["context"]
    assert context["tokens_used"] <= context["token_budget"] == CONTEXT_TOKEN_BUDGET
    (big,) = [f for f in context["files"] if f["path"] == "big.py"]
    assert big["truncated"] and any(r["label"].startswith("scale_total") for r in big["kept"])
    assert sum(r["tokens"] for r in big["left_out"]) > CONTEXT_TOKEN_BUDGET // 2


#: The function the phase must change. Its name and the names it uses share no word with
#: the goal; only its docstring says what it does.
SETTLE = (
    "def settle(entries: list[int]) -> int:\n"
    '    """Total the invoice amounts for the ledger export, in cents."""\n'
    "    return sum(entries) // 100 * 100\n"
)
SETTLE_TEST = "from big import settle\n\n\ndef test_settle() -> None:\n"
SETTLE_TEST += "    assert settle([150, 275]) == 425\n"


def ledger_module() -> str:
    """~30k tokens of filler with ``settle`` in the middle."""
    out = ['"""A large module."""', "", ""]
    for i in range(2_400):
        if i == 1_200:
            out += [*SETTLE.rstrip("\n").split("\n"), "", ""]
        out += [f"def unrelated_{i:04d}(value: int) -> int:", f"    return value + {i}", "", ""]
    return "\n".join(out) + "\n"


def test_retrieval_finds_a_region_the_goal_describes_but_does_not_name(
    settings: Settings, tmp_path: Path, harness_factory: Any, builder_prompts: list[str]
) -> None:
    source = ledger_module()
    assert estimate_tokens_by_chars(source) > CONTEXT_TOKEN_BUDGET
    repo = make_repo(tmp_path, {"big.py": source})
    plan = write_plan(
        tmp_path / "plan.yaml",
        "ledger",
        [
            phase(
                "cents",
                paths=["big.py", "tests/"],
                deliverables=["tests/test_big.py"],
                description=(
                    "The ledger export totals invoice amounts in cents: it must keep every "
                    "cent instead of dropping the remainder."
                ),
            )
        ],
        goal="Exact ledger exports",
    )
    edit = op(
        "search_replace",
        "big.py",
        old="    return sum(entries) // 100 * 100\n",
        new="    return sum(entries)\n",
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder("cents", edit, op("create", "tests/test_big.py", content=SETTLE_TEST)),
            auditor("cents"),
        ],
    )
    harness = harness_factory(settings)
    outcome = harness.execute(harness.create(plan, repo), script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    # Nothing in the goal names `settle`: retrieval found it by what its docstring says.
    (prompt,) = builder_prompts
    assert SETTLE in prompt
    with harness.db.factory() as session:
        attempt = session.scalars(select(PhaseAttempt).where(PhaseAttempt.role == "builder")).one()
        context = attempt.payload["context"]
    hints = [h for h in context["retrieval"] if h["path"] == "big.py"]
    assert hints[0]["symbol"] == "settle" and hints[0]["method"] == "lexical"
    (big,) = [f for f in context["files"] if f["path"] == "big.py"]
    assert big["truncated"]
    assert any(r["label"].startswith("settle (retrieval)") for r in big["kept"])
    summary = next((settings.runs_dir / "ledger" / "phases").glob("phase_*_cents.md"))
    assert "| big.py | " in summary.read_text(encoding="utf-8").split("retrieval hint")[1]
