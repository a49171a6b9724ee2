"""``.autopack.yaml``: what a repository says about preparing its own environment.

An optional file at the repository's root, read (never written) when a run starts, from
the run's worktree, so it is the file as committed at the run's base ref::

    setup:                      # commands run in the environment before the baseline
      - make generate
    env:                        # variables every project command gets
      DJANGO_SETTINGS_MODULE: app.settings.test
    protected_paths:            # never edited by any run (applied by governed apply,
      - migrations/             # workspace.guards.project_protected_paths)
    governance:                 # how requests to change protected paths are decided
      critical: [migrations/]   # (workspace.governance.project_governance)
    notifications:              # who hears about this project's runs (channels are
      - channel: ops-telegram   # configured in settings: AUTOPACK_NOTIFY_CHANNELS)
        events: [approval_needed, run_failed]   # default: every event

Only these keys exist; anything else is an error that names the key, so a typo never
passes silently. The plan wins over the file (:func:`merge_overrides`): a plan's ``setup``
replaces the file's (a sequence of commands is only meaningful as a whole), and a plan's
``env`` wins name by name over the file's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from autopack.domain.plan import ENV_NAME_RE, RunSpec
from autopack.domain.states import NotificationEvent
from autopack.errors import ConfigurationError
from autopack.workspace.governance import GovernanceConfig

PROJECT_CONFIG_FILE = ".autopack.yaml"


#: The events a route takes when it names none (``test`` is only ever sent on request).
RUN_EVENTS: tuple[NotificationEvent, ...] = tuple(
    e for e in NotificationEvent if e is not NotificationEvent.TEST
)


class NotificationRoute(BaseModel):
    """One ``notifications:`` entry: a channel (by its name in settings) and its events."""

    model_config = ConfigDict(extra="forbid")

    channel: str = Field(min_length=1, max_length=64)
    events: list[NotificationEvent] = Field(default_factory=lambda: list(RUN_EVENTS))


class ProjectConfig(BaseModel):
    """The contents of a repository's ``.autopack.yaml``."""

    model_config = ConfigDict(extra="forbid")

    setup: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    #: Read here so the file validates as a whole; enforced at every apply by
    #: :func:`autopack.workspace.guards.project_protected_paths`.
    protected_paths: list[str] = Field(default_factory=list)
    #: Enforced at every apply by :func:`autopack.workspace.governance.project_governance`.
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)
    #: Read by services/notifications.py when a run's event is queued.
    notifications: list[NotificationRoute] | None = None

    @field_validator("setup", mode="before")
    @classmethod
    def _one_command(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @field_validator("env", mode="before")
    @classmethod
    def _scalar_values(cls, value: Any) -> Any:
        # YAML reads `DEBUG: 1` as an int and `FLAG: yes` as a bool; a variable is text.
        if value is None:
            return {}
        if isinstance(value, Mapping):
            return {
                str(k): (str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in value.items()
            }
        return value

    @field_validator("env")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not ENV_NAME_RE.fullmatch(name)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a variable name")
        return value


class EnvironmentOverrides(BaseModel):
    """What detection cannot know, from the plan and ``.autopack.yaml`` together."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    setup: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    sources: list[str] = Field(
        default_factory=list, description="Where the overrides came from, for the report."
    )


def read_project_config(root: Path) -> ProjectConfig | None:
    """The repository's ``.autopack.yaml``, or None when it has none.

    Raises ConfigurationError naming the file, the line where YAML tells it, and the key.
    """
    path = root / PROJECT_CONFIG_FILE
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{PROJECT_CONFIG_FILE}:{mark.line + 1}" if mark else PROJECT_CONFIG_FILE
        raise ConfigurationError(
            f"{where}: YAML syntax error: {exc.problem or exc.context}; fix the file (it is "
            "read from the repository at the run's base ref)",
            path=str(path),
        ) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(
            f"{PROJECT_CONFIG_FILE}: cannot read it: {exc}", path=str(path)
        ) from None
    if data is None:
        return ProjectConfig()
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            f"{PROJECT_CONFIG_FILE}: expected a mapping with 'setup', 'env', "
            "'protected_paths' and/or 'notifications', "
            f"found {type(data).__name__}",
            path=str(path),
        )
    try:
        return ProjectConfig.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}"
            for err in exc.errors(include_url=False)[:5]
        )
        raise ConfigurationError(
            f"{PROJECT_CONFIG_FILE}: {problems} (allowed keys: setup, a list of commands; "
            "env, a mapping of NAME: value; protected_paths, a list of path patterns; governance, "
            "a mapping with critical, low_risk and auto_approve_low_risk; notifications, a list "
            "of {channel: NAME, events: [...]})",
            path=str(path),
        ) from None


def merge_overrides(spec: RunSpec, config: ProjectConfig | None) -> EnvironmentOverrides:
    """The plan's overrides over the file's: ``setup`` from the plan when it gives any,
    else from the file; ``env`` from both, the plan winning name by name."""
    sources: list[str] = []
    file_setup = config.setup if config else []
    file_env = config.env if config else {}
    if config is not None and (config.setup or config.env):
        sources.append(PROJECT_CONFIG_FILE)
    if spec.setup or spec.env:
        sources.append("plan")
    return EnvironmentOverrides(
        setup=list(spec.setup or file_setup),
        env={**file_env, **spec.env},
        sources=sources,
    )
