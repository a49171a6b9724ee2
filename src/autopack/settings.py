"""Settings: the one place Autopack reads its environment.

Every variable has the prefix ``AUTOPACK_``. Code receives a :class:`Settings` object
explicitly (``get_settings()`` at the entry points); nothing else reads ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Settings(BaseSettings):
    """Autopack configuration, read from ``AUTOPACK_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="AUTOPACK_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path.home() / ".autopack",
        description="Data directory: database, worktrees, run artifacts, audit logs.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Default: a SQLite file `autopack.db` in HOME. "
        "Production: postgresql+psycopg://user@host/db",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated API keys accepted by the server, besides keys created "
        "with `autopack apikey create`.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated Host header values the server answers besides the "
        "address it is bound to (e.g. `autopack.internal,autopack.internal:8443`); a name "
        "without a port matches any port. Other hosts get 421.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated browser origins (`https://tools.example.com`) allowed "
        "to send state-changing requests; other cross-site origins get 403.",
    )

    # Request limits.
    max_body_bytes: int = Field(default=5_000_000, ge=1024)
    run_create_rate_per_minute: int = Field(default=30, ge=1)

    # Executor limits.
    executor_pool_size: int = Field(default=2, ge=1, le=64)
    lease_seconds: int = Field(default=120, ge=5)
    command_timeout_seconds: float = Field(default=600.0, gt=0)
    approval_expire_after_minutes: int | None = Field(
        default=None,
        ge=1,
        description="Default for plans without `approvals.expire_after_minutes`: a pending "
        "approval older than this expires (unset: approvals wait for ever).",
    )
    approval_expiry_check_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often `autopack serve` and `autopack worker` expire approvals "
        "that waited past their time.",
    )
    approval_on_expiry: Literal["reject", "fail_phase"] = Field(
        default="reject",
        description="Default for plans without `approvals.on_expiry`: an expired approval "
        "counts as a rejection (the Builder tries again, told why) or fails the phase.",
    )

    # Remote workers (`autopack worker`, PostgreSQL only).
    execution: Literal["auto", "local", "queue"] = Field(
        default="auto",
        description="Where POST /runs/{id}/execute runs a run: `queue` defers a job for "
        "`autopack worker` processes (PostgreSQL only), `local` uses the server's own pool, "
        "`auto` queues on PostgreSQL and uses the local pool on SQLite.",
    )
    worker_concurrency: int = Field(
        default=1, ge=1, le=64, description="Runs one `autopack worker` executes at once."
    )
    worker_heartbeat_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often a worker records its heartbeat and looks for stalled jobs.",
    )
    worker_stale_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A worker whose heartbeat is older than this is stale: `workers list` "
        "says so and its jobs are recovered by the other workers.",
    )
    worker_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Fallback poll for new jobs; workers start jobs at once on notification.",
    )

    # LLM selection.
    llm_provider: str | None = Field(
        default=None,
        description="Force one provider (anthropic, openai, scripted, or a name from "
        "config/models.yaml). Default: route by config.",
    )
    llm_script: Path | None = Field(default=None, description="JSONL script for `scripted`.")
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1"
    )
    llm_model: str | None = Field(default=None, description="Model for llm_base_url.")
    models_config: Path | None = Field(
        default=None, description="Path to models.yaml. Default: the bundled config."
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Notifications (autopack.notifications; docs/operations.md, Notifications).
    notify_channels: SecretStr = Field(
        default=SecretStr(""),
        description="Notification channels as JSON, name -> config, e.g. "
        '{"ops": {"kind": "webhook", "url": "https://hooks.example.com/ap", "secret": "..."}}; '
        "kinds: webhook, slack, telegram, email. Kept secret: it holds tokens.",
    )
    notify_max_attempts: int = Field(
        default=6, ge=1, le=50, description="Deliveries tried before a notification is dead."
    )
    notify_retry_seconds: float = Field(
        default=30.0,
        gt=0,
        description="First retry delay; each further retry waits twice as long (with jitter).",
    )
    notify_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often the background sender looks for due rows."
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="The server's address as people reach it (https://autopack.example.com); "
        "notifications link to runs and carry signed approve/reject links only when set.",
    )
    decision_link_hours: float = Field(
        default=72.0, gt=0, description="How long a signed approve/reject link stays valid."
    )
    telegram_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The secret_token given to Telegram's setWebhook; POST /telegram/webhook "
        "refuses requests without it (and is off while unset).",
    )

    # Project environments (autopack.environments).
    env_find_links: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Directories of wheels (comma-separated) that uv may install from, "
        "for offline or air-gapped machines (uv --find-links).",
    )
    env_offline: bool = Field(
        default=False,
        description="Build every project environment without the network (uv --offline, "
        "npm --offline, GOPROXY=off, cargo --offline).",
    )
    env_cache_dir: Path | None = Field(
        default=None,
        description="Package managers' shared download cache. Default: HOME/cache.",
    )
    env_build_timeout_seconds: float = Field(
        default=1800.0, gt=0, description="The longest one environment build may take."
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        # Host names and origins compare case-insensitively; a trailing "/" on an origin
        # is a common copy-paste from a browser's address bar.
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            return [str(v).strip().lower().rstrip("/") for v in value if str(v).strip()]
        return value

    @field_validator("env_find_links", mode="before")
    @classmethod
    def _split_find_links(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(p.strip()).expanduser() for p in value.split(",") if p.strip()]
        return value

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def effective_database_url(self) -> str:
        """The database URL in use: the configured one, or the embedded SQLite default."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'autopack.db'}"

    @property
    def is_embedded_database(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def uses_job_queue(self) -> bool:
        """True when runs are executed by `autopack worker` processes through the queue."""
        if self.execution == "auto":
            return not self.is_embedded_database
        return self.execution == "queue"

    @property
    def runs_dir(self) -> Path:
        """Where run artifacts live: ``HOME/.autonomous_runs/<run_id>/``."""
        return self.home / ".autonomous_runs"

    @property
    def envs_dir(self) -> Path:
        """Where project environments live: ``HOME/envs/<key>/``."""
        return self.home / "envs"

    @property
    def effective_env_cache_dir(self) -> Path:
        return self.env_cache_dir or self.home / "cache"

    @property
    def repomap_cache_dir(self) -> Path:
        """Parsed tree-sitter tags per file content hash: ``HOME/cache/repomap/``."""
        return self.home / "cache" / "repomap"

    @property
    def worktrees_dir(self) -> Path:
        return self.home / "worktrees"

    @property
    def audit_log_path(self) -> Path:
        return self.home / "db_repair_audit.jsonl"

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS

    def plain_api_keys(self) -> list[str]:
        return [k.get_secret_value() for k in self.api_keys]


CONFIG_FILE_NAME = "config.env"


def config_file(home: Path) -> Path:
    """The configuration file ``autopack init`` writes: ``HOME/config.env``."""
    return home / CONFIG_FILE_NAME


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings: ``AUTOPACK_*`` environment variables, then the
    ``AUTOPACK_NAME=value`` lines of ``HOME/config.env`` for what the environment does not
    set (HOME itself comes from the environment or the default). Tests call
    ``get_settings.cache_clear()`` after changing the environment."""
    settings = Settings()
    path = config_file(settings.home)
    if path.is_file():
        return Settings(_env_file=path, _env_file_encoding="utf-8", home=settings.home)
    return settings
