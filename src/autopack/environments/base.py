"""What an environment is: the spec a plan gives, and the prepared environment it gets.

:class:`EnvironmentSpec` is what detection cannot know (a plan's or ``.autopack.yaml``'s
``setup`` commands and ``env`` variables, and whether to stay offline).
:class:`Environment` is what :func:`autopack.environments.prepare_environment` returns and
what ``env.json`` holds: where the environment is, what is in it, and the variables a
project command must run with (:meth:`Environment.command_env`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from autopack.errors import EnvironmentBuildError

__all__ = [
    "Environment",
    "EnvironmentBuildError",
    "EnvironmentSpec",
    "autopack_paths",
    "sanitized_path",
]


class EnvironmentSpec(BaseModel):
    """What the plan (or ``.autopack.yaml``) says about the project's environment.

    ``setup`` commands run once per worktree and environment key, inside the environment
    (its PATH and variables), in the worktree, after the dependencies are installed and
    before the baseline. ``env`` variables are given to every project command. ``offline``
    keeps every tool off the network (``uv --offline``, ``npm --offline``, ``GOPROXY=off``,
    ``cargo --offline``).
    """

    model_config = ConfigDict(extra="forbid")

    setup: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    offline: bool = False


class Environment(BaseModel):
    """A prepared environment for one worktree; also the content of ``env.json``.

    ``root`` is ``AUTOPACK_HOME/envs/<key>/`` (None when no toolchain was detected).
    ``bin_dirs`` go first on PATH, in order. For Python, ``interpreter`` is the python a
    project command must use: the worktree's own overlay interpreter, which sees the shared
    dependencies and the project installed editable from this worktree (see the package
    docstring). ``reused`` is True when the keyed environment was found ready.
    """

    model_config = ConfigDict(extra="forbid")

    key: str
    toolchain: str | None
    root: Path | None
    bin_dirs: list[Path] = Field(default_factory=list)
    variables: dict[str, str] = Field(default_factory=dict)
    interpreter: str | None = None
    tool_versions: dict[str, str] = Field(default_factory=dict)
    installed: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    reused: bool = False
    #: Seconds the keyed build took (when it was built, even if reused now).
    build_seconds: float = 0.0
    #: Seconds this prepare call took (build, attach and setup; a lookup when reused).
    prepare_seconds: float = 0.0
    size_bytes: int = 0
    setup_log: Path | None = None
    #: True when ``python -m pytest`` works in this environment (declared by the project or
    #: added by Autopack). unittest-style suites are then run through pytest, which collects
    #: ``unittest.TestCase`` classes and writes per-test JUnit results.
    pytest_available: bool = False
    #: When the keyed environment was built (UTC, ISO 8601) and last handed out.
    created_at: str | None = None
    last_used_at: str | None = None
    #: The per-worktree directory (Python: the overlay virtualenv; others: a stamp only).
    worktree_dir: Path | None = None

    def command_env(self) -> dict[str, str]:
        """Variables for ``run_command(env=...)``.

        PATH is :attr:`bin_dirs` followed by the system PATH with every Autopack path
        removed (the interpreter running Autopack, its virtualenv); then
        :attr:`variables`. Autopack's own ``AUTOPACK_*`` variables and API keys never
        appear: nothing here copies the process environment beyond PATH, and the runner's
        allow-list drops the rest.
        """
        path = os.pathsep.join([*(str(d) for d in self.bin_dirs), sanitized_path()])
        env = {key: value for key, value in self.variables.items() if key != "PATH"}
        env["PATH"] = path.strip(os.pathsep)
        return env


def autopack_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Directories that belong to the Python running Autopack: the bin directory of the
    virtualenv it runs from, and of the virtualenv that was active when it started. None
    of them may be on a project command's PATH, or the project would run with Autopack's
    packages."""
    source = os.environ if environ is None else environ
    found: list[Path] = []
    # Only a virtualenv's bin is Autopack's own: a system interpreter's directory
    # (/usr/bin) also holds git and sh, and the environment's bin comes first anyway.
    if sys.base_prefix != sys.prefix:
        found += [Path(sys.prefix) / "bin", Path(sys.executable).parent]
    venv = source.get("VIRTUAL_ENV")
    if venv:
        found.append(Path(venv) / "bin")
    return found


def sanitized_path(environ: Mapping[str, str] | None = None) -> str:
    """The system PATH without any Autopack path (:func:`autopack_paths`)."""
    source = os.environ if environ is None else environ
    banned: set[str] = set()
    for path in autopack_paths(source):
        banned |= {str(path), os.path.realpath(path)}
    kept: list[str] = []
    for entry in source.get("PATH", "").split(os.pathsep):
        if not entry or entry in kept:
            continue
        if entry in banned or os.path.realpath(entry) in banned:
            continue
        kept.append(entry)
    return os.pathsep.join(kept)
