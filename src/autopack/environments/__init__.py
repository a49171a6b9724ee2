"""Environments: where a project's dependencies are installed, and how its commands run.

An environment is built once per *key* and reused by every later phase and run while the
key holds. The key (:mod:`.keys`) hashes the toolchain, the tool versions, the project's
manifest and lock files and the spec's setup commands and variables; a phase that edits a
manifest gets a new key and a rebuilt environment.

Layout: ``AUTOPACK_HOME/envs/<key>/`` holds the keyed part (``env.json``, the build log,
Python's shared ``venv/``) and ``worktrees/<id>/``, one private directory per worktree.
Builds are locked per key and ``env.json`` is written last (:mod:`.store`).

The keyed part never points into a worktree, because two runs of one repository share a
key but not a worktree. Python (:mod:`.python`): the keyed venv holds the dependencies
only; each worktree gets an overlay venv that sees them through a ``.pth`` file and has the
project installed editable from that worktree. Node installs into the worktree's own
``node_modules`` from a shared cache; Go and Rust share caches under
``AUTOPACK_HOME/cache/``; Java uses Maven's own local repository.

Project commands never see Autopack: :meth:`Environment.command_env` puts the
environment's bin directories first and removes Autopack's virtualenv from PATH.

Providers, one per toolchain (:mod:`.provider`)::

    prepare_environment(worktree, spec)  ->  detect_best  ->  Provider
        build(ctx)           once per key, under the key's lock
        attach(ctx, ...)     once per worktree and key, then the spec's setup commands
"""

from autopack.environments.base import (
    Environment,
    EnvironmentBuildError,
    EnvironmentSpec,
    sanitized_path,
)
from autopack.environments.keys import manifest_paths
from autopack.environments.prepare import environment_key, prepare_environment
from autopack.environments.store import (
    environment_in_use,
    list_environments,
    prune_environments,
)

__all__ = [
    "Environment",
    "EnvironmentBuildError",
    "EnvironmentSpec",
    "environment_in_use",
    "environment_key",
    "list_environments",
    "manifest_paths",
    "prepare_environment",
    "prune_environments",
    "sanitized_path",
]
