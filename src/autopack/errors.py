"""Autopack's one exception tree.

Every error Autopack raises on purpose is an :class:`AutopackError`. Adapters translate
third-party errors (SQLAlchemy, git, subprocess, LLM SDKs) into this tree at their edge, so
callers never catch a library's exception. Each class carries the context a person needs to
act on it, and a stable ``code`` that the API puts in its problem documents.

::

    AutopackError
    ├── ConfigurationError           bad settings or config files              (CLI exit 2)
    ├── ValidationError              input that breaks a rule; names the field  (HTTP 422)
    │   └── PlanError                a plan that cannot become a RunSpec
    ├── NotFoundError                unknown run, phase, approval ...           (HTTP 404)
    ├── Forbidden                    the caller's role is below what it asks    (HTTP 403)
    ├── ConflictError                the request clashes with stored state      (HTTP 409)
    │   ├── DuplicateError           an id that already exists
    │   ├── IllegalTransition        a state change the state machine refuses
    │   └── LeaseHeld                another executor holds the run's lease
    ├── InvalidStoredState           a stored value the code does not know      (HTTP 500*)
    ├── SchemaMismatch               database revision differs from the code    (HTTP 503)
    ├── StorageUnavailable           the database cannot be reached             (HTTP 503)
    ├── WorkspaceError               a git command failed (command + stderr)
    ├── ApplyRejected                governed apply refused an attempt's edits  (HTTP 422)
    ├── OutputParseError             a model answer that could not be parsed
    ├── ToolchainError               a toolchain command could not run
    │   └── EnvironmentBuildError    a project's environment could not be built
    ├── BudgetExhausted              a token/time/attempt budget ran out
    ├── DeliveryError                a notification channel could not deliver
    └── ProviderError                an LLM provider call failed
        ├── TransientProviderError   worth retrying (5xx, network)
        │   ├── RateLimited          429; carries retry_after seconds
        │   └── Overloaded           529 / overloaded_error
        ├── ContextWindowExceeded    the prompt does not fit the model
        ├── AuthenticationFailed     missing or wrong API key
        └── InvalidRequest           the provider refused the request as malformed

Outside the tree, on purpose: :class:`LeaseLost`, the signal that an executor's lease
(its fencing token) is no longer current. It is not a failure of the step that met it, so
no ``except AutopackError`` that turns errors into phase outcomes may catch it; the run
loop alone does, and stops without writing.

(*) ``InvalidStoredState`` is answered with a problem whose code is
``invalid_stored_state`` and which names ``autopack db repair``; it is never a bare 500.
"""

from __future__ import annotations

from typing import Any


class AutopackError(Exception):
    """Base of every error Autopack raises on purpose."""

    code: str = "autopack_error"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        return self.message


class ConfigurationError(AutopackError):
    code = "configuration_error"


class ValidationError(AutopackError):
    """Input that breaks a rule. ``field`` names the offending field when there is one."""

    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = None, **context: Any) -> None:
        super().__init__(message, field=field, **context)
        self.field = field


class PlanError(ValidationError):
    code = "invalid_plan"


class NotFoundError(AutopackError):
    code = "not_found"


class Forbidden(AutopackError):
    """The caller is known but its role does not allow what it asked for."""

    code = "forbidden"


class ConflictError(AutopackError):
    code = "conflict"


class DuplicateError(ConflictError):
    code = "duplicate"


class IllegalTransition(ConflictError):
    """A state change the state machine refuses; ``allowed`` lists the legal next states."""

    code = "illegal_transition"

    def __init__(
        self, message: str, *, current: str, requested: str, allowed: list[str], **context: Any
    ) -> None:
        super().__init__(message, current=current, requested=requested, allowed=allowed, **context)
        self.current = current
        self.requested = requested
        self.allowed = allowed


class LeaseHeld(ConflictError):
    code = "lease_held"


class LeaseLost(Exception):
    """The executor no longer holds the run's lease with its fencing token (another
    executor took the run over, or the lease was released): whatever it was about to write
    was refused and rolled back, and it must stop at once."""

    def __init__(self, message: str, *, run_id: str, token: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.token = token


class InvalidStoredState(AutopackError):
    """A row holds a state value this version of the code does not know."""

    code = "invalid_stored_state"

    def __init__(self, *, table: str, row_id: str, column: str, value: str) -> None:
        super().__init__(
            f"{table} row {row_id!r} has {column}={value!r}, which this version of Autopack "
            "does not know. Run `autopack db check` to see every such row and "
            "`autopack db repair --yes` to fix them.",
            table=table,
            row_id=row_id,
            column=column,
            value=value,
        )


class SchemaMismatch(AutopackError):
    code = "schema_mismatch"


class StorageUnavailable(AutopackError):
    code = "storage_unavailable"


class WorkspaceError(AutopackError):
    """A git operation failed; carries the command line and git's stderr."""

    code = "workspace_error"

    def __init__(
        self,
        message: str,
        *,
        command: list[str] | None = None,
        stderr: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, command=command, stderr=stderr, **context)
        self.command = command or []
        self.stderr = stderr or ""


class ApplyRejected(AutopackError):
    """Governed apply refused an attempt. ``failures`` names each edit and its reason."""

    code = "apply_rejected"

    def __init__(
        self, message: str, *, failures: list[dict[str, Any]] | None = None, **context: Any
    ) -> None:
        super().__init__(message, failures=failures, **context)
        self.failures = failures or []


class OutputParseError(AutopackError):
    code = "output_parse_error"


class ToolchainError(AutopackError):
    code = "toolchain_error"


class EnvironmentBuildError(ToolchainError):
    """A project's environment could not be built.

    ``command`` is what failed, ``exit_code`` its status, ``log`` the tail of its output,
    ``diagnosis`` what that output means and ``fix`` what the user should do about it.
    """

    code = "environment_build_failed"

    def __init__(
        self,
        message: str,
        *,
        command: str | None = None,
        exit_code: int | None = None,
        log: str | None = None,
        diagnosis: str | None = None,
        fix: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(
            message,
            command=command,
            exit_code=exit_code,
            log=log,
            diagnosis=diagnosis,
            fix=fix,
            **context,
        )
        self.command = command
        self.exit_code = exit_code
        self.log = log or ""
        self.diagnosis = diagnosis
        self.fix = fix


class BudgetExhausted(AutopackError):
    """A budget ran out. ``budget`` names it (token_cap, max_phases, ...)."""

    code = "budget_exhausted"

    def __init__(self, message: str, *, budget: str, **context: Any) -> None:
        super().__init__(message, budget=budget, **context)
        self.budget = budget


class DeliveryError(AutopackError):
    """A notification channel could not deliver (network, HTTP status, SMTP refusal).
    ``permanent`` says retrying cannot help (a 4xx, a refused recipient)."""

    code = "delivery_failed"

    def __init__(self, message: str, *, permanent: bool = False, **context: Any) -> None:
        super().__init__(message, **context)
        self.permanent = permanent


class ProviderError(AutopackError):
    code = "provider_error"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        **context: Any,
    ) -> None:
        super().__init__(
            message, provider=provider, model=model, status_code=status_code, **context
        )
        self.provider = provider
        self.model = model
        self.status_code = status_code


class TransientProviderError(ProviderError):
    code = "provider_transient"
    retryable = True


class RateLimited(TransientProviderError):
    code = "provider_rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, retry_after=retry_after, **context)
        self.retry_after = retry_after


class Overloaded(TransientProviderError):
    code = "provider_overloaded"


class ContextWindowExceeded(ProviderError):
    code = "context_window_exceeded"


class AuthenticationFailed(ProviderError):
    code = "provider_auth_failed"


class InvalidRequest(ProviderError):
    code = "provider_invalid_request"
