"""What a toolchain's environment provider does, and what it is given.

A provider works in two steps. :meth:`Provider.build` runs once per key, under the key's
lock, and fills the keyed directory that any number of worktrees share (Python: the
dependencies; Go and Rust: the shared caches). :meth:`Provider.attach` runs once per
worktree and key, and connects one worktree to it (Python: the overlay virtualenv with the
project installed editable from that worktree; Node: the worktree's ``node_modules``).
Nothing a provider builds for the key may point into a worktree: two runs of one
repository share the key but not the worktree.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from autopack.environments.base import EnvironmentSpec, sanitized_path
from autopack.environments.build import BuildLog
from autopack.toolchains.base import Detection


@dataclass
class BuildContext:
    """Everything a provider may use: the project, the spec and the build's options."""

    worktree: Path
    spec: EnvironmentSpec
    detection: Detection
    root: Path
    cache_dir: Path
    log: BuildLog
    offline: bool = False
    find_links: list[Path] = field(default_factory=list)

    def base_env(self) -> dict[str, str]:
        """Variables for build commands: Autopack-free PATH plus the spec's variables."""
        return {"PATH": sanitized_path(), **self.spec.env}


class KeyedBuild(BaseModel):
    """What :meth:`Provider.build` made for the key; stored in ``env.json``."""

    model_config = ConfigDict(extra="forbid")

    tool_versions: dict[str, str] = Field(default_factory=dict)
    installed: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    bin_dirs: list[Path] = Field(default_factory=list)
    variables: dict[str, str] = Field(default_factory=dict)
    interpreter: str | None = None
    pytest_available: bool = False


class Attachment(BaseModel):
    """What :meth:`Provider.attach` made for one worktree; stored in ``attached.json``."""

    model_config = ConfigDict(extra="forbid")

    worktree: str = ""
    bin_dirs: list[Path] = Field(default_factory=list)
    variables: dict[str, str] = Field(default_factory=dict)
    interpreter: str | None = None
    installed: list[str] = Field(default_factory=list)


class Provider(ABC):
    """One toolchain's environment builder."""

    name: ClassVar[str]

    @abstractmethod
    def tools(self, worktree: Path, spec: EnvironmentSpec) -> dict[str, str]:
        """The tool identity that goes into the key (versions). Cheap: no building."""

    @abstractmethod
    def build(self, ctx: BuildContext) -> KeyedBuild:
        """Fill ``ctx.root`` for the key. Raise EnvironmentBuildError on failure."""

    def attach(self, ctx: BuildContext, build: KeyedBuild, worktree_dir: Path) -> Attachment:
        """Connect ``ctx.worktree`` to the keyed environment; ``worktree_dir`` is this
        worktree's private directory under the key. Default: nothing per worktree."""
        return Attachment()

    def still_attached(self, worktree: Path, worktree_dir: Path) -> bool:
        """Whether an earlier attachment of this worktree is still in place."""
        return True


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@functools.lru_cache(maxsize=64)
def tool_version(program: str, *args: str) -> str | None:
    """The first line a program prints for its version flag, or None when it is missing.
    Cached per process: tool versions do not change under a running Autopack."""
    path = shutil.which(program, path=sanitized_path())
    if path is None:
        return None
    try:
        done = subprocess.run(
            [path, *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = _ANSI.sub("", done.stdout or done.stderr).strip()
    return text.splitlines()[0].strip() if text else None


def keep_out_of_commits(worktree: Path, pattern: str, *, probe: str) -> None:
    """Add ``pattern`` to the repository's local exclude file (``info/exclude``, never
    committed or pushed) unless the project already ignores ``probe``: what an install
    leaves in the worktree (``node_modules``, ``*.egg-info``) must never be committed by
    a phase."""
    check = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", probe],
        cwd=worktree, capture_output=True, check=False,
    )  # fmt: skip
    if check.returncode == 0:
        return
    found = subprocess.run(
        ["git", "rev-parse", "--git-path", "info/exclude"],
        cwd=worktree, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if found.returncode != 0:
        return  # not a git repository: nothing will be committed
    exclude = Path(found.stdout.strip())
    if not exclude.is_absolute():
        exclude = worktree / exclude
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a", encoding="utf-8") as fh:
        fh.write(f"\n# added by Autopack: installed into worktrees, never committed\n{pattern}\n")
