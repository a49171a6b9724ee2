"""Environment keys: a content hash of what decides an environment's contents.

The key hashes the toolchain and its provider's recipe version, the tool identity
(interpreter version, uv version, node version ...), the bytes of every manifest and lock
file at the project's root, and the spec's setup commands and variables. Anything else a
phase changes (the code, the tests) leaves the key alone, so the environment is reused; a
phase that edits a manifest gets a new key and a rebuilt environment. Computing a key
never builds anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from autopack.environments.base import EnvironmentSpec

#: Bumped when the layout of an environment changes, so old ones are never reused.
FORMAT = 1
#: Bumped per toolchain when what its provider installs from the same manifests changes,
#: so an environment an older Autopack built (with less in it) is not reused.
#: python 2: poetry's test groups installed without poetry (poetry_metadata).
#: python 3: a dev group or extra beside a test one is left out (python.groups_for_tests).
RECIPES: dict[str, int] = {"python": 3}

#: Manifest and lock files, per toolchain, relative to the project's root.
MANIFESTS: dict[str, tuple[str, ...]] = {
    "python": (
        "pyproject.toml", "setup.py", "setup.cfg", "uv.lock", "poetry.lock",
        "requirements*.txt", "requirements/*.txt", ".python-version",
    ),
    "node": ("package.json", "package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml",
             "yarn.lock", ".npmrc"),
    "go": ("go.mod", "go.sum", "go.work", "go.work.sum"),
    "rust": ("Cargo.toml", "Cargo.lock", "rust-toolchain", "rust-toolchain.toml"),
    "java": ("pom.xml", "build.gradle", "build.gradle.kts", "settings.gradle",
             "settings.gradle.kts", "gradle.properties"),
}  # fmt: skip


def manifest_paths(worktree: Path) -> list[str]:
    """The manifest and lock files that feed the key, relative to ``worktree``, sorted.

    A caller that sees a phase touch one of these knows the environment must be prepared
    again (its key will differ)."""
    found: set[str] = set()
    for patterns in MANIFESTS.values():
        for pattern in patterns:
            for path in worktree.glob(pattern):
                if path.is_file():
                    found.add(path.relative_to(worktree).as_posix())
    return sorted(found)


def hash_key(
    worktree: Path,
    spec: EnvironmentSpec,
    *,
    toolchain: str | None,
    tools: Mapping[str, str],
) -> str:
    """The key for these inputs: 20 hex digits of a SHA-256."""
    manifests = {
        rel: hashlib.sha256((worktree / rel).read_bytes()).hexdigest()
        for rel in manifest_paths(worktree)
    }
    payload = {
        "format": FORMAT,
        "recipe": RECIPES.get(toolchain or "", 1),
        "toolchain": toolchain,
        "tools": dict(sorted(tools.items())),
        "manifests": manifests,
        "setup": spec.setup,
        "env": dict(sorted(spec.env.items())),
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    prefix = toolchain or "none"
    return f"{prefix}-{digest[:20]}"
