"""Which sqlite3 module the engine uses: Python's own, or sqlean.py when Python's own
cannot load extensions (so sqlite-vec can hold the memory's vectors)."""

from __future__ import annotations

import sqlite3
import sys
import types
from pathlib import Path

import pytest
from sqlalchemy import text

from autopack.db.session import make_engine, sqlite_module

CAN_LOAD = hasattr(sqlite3.Connection, "enable_load_extension")


def test_sqlean_is_taken_only_when_pythons_sqlite3_cannot_load_extensions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = types.ModuleType("sqlean")
    monkeypatch.setitem(sys.modules, "sqlean", fake)
    assert sqlite_module() is (None if CAN_LOAD else fake)
    monkeypatch.setitem(sys.modules, "sqlean", None)  # not installed: the import fails
    assert sqlite_module() is None


def test_the_engine_can_load_extensions_when_sqlean_is_installed(tmp_path: Path) -> None:
    if not CAN_LOAD:
        pytest.importorskip("sqlean", reason="sqlean.py comes with the semantic extra")
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert hasattr(raw, "enable_load_extension")
        assert conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
