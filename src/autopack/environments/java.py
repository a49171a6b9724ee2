"""Java environments: Maven's and Gradle's own local repositories, nothing copied.

Maven's local repository (``~/.m2``, or the one ``MAVEN_OPTS=-Dmaven.repo.local=...`` in
the spec names, as Debian's offline ``/usr/share/maven-repo`` setup does) is already shared
under HOME, and the detected test commands run Maven offline (``mvn -o``); so the build
only records the tool versions. The detected Gradle test command carries ``--offline``
itself, so ``offline`` needs nothing more here.
"""

from __future__ import annotations

from pathlib import Path

from autopack.environments.base import EnvironmentSpec
from autopack.environments.provider import BuildContext, KeyedBuild, Provider, tool_version


class JavaProvider(Provider):
    name = "java"

    def tools(self, worktree: Path, spec: EnvironmentSpec) -> dict[str, str]:
        tools = {"java": tool_version("java", "-version") or "missing"}
        if (worktree / "pom.xml").is_file():
            tools["maven"] = tool_version("mvn", "--version") or "missing"
        return tools

    def build(self, ctx: BuildContext) -> KeyedBuild:
        return KeyedBuild(tool_versions=self.tools(ctx.worktree, ctx.spec))
