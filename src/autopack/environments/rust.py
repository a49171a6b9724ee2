"""Rust environments: the user's cargo registry, one target directory per repository.

Cargo's registry (``CARGO_HOME``, ``~/.cargo`` by default) is already shared under HOME and
is left as it is, so crates fetched before stay usable offline. ``CARGO_TARGET_DIR`` is one
directory per repository under ``AUTOPACK_HOME/cache/cargo-target/``: every worktree and
run of one repository reuses the compiled dependencies, and no ``target/`` appears in the
worktree. The key's build runs ``cargo fetch`` (``--offline`` when offline).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from autopack.environments.base import EnvironmentSpec
from autopack.environments.provider import (
    Attachment,
    BuildContext,
    KeyedBuild,
    Provider,
    tool_version,
)


class RustProvider(Provider):
    name = "rust"

    def tools(self, worktree: Path, spec: EnvironmentSpec) -> dict[str, str]:
        return {"cargo": tool_version("cargo", "--version") or "missing"}

    def build(self, ctx: BuildContext) -> KeyedBuild:
        ctx.log.run(
            ["cargo", "fetch", *(["--offline"] if ctx.offline else [])],
            ctx.worktree,
            env=ctx.base_env(),
            what="fetching the crates",
        )
        return KeyedBuild(tool_versions=self.tools(ctx.worktree, ctx.spec))

    def attach(self, ctx: BuildContext, build: KeyedBuild, worktree_dir: Path) -> Attachment:
        # Per worktree, not per key: two repositories with the same manifests share a key,
        # but each repository (all its worktrees) has its own target directory.
        target = ctx.cache_dir / "cargo-target" / repository_id(ctx.worktree)
        return Attachment(variables={"CARGO_TARGET_DIR": str(target)})


def repository_id(worktree: Path) -> str:
    """One id for every worktree of a repository: a hash of its common git directory."""
    done = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
        cwd=worktree, capture_output=True, text=True, check=False,
    )  # fmt: skip
    anchor = done.stdout.strip() if done.returncode == 0 else str(worktree.resolve())
    return hashlib.sha256(anchor.encode()).hexdigest()[:16]
