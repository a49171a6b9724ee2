"""Node environments: the lock file's package manager installs into the worktree.

``node_modules`` must sit in the worktree (Node resolves packages from the importing
file's directory upwards), so the keyed directory holds only the record; each worktree
gets its own install, from the package manager's shared cache under
``AUTOPACK_HOME/cache/``. The install is exact when a lock file exists (``npm ci``,
``pnpm install --frozen-lockfile``, ``yarn install --frozen-lockfile``). ``node_modules``
is added to the repository's local exclude file (``info/exclude``, never committed) when
the project does not ignore it, so Autopack never commits it.
"""

from __future__ import annotations

import json
from pathlib import Path

from autopack.environments.base import EnvironmentSpec
from autopack.environments.provider import (
    Attachment,
    BuildContext,
    KeyedBuild,
    Provider,
    keep_out_of_commits,
    tool_version,
)


class NodeProvider(Provider):
    name = "node"

    def tools(self, worktree: Path, spec: EnvironmentSpec) -> dict[str, str]:
        manager = package_manager(worktree)
        return {
            "node": tool_version("node", "--version") or "missing",
            manager: tool_version(manager, "--version") or "missing",
        }

    def build(self, ctx: BuildContext) -> KeyedBuild:
        manager = package_manager(ctx.worktree)
        versions = self.tools(ctx.worktree, ctx.spec)
        return KeyedBuild(tool_versions=versions, variables=self._cache_env(ctx, manager))

    def attach(self, ctx: BuildContext, build: KeyedBuild, worktree_dir: Path) -> Attachment:
        manager = package_manager(ctx.worktree)
        bin_dir = ctx.worktree / "node_modules" / ".bin"
        package = _package_json(ctx.worktree)
        declared = any(package.get(k) for k in ("dependencies", "devDependencies"))
        if not declared:
            ctx.log.say("no dependencies declared")
            return Attachment(bin_dirs=[bin_dir])
        keep_out_of_commits(ctx.worktree, "/node_modules/", probe="node_modules/x")
        offline = ["--offline"] if ctx.offline else []
        argv = {
            "npm": ["npm", "ci", "--no-audit", "--no-fund", *offline]
            if _has_npm_lock(ctx.worktree)
            else ["npm", "install", "--no-package-lock", "--no-audit", "--no-fund", *offline],
            "pnpm": ["pnpm", "install", "--frozen-lockfile", *offline],
            "yarn": ["yarn", "install", "--frozen-lockfile", "--non-interactive", *offline],
        }[manager]
        ctx.log.run(
            argv,
            ctx.worktree,
            env={**ctx.base_env(), **build.variables},
            what=f"installing the dependencies with {manager}",
        )
        return Attachment(bin_dirs=[bin_dir], installed=installed_modules(ctx.worktree))

    def still_attached(self, worktree: Path, worktree_dir: Path) -> bool:
        package = _package_json(worktree)
        if not any(package.get(k) for k in ("dependencies", "devDependencies")):
            return True
        return (worktree / "node_modules").is_dir()

    def _cache_env(self, ctx: BuildContext, manager: str) -> dict[str, str]:
        cache = ctx.cache_dir / manager
        return {
            "npm": {"npm_config_cache": str(cache)},
            "pnpm": {"npm_config_store_dir": str(cache)},
            "yarn": {"YARN_CACHE_FOLDER": str(cache)},
        }[manager]


def package_manager(root: Path) -> str:
    if (root / "pnpm-lock.yaml").is_file():
        return "pnpm"
    if (root / "yarn.lock").is_file():
        return "yarn"
    return "npm"


def installed_modules(root: Path) -> list[str]:
    """The top-level packages in ``node_modules``, as ``name@version``."""
    found: list[str] = []
    modules = root / "node_modules"
    for manifest in sorted([*modules.glob("*/package.json"), *modules.glob("@*/*/package.json")]):
        data = _package_json(manifest.parent)
        if data.get("name"):
            found.append(f"{data['name']}@{data.get('version', '?')}")
    return found


def _has_npm_lock(root: Path) -> bool:
    return (root / "package-lock.json").is_file() or (root / "npm-shrinkwrap.json").is_file()


def _package_json(directory: Path) -> dict[str, object]:
    try:
        data = json.loads((directory / "package.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
