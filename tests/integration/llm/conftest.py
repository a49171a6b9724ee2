"""Databases for the LLM layer's integration tests, and providers' HTTP bodies.

``llm_db_url`` is a fresh migrated SQLite file per test, and, when
``AUTOPACK_TEST_POSTGRES_URL`` is set, a PostgreSQL database created for this module
through an AUTOCOMMIT connection and dropped afterwards (truncated between tests).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from autopack.db import migrate
from autopack.db.orm import Base
from autopack.db.session import make_engine, make_session_factory, normalize_url, unit_of_work
from autopack.domain.plan import RunSpec
from autopack.services.runs import create_run

PG_URL = os.environ.get("AUTOPACK_TEST_POSTGRES_URL")


@pytest.fixture(scope="module")
def llm_postgres_url() -> Iterator[str]:
    """This module's own PostgreSQL database, migrated; dropped when the module ends."""
    if not PG_URL:
        pytest.skip("AUTOPACK_TEST_POSTGRES_URL is not set")
    name = f"autopack_llm_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalize_url(PG_URL)).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def llm_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh migrated SQLite database."""
    engine = make_engine(f"sqlite:///{tmp_path / 'llm.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh migrated database on SQLite, and on PostgreSQL when one is configured."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'llm.db'}")
        migrate.upgrade(engine)
    else:
        engine = make_engine(request.getfixturevalue("llm_postgres_url"))
        _truncate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def make_factory() -> Callable[[Engine], sessionmaker[Session]]:
    return make_session_factory


@pytest.fixture
def seed_run(tmp_path: Path) -> Callable[..., None]:
    """Create a run with tiers T1 (p1, p2) and T2 (p3) through the real service."""

    def seed(factory: sessionmaker[Session], run_id: str = "run-1") -> None:
        spec = RunSpec.model_validate(
            {
                "run_id": run_id,
                "goal": "Test usage accounting",
                "tiers": [{"tier_id": "T1", "name": "one"}, {"tier_id": "T2", "name": "two"}],
                "phases": [
                    {"phase_id": "p1", "name": "P1", "tier_id": "T1"},
                    {
                        "phase_id": "p2",
                        "name": "P2",
                        "tier_id": "T1",
                        "task_category": "docs",
                        "complexity": "low",
                    },
                    {"phase_id": "p3", "name": "P3", "tier_id": "T2"},
                ],
            }
        )
        with unit_of_work(factory) as session:
            create_run(session, spec, runs_dir=tmp_path / "runs")

    return seed


# -- providers' documented HTTP bodies ------------------------------------------------


def anthropic_stream(
    text_value: str, input_tokens: int, output_tokens: int, stop_reason: str = "end_turn"
) -> httpx2.Response:
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-sonnet-4-5-20250929",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text_value},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    ]
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, text=body)


def openai_chat(text_value: str, usage: dict[str, int] | None) -> httpx2.Response:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-5-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text_value},
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return httpx2.Response(200, json=body)


@pytest.fixture
def provider_bodies() -> Any:
    class Bodies:
        anthropic = staticmethod(anthropic_stream)
        openai = staticmethod(openai_chat)

    return Bodies
