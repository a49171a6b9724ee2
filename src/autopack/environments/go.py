"""Go environments: shared module and build caches, modules downloaded first.

``GOMODCACHE`` and ``GOCACHE`` live under ``AUTOPACK_HOME/cache/go`` and are shared by
every key; the key's build runs ``go mod download`` so a later offline test run finds
every module. Offline builds set ``GOPROXY=off`` (a local ``replace`` still works).
"""

from __future__ import annotations

from pathlib import Path

from autopack.environments.base import EnvironmentSpec
from autopack.environments.provider import BuildContext, KeyedBuild, Provider, tool_version


class GoProvider(Provider):
    name = "go"

    def tools(self, worktree: Path, spec: EnvironmentSpec) -> dict[str, str]:
        return {"go": tool_version("go", "env", "GOVERSION") or "missing"}

    def build(self, ctx: BuildContext) -> KeyedBuild:
        cache = ctx.cache_dir / "go"
        variables = {"GOMODCACHE": str(cache / "mod"), "GOCACHE": str(cache / "build")}
        if ctx.offline:
            variables["GOPROXY"] = "off"
        variables["GOFLAGS"] = "-mod=mod"
        ctx.log.run(
            ["go", "mod", "download"],
            ctx.worktree,
            env={**ctx.base_env(), **variables},
            what="downloading the modules",
        )
        # -mod=mod was for the download only (it lets go fill in a missing go.sum entry);
        # tests run with the project's own module mode.
        variables.pop("GOFLAGS")
        return KeyedBuild(tool_versions=self.tools(ctx.worktree, ctx.spec), variables=variables)
