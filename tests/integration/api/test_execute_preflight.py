"""POST /runs/{id}/execute checks the providers before anything exists."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from autopack.api.app import create_app
from autopack.settings import get_settings


def test_execute_without_a_usable_provider_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_home: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.txt").write_text("a\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "i"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    monkeypatch.setenv("AUTOPACK_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("AUTOPACK_LLM_MODEL", "m")
    get_settings.cache_clear()
    spec = {
        "run_id": "api-pre",
        "repo": str(repo),
        "phases": [{"phase_id": "p1", "name": "P", "description": "d"}],
    }
    with TestClient(create_app(get_settings())) as client:
        assert client.post("/runs", json=spec).status_code in (200, 201)
        response = client.post("/runs/api-pre/execute")
        assert response.status_code == 400
        body = response.json()
        assert body["detail"].count("http://127.0.0.1:9/v1") == 1
        assert "nothing was started" in body["detail"]
        assert client.get("/runs/api-pre").json()["state"] == "RUN_CREATED"
    branches = subprocess.run(
        ["git", "branch", "--format=%(refname:short)"], cwd=repo, capture_output=True, text=True
    ).stdout.split()
    assert branches == ["main"] and not (_isolated_home / "worktrees").exists()
