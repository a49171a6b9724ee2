"""Focused context: a large file cut to what the phase names, its callers and callees."""

from __future__ import annotations

import re
from pathlib import Path

from autopack.agents.builder import BuilderContext, FileContext, render_builder_prompt
from autopack.domain.plan import Scope
from autopack.executor.context import (
    ContextFile,
    ContextHint,
    estimate_tokens_by_chars,
    select_context,
)

TARGET_BODY = (
    "def apply_discount(price: float, rate: float) -> float:\n"
    '    """The price after the discount."""\n'
    "    checked = validate_rate(rate)\n"
    "    return round(price * (1 - checked), 2)\n"
)


def large_module(functions: int = 900) -> str:
    """A 3600+ line module: apply_discount in the middle, its callee far before it and
    one caller far after it."""
    out = ['"""Pricing."""', "", "import math", ""]
    for i in range(functions):
        if i == 100:
            out += ["def validate_rate(rate: float) -> float:", "    return min(max(rate, 0), 1)"]
            out += ["", ""]
        if i == functions // 2:
            out += [*TARGET_BODY.rstrip("\n").split("\n"), "", ""]
        if i == functions - 100:
            out += ["def checkout_total(items: list[float]) -> float:"]
            out += ["    return sum(apply_discount(p, 0.1) for p in items)", "", ""]
        out += [f"def filler_{i:04d}(a: float) -> float:", f"    return math.sqrt(a) + {i}"]
        out += ["", ""]
    return "\n".join(out) + "\n"


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def assert_view_is_faithful(view: str, source: str) -> None:
    """Every shown line is the source line it claims to be: each elided range is marked
    with the right numbers, so an edit anchored on shown text lands where it was shown."""
    lines = source.split("\n")
    position = 0
    for line in view.split("\n"):
        gap = re.fullmatch(r"\.\.\. \[lines (\d+)-(\d+) omitted\] \.\.\.", line)
        if gap:
            assert int(gap.group(1)) == position + 1, line
            position = int(gap.group(2))
        elif outline := re.fullmatch(r"\.\.\.   L(\d+): (.*)", line):
            assert lines[int(outline.group(1)) - 1] == outline.group(2)
        else:
            assert lines[position] == line, (position, line)
            position += 1


def cut_file(bundle_files: list[ContextFile], path: str) -> ContextFile:
    return next(f for f in bundle_files if f.path == path)


def test_named_function_kept_verbatim_with_callee_and_caller(tmp_path: Path) -> None:
    source = large_module()
    write(tmp_path, "shop/pricing.py", source)
    scope = Scope(paths=["shop/pricing.py"])
    budget = 1_200
    bundle = select_context(
        tmp_path,
        scope,
        token_budget=budget,
        goal_texts=["Round apply_discount to cents"],
    )
    (view,) = bundle.files
    assert view.truncated and estimate_tokens_by_chars(source) > 10 * budget
    assert view.tokens <= budget and bundle.tokens_used <= budget
    assert TARGET_BODY in view.content
    assert "def validate_rate(rate: float) -> float:\n    return min(max(rate, 0), 1)" in (
        view.content
    )
    assert "    return sum(apply_discount(p, 0.1) for p in items)" in view.content
    assert_view_is_faithful(view.content, source)
    # What was kept and what was left out, with tokens, covers the whole file.
    labels = [r.label for r in view.kept]
    assert any(label.startswith("apply_discount") for label in labels)
    assert any(label.startswith("validate_rate") for label in labels)
    assert any(label.startswith("checkout_total") for label in labels)
    covered = sum(r.end - r.start + 1 for r in view.kept + view.left_out)
    assert covered >= len(source.split("\n")) - 1
    assert all(r.tokens > 0 for r in view.left_out)
    record = bundle.to_record()["files"][0]
    assert record["kept"] and record["left_out"] and "content" not in record


def test_deliverable_symbol_and_retrieval_hint_are_kept(tmp_path: Path) -> None:
    source = large_module()
    write(tmp_path, "pricing.py", source)
    lines = source.split("\n")
    far = lines.index("def filler_0700(a: float) -> float:") + 1
    scope = Scope(paths=["pricing.py"], deliverables=["pricing.py::validate_rate"])
    bundle = select_context(
        tmp_path,
        scope,
        token_budget=800,
        hints=[ContextHint(path="pricing.py", start_line=far, end_line=far + 1)],
    )
    (view,) = bundle.files
    assert "def validate_rate(rate: float) -> float:" in view.content
    assert "def filler_0700(a: float) -> float:\n    return math.sqrt(a) + 700" in view.content
    assert view.tokens <= 800
    assert_view_is_faithful(view.content, source)


def test_nothing_named_keeps_code_sharing_the_goals_words_never_an_outline(
    tmp_path: Path,
) -> None:
    source = large_module()
    write(tmp_path, "pricing.py", source)
    bundle = select_context(
        tmp_path,
        Scope(paths=["pricing.py"]),
        token_budget=600,
        goal_texts=["The discount must never make a price negative"],
    )
    (view,) = bundle.files
    assert "    return round(price * (1 - checked), 2)" in view.content
    assert_view_is_faithful(view.content, source)


def test_read_only_file_may_be_an_outline_but_a_scope_file_never_is(tmp_path: Path) -> None:
    source = large_module()
    write(tmp_path, "ref.py", source)
    write(tmp_path, "edit.py", source)
    words = ["Unrelated words only"]
    read_only = select_context(
        tmp_path, Scope(paths=[], read_only_context=["ref.py"]), token_budget=300, goal_texts=words
    ).files[0]
    editable = select_context(
        tmp_path, Scope(paths=["edit.py"]), token_budget=300, goal_texts=words
    ).files[0]
    body = [ln for ln in editable.content.split("\n") if not ln.startswith("...")]
    assert len(body) > 10  # real lines to edit, not only markers
    assert read_only.tokens <= 300 and editable.tokens <= 300
    assert_view_is_faithful(read_only.content, source)
    assert_view_is_faithful(editable.content, source)


def test_large_scope_files_share_the_budget(tmp_path: Path) -> None:
    write(tmp_path, "a.py", large_module())
    write(tmp_path, "b.py", large_module())
    scope = Scope(paths=["a.py", "b.py"])
    bundle = select_context(
        tmp_path, scope, token_budget=2_000, goal_texts=["apply_discount rounding"]
    )
    a, b = (cut_file(bundle.files, p) for p in ("a.py", "b.py"))
    assert TARGET_BODY in a.content and TARGET_BODY in b.content
    assert abs(a.tokens - b.tokens) < 400


def test_javascript_file_cut_around_named_function(tmp_path: Path) -> None:
    parts = ["import { log } from './log.js';", ""]
    for i in range(600):
        if i == 300:
            parts += ["export function chargeCard(amount) {", "  return send(amount);", "}", ""]
        parts += [f"function pad{i}(x) {{", f"  return x + {i};", "}", ""]
    parts += ["function send(amount) {", "  return log(amount);", "}", ""]
    source = "\n".join(parts)
    write(tmp_path, "web/pay.js", source)
    bundle = select_context(
        tmp_path,
        Scope(paths=["web/pay.js"], deliverables=["web/pay.js::chargeCard"]),
        token_budget=400,
    )
    (view,) = bundle.files
    assert "export function chargeCard(amount) {\n  return send(amount);\n}" in view.content
    assert "function send(amount) {\n  return log(amount);\n}" in view.content  # the callee
    assert view.content.startswith("import { log } from './log.js';")
    assert_view_is_faithful(view.content, source)


def test_repo_map_is_its_own_prompt_section_within_the_budget(tmp_path: Path) -> None:
    write(tmp_path, "shop/pricing.py", large_module(300))
    write(
        tmp_path,
        "shop/cart.py",
        "from shop.pricing import apply_discount\n\n\n"
        "def cart_total(prices):\n    return sum(apply_discount(p, 0.2) for p in prices)\n",
    )
    write(tmp_path, "shop/tax.py", "def tax_for(region):\n    return 0.2\n")
    budget = 3_000
    bundle = select_context(
        tmp_path,
        Scope(paths=["shop/cart.py"]),
        token_budget=budget,
        goal_texts=["Apply tax_for in cart_total"],
        repo_map_tokens=400,
    )
    assert bundle.repo_map and bundle.tokens_used <= budget
    assert "def tax_for(region):" in bundle.repo_map
    assert "shop/cart.py" not in bundle.repo_map  # shown whole already
    record = bundle.to_record()["repo_map"]
    assert record["tokens"] <= 400 and "shop/tax.py" in record["files"]
    prompt = render_builder_prompt(
        BuilderContext(
            run_id="r",
            phase_id="p",
            goal="g",
            phase_name="n",
            files=[FileContext(f.path, f.content, f.truncated) for f in bundle.files],
            repo_map=bundle.repo_map,
        )
    ).user
    files_at = prompt.index("### shop/cart.py")
    map_at = prompt.index("## Repository map")
    assert files_at < map_at and bundle.repo_map.rstrip() in prompt


def test_map_yields_to_scope_files_that_fit_whole(tmp_path: Path) -> None:
    source = large_module(150)  # about 2,900 tokens
    write(tmp_path, "pricing.py", source)
    write(tmp_path, "other.py", "def other_function():\n    return 1\n")
    tokens = estimate_tokens_by_chars(source)
    bundle = select_context(
        tmp_path, Scope(paths=["pricing.py"]), token_budget=tokens + 100, repo_map_tokens=2_000
    )
    (whole,) = bundle.files
    assert not whole.truncated and whole.content == source
    record = bundle.to_record()["repo_map"]
    assert record["token_budget"] == 100 and bundle.tokens_used <= tokens + 100
