"""The scripted provider's contract, as the issue states it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autopack.errors import ConfigurationError, ProviderError
from autopack.llm.base import LLMRequest, Message
from autopack.llm.scripted import ScriptedConfig, ScriptedProvider, load_script


def write_script(path: Path, *lines: dict[str, object]) -> Path:
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def ask(provider: ScriptedProvider, role: str, phase_id: str | None = None) -> str:
    request = LLMRequest(
        role=role,
        system="sys",
        messages=(Message("user", "hello"),),  # type: ignore[arg-type]
        max_tokens=100,
        phase_id=phase_id,
        model="scripted",
    )
    return provider.complete(request).text


def test_first_unused_matching_line_by_role_and_phase(tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "s.jsonl",
        {"role": "auditor", "content": "audit-1"},
        {"role": "builder", "phase_id": "p2", "content": "build-p2"},
        {"role": "builder", "content": "build-any"},
        {"role": "*", "content": "wildcard"},
    )
    provider = ScriptedProvider.from_config(ScriptedConfig(), script=script)
    assert ask(provider, "builder", "p1") == "build-any"  # the p2 line does not match p1
    assert ask(provider, "builder", "p2") == "build-p2"
    assert ask(provider, "doctor", "p1") == "wildcard"
    assert ask(provider, "auditor") == "audit-1"
    assert provider.remaining == 0


def test_no_matching_line_names_role_and_phase(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.jsonl", {"role": "builder", "content": "x"})
    provider = ScriptedProvider.from_config(ScriptedConfig(script=script))
    with pytest.raises(ProviderError, match=r"role 'doctor' and phase 'p9'"):
        ask(provider, "doctor", "p9")
    ask(provider, "builder")
    with pytest.raises(ProviderError, match=r"role 'builder'.*1 of 1 lines used"):
        ask(provider, "builder")


def test_usage_given_is_exact_and_absent_is_estimated(tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "s.jsonl",
        {"role": "builder", "content": "a", "usage": {"prompt_tokens": 10, "completion_tokens": 3}},
        {"role": "builder", "content": "b" * 40},
        {"role": "builder", "content": "c", "usage": {"total_tokens": 50}},
    )
    provider = ScriptedProvider(load_script(script))
    request = LLMRequest(
        role="builder",
        system="s" * 40,
        messages=(Message("user", "u"),),
        max_tokens=10,
        model="scripted",
    )
    given, estimated, total_only = (provider.complete(request) for _ in range(3))
    assert (given.usage.prompt_tokens, given.usage.completion_tokens) == (10, 3)
    assert given.usage.exact
    assert not estimated.usage.exact and estimated.usage.completion_tokens == 10
    assert estimated.usage.prompt_tokens is not None and estimated.usage.prompt_tokens > 0
    assert total_only.usage.prompt_tokens is None and total_only.usage.total_tokens == 50
    assert given.provider == given.model == "scripted"


def test_max_tokens_stop_reason_is_truncated(tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "s.jsonl",
        {"role": "builder", "content": "cut", "stop_reason": "max_tokens"},
        {"role": "builder", "content": "done"},
    )
    provider = ScriptedProvider(load_script(script))
    request = LLMRequest(
        role="builder", system="", messages=(Message("user", "u"),), max_tokens=10, model="scripted"
    )
    first, second = provider.complete(request), provider.complete(request)
    assert first.truncated and first.stop_reason == "max_tokens"
    assert not second.truncated and second.stop_reason == "end"


def test_bad_line_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(
        '{"role": "builder", "content": "ok"}\n\n{"role": "boss", "content": 1}\n', encoding="utf-8"
    )
    with pytest.raises(ConfigurationError, match=r"s\.jsonl:3: .*role"):
        load_script(path)
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"s\.jsonl:1"):
        load_script(path)


def test_missing_script_setting_and_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="AUTOPACK_LLM_SCRIPT"):
        ScriptedProvider.from_config(ScriptedConfig())
    with pytest.raises(ConfigurationError, match="cannot read"):
        ScriptedProvider.from_config(ScriptedConfig(), script=tmp_path / "missing.jsonl")
