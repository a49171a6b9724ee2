"""select_context never reads a protected or secret file, however it is reached."""

from __future__ import annotations

import os
from pathlib import Path

from autopack.domain.plan import Scope
from autopack.executor.context import ContextBundle, select_context

SECRET = "sk-ant-api03-never-in-a-prompt-0123456789"


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def shown(bundle: ContextBundle) -> str:
    return "".join(f.content for f in bundle.files)


def omitted(bundle: ContextBundle) -> dict[str, str]:
    return {o.path: o.reason for o in bundle.omitted}


def test_read_only_context_naming_secrets_is_left_out_with_the_reason(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".env": f"KEY={SECRET}\n",
            ".env.production": f"KEY={SECRET}\n",
            "deploy/id_ed25519": SECRET,
            "certs/server.pem": SECRET,
            ".aws/credentials": SECRET,
            "docs/notes.md": "# Notes\n",
        },
    )
    scope = Scope(
        paths=["docs/"],
        read_only_context=[".env", ".env.production", "deploy/id_ed25519", "certs/", ".aws/"],
    )
    bundle = select_context(tmp_path, scope, token_budget=10_000)
    assert [f.path for f in bundle.files] == ["docs/notes.md"]
    assert SECRET not in shown(bundle)
    assert omitted(bundle) == {
        ".env": "protected (.env): never shown to a model",
        ".env.production": "protected (.env.*): never shown to a model",
        "deploy/id_ed25519": "protected (id_ed25519*): never shown to a model",
        "certs/server.pem": "protected (*.pem): never shown to a model",
        ".aws/credentials": "protected (.aws/): never shown to a model",
    }
    # The reasons are part of what the executor stores for the attempt.
    assert {o["path"] for o in bundle.to_record()["omitted"]} == set(omitted(bundle))


def test_a_directory_in_scope_skips_its_secret_files(tmp_path: Path) -> None:
    write(tmp_path, {"app/main.py": "x = 1\n", "app/.env": SECRET, "app/app.db": SECRET})
    bundle = select_context(tmp_path, Scope(paths=["app/"]), token_budget=10_000)
    assert [f.path for f in bundle.files] == ["app/main.py"]
    assert set(omitted(bundle)) == {"app/.env", "app/app.db"}


def test_phase_and_caller_protected_paths_apply_to_the_import_walk(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/main.py": "from app import prod_settings, vault\n",
            "app/__init__.py": "",
            "app/prod_settings.py": f"KEY = '{SECRET}'\n",
            "app/vault.py": f"KEY = '{SECRET}'\n",
        },
    )
    scope = Scope(paths=["app/main.py"], protected_paths=["app/prod_settings.py"])
    bundle = select_context(tmp_path, scope, token_budget=10_000, protected=["vault.py"])
    assert "app/prod_settings.py" not in [f.path for f in bundle.files]
    assert "app/vault.py" not in [f.path for f in bundle.files]
    assert SECRET not in shown(bundle)


def test_a_symlink_to_a_secret_file_is_judged_by_its_target(tmp_path: Path) -> None:
    write(tmp_path, {".env": SECRET, "docs/readme.md": "# Readme\n"})
    os.symlink(tmp_path / ".env", tmp_path / "docs" / "settings.txt")
    bundle = select_context(tmp_path, Scope(paths=["docs/"]), token_budget=10_000)
    assert [f.path for f in bundle.files] == ["docs/readme.md"]
    assert omitted(bundle)["docs/settings.txt"].startswith("protected (.env)")
