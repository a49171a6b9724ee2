"""The scripted provider remembers each run's used lines across processes."""

from __future__ import annotations

import json
from pathlib import Path

from autopack.llm.base import LLMRequest, Message
from autopack.llm.scripted import ScriptedProvider, load_script


def _request(run_id: str) -> LLMRequest:
    return LLMRequest(
        role="builder",
        system="s",
        messages=(Message("user", "go"),),
        max_tokens=100,
        run_id=run_id,
        phase_id="p1",
    )


def test_a_new_provider_continues_where_the_run_left_off(tmp_path: Path) -> None:
    script = tmp_path / "s.jsonl"
    script.write_text(
        "".join(
            json.dumps({"role": "builder", "phase_id": "p1", "content": f"answer {i}"}) + "\n"
            for i in range(3)
        )
    )
    state = tmp_path / "state"
    first = ScriptedProvider(load_script(script), source=str(script), state_dir=state)
    assert first.complete(_request("r1")).text == "answer 0"

    # A new process (a resumed run) gets the next line, not the first one again ...
    second = ScriptedProvider(load_script(script), source=str(script), state_dir=state)
    assert second.complete(_request("r1")).text == "answer 1"
    # ... while another run starts from the top.
    assert second.complete(_request("r2")).text == "answer 0"
    assert second.complete(_request("r1")).text == "answer 2"
