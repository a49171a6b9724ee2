"""Fixtures for the LLM layer: providers' documented HTTP bodies behind httpx2.MockTransport.

The official SDKs use ``httpx2``; a MockTransport answers every request, so no test can
reach the network.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

Handler = Callable[[httpx2.Request], httpx2.Response]


def anthropic_events(
    text: str,
    *,
    stop_reason: str = "end_turn",
    input_tokens: int = 25,
    output_tokens: int = 15,
    model: str = "claude-sonnet-4-5-20250929",
) -> list[dict[str, Any]]:
    """The Messages streaming events of one text answer, as Anthropic documents them."""
    return [
        {
            "type": "message_start",
            "message": {
                "id": "msg_01",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": model,
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text[: len(text) // 2]},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text[len(text) // 2 :]},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    ]


def sse_response(events: list[dict[str, Any]]) -> httpx2.Response:
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, text=body)


def anthropic_error(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> httpx2.Response:
    return httpx2.Response(
        status,
        headers=headers,
        json={"type": "error", "error": {"type": error_type, "message": message}},
    )


def openai_completion(
    text: str,
    *,
    finish_reason: str = "stop",
    usage: dict[str, Any] | None = None,
    model: str = "gpt-5-2025-08-07",
) -> httpx2.Response:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "message": {"role": "assistant", "content": text},
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return httpx2.Response(200, json=body)


def openai_error(
    status: int,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    return httpx2.Response(
        status,
        headers=headers,
        json={"error": {"message": message, "type": error_type, "param": None, "code": code}},
    )


class Recorder:
    """A MockTransport handler answering from a queue and keeping every request."""

    def __init__(self, *responses: httpx2.Response | Handler) -> None:
        self.responses = list(responses)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if not self.responses:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        item = self.responses.pop(0)
        return item(request) if callable(item) else item

    def body(self, index: int = -1) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.requests[index].content)
        return data

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self))


@pytest.fixture
def http() -> type[Recorder]:
    return Recorder


@pytest.fixture
def bodies() -> Any:
    class Bodies:
        anthropic_events = staticmethod(anthropic_events)
        sse = staticmethod(sse_response)
        anthropic_error = staticmethod(anthropic_error)
        openai_completion = staticmethod(openai_completion)
        openai_error = staticmethod(openai_error)

    return Bodies
