"""Governance requests in every answer format the parser accepts, and in the prompt."""

from __future__ import annotations

import json

from autopack.agents.builder import BuilderContext, render_builder_prompt
from autopack.agents.output import parse_model_output
from autopack.domain.governance import AccessRequest

REQUEST = json.dumps(
    {"op": "request_access", "paths": ["config/app.toml"], "reason": "raise the limit"}
)
EXPECTED = [AccessRequest(paths=("config/app.toml",), reason="raise the limit")]


def test_ndjson_answer_with_a_request_line() -> None:
    edit = json.dumps({"op": "replace_file", "path": "config/app.toml", "content": "x = 2\n"})
    parsed = parse_model_output(f"{REQUEST}\n{edit}\n")
    assert parsed.format == "ndjson"
    assert parsed.requests == EXPECTED
    assert [e.path for e in parsed.edits] == ["config/app.toml"]
    assert parsed.errors == []


def test_files_object_with_request_access() -> None:
    answer = json.dumps(
        {
            "files": [{"path": "config/app.toml", "mode": "modify", "new_content": "x = 2\n"}],
            "request_access": [{"paths": ["config/app.toml"], "reason": "raise the limit"}],
        }
    )
    parsed = parse_model_output(answer)
    assert parsed.format == "files_json"
    assert parsed.requests == EXPECTED
    assert [e.path for e in parsed.edits] == ["config/app.toml"]


def test_search_replace_blocks_with_a_request_line() -> None:
    answer = f"{REQUEST}\nconfig/app.toml\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n"
    parsed = parse_model_output(answer)
    assert parsed.format == "search_replace"
    assert parsed.requests == EXPECTED
    assert [e.path for e in parsed.edits] == ["config/app.toml"]


def test_unified_diff_with_a_request_line() -> None:
    answer = (
        f"{REQUEST}\n--- a/config/app.toml\n+++ b/config/app.toml\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    )
    parsed = parse_model_output(answer)
    assert parsed.format == "unified_diff"
    assert parsed.requests == EXPECTED
    assert [e.path for e in parsed.edits] == ["config/app.toml"]


def test_one_path_aliases_and_malformed_requests() -> None:
    one = json.dumps({"op": "request", "path": "a.db", "why": "fixture"})
    bad = json.dumps({"op": "request_access", "reason": "no paths"})
    edit = json.dumps({"op": "create", "path": "b.py", "content": "x = 1\n"})
    parsed = parse_model_output(f"{one}\n{bad}\n{edit}\n")
    assert parsed.requests == [AccessRequest(paths=("a.db",), reason="fixture")]
    assert [d.line for d in parsed.errors] == [2]
    assert "paths" in parsed.errors[0].reason
    assert [e.path for e in parsed.edits] == ["b.py"]


def test_the_builder_prompt_explains_how_to_ask_and_lists_protected_paths() -> None:
    ctx = BuilderContext(
        run_id="r",
        phase_id="p",
        goal="g",
        phase_name="n",
        protected_paths=("config/", ".env"),
    )
    prompt = render_builder_prompt(ctx)
    assert '"op": "request_access"' in prompt.system
    assert "always refused" in prompt.system
    assert "## Protected paths" in prompt.user
    assert "- config/" in prompt.user
