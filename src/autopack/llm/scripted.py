"""The scripted provider: replays answers from a JSONL file, for tests and the offline demo.

Each line of the script is one answer::

    {"role": "builder"|"auditor"|"doctor"|"planner"|"*",
     "phase_id": "optional", "content": "...",
     "usage": {"prompt_tokens": 10, "completion_tokens": 20},   (optional)
     "stop_reason": "end"|"max_tokens"}                          (optional, default "end")

A call takes the first unused line whose role matches (or is ``"*"``) and, when the line
names a ``phase_id``, whose phase matches the request's. No such line is an error naming
the role and the phase. Without ``usage`` the numbers are estimated from the texts and
recorded as not exact; ``usage`` may also give only ``total_tokens`` (NULL splits).
Selected with ``AUTOPACK_LLM_PROVIDER=scripted`` and ``AUTOPACK_LLM_SCRIPT=<path>``. Its
provider and model are both named ``scripted`` in every usage event, so no artifact can
pass for a real model's work.

With a ``state_dir``, the lines a run has used are remembered per run id in
``state_dir/<run_id>.json``, so a run that is killed and resumed in a new process goes on
with the next unused line instead of replaying the script from the top.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from autopack.errors import ConfigurationError, ProviderError
from autopack.llm.base import Completion, LLMRequest, Usage

SCRIPTED = "scripted"


class ScriptedConfig(BaseModel):
    """``providers.scripted`` (``kind: scripted``); ``script`` defaults to
    ``AUTOPACK_LLM_SCRIPT``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["scripted"] = "scripted"
    script: Path | None = None


class ScriptUsage(BaseModel):
    """A script line's usage: both splits, or only a total."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    total_tokens: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> ScriptUsage:
        splits = (self.prompt_tokens, self.completion_tokens)
        if None in splits and splits != (None, None):
            raise ValueError("give both prompt_tokens and completion_tokens, or neither")
        if self.prompt_tokens is None and self.total_tokens is None:
            raise ValueError("usage needs prompt_tokens and completion_tokens, or total_tokens")
        return self

    def to_usage(self) -> Usage:
        if self.prompt_tokens is not None and self.completion_tokens is not None:
            return Usage.reported(self.prompt_tokens, self.completion_tokens)
        return Usage.total_only(self.total_tokens or 0)


class ScriptLine(BaseModel):
    """One scripted answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["builder", "auditor", "doctor", "planner", "*"]
    phase_id: str | None = None
    content: str
    usage: ScriptUsage | None = None
    stop_reason: Literal["end", "max_tokens"] = "end"

    def matches(self, request: LLMRequest) -> bool:
        role_ok = self.role in ("*", request.role)
        phase_ok = self.phase_id is None or self.phase_id == request.phase_id
        return role_ok and phase_ok


def load_script(path: Path) -> list[ScriptLine]:
    """Parse a JSONL script; errors name the file and line. Blank lines are skipped."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the LLM script {path}: {exc.strerror or exc}", path=str(path)
        ) from exc
    lines: list[ScriptLine] = []
    for number, text in enumerate(raw.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            lines.append(ScriptLine.model_validate(json.loads(text)))
        except (json.JSONDecodeError, ValidationError) as exc:
            first = (
                str(exc).splitlines()[0]
                if isinstance(exc, json.JSONDecodeError)
                else (
                    "; ".join(
                        f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}"
                        for e in exc.errors()
                    )
                )
            )
            raise ConfigurationError(
                f"{path}:{number}: not a valid script line: {first}", path=str(path)
            ) from exc
    return lines


class ScriptExhausted(ProviderError):
    """The script has no answer for a call: the script (the configuration of a scripted
    run) is wrong or too short. Retrying or escalating cannot help."""

    code = "script_exhausted"


class ScriptedProvider:
    """:class:`~autopack.llm.base.LLMProvider` that replays a script. Thread-safe."""

    def __init__(
        self, lines: list[ScriptLine], *, source: str = "<memory>", state_dir: Path | None = None
    ) -> None:
        self._lines = lines
        self._used = [False] * len(lines)
        self._source = source
        self._lock = threading.Lock()
        self._state_dir = state_dir
        self._loaded_run: str | None = None

    @property
    def name(self) -> str:
        return SCRIPTED

    @classmethod
    def from_config(
        cls, config: ScriptedConfig, *, script: Path | None = None, state_dir: Path | None = None
    ) -> ScriptedProvider:
        """Load the script named by ``script`` (settings) or by the config; ``state_dir``
        keeps each run's used lines across processes."""
        path = script or config.script
        if path is None:
            raise ConfigurationError(
                "AUTOPACK_LLM_PROVIDER=scripted needs AUTOPACK_LLM_SCRIPT=<path to a JSONL script>"
            )
        return cls(load_script(path), source=str(path), state_dir=state_dir)

    @property
    def remaining(self) -> int:
        """Lines not used yet."""
        with self._lock:
            return self._used.count(False)

    def complete(self, request: LLMRequest) -> Completion:
        """The first unused matching line, as a completion."""
        with self._lock:
            self._load_run_state(request.run_id)
            index = next(
                (
                    i
                    for i, line in enumerate(self._lines)
                    if not self._used[i] and line.matches(request)
                ),
                None,
            )
            if index is None:
                raise ScriptExhausted(
                    f"scripted: no unused line in {self._source} for role {request.role!r} "
                    f"and phase {request.phase_id!r} ({self._used.count(True)} of "
                    f"{len(self._lines)} lines used)",
                    provider=SCRIPTED,
                    model=SCRIPTED,
                    role=request.role,
                    phase_id=request.phase_id,
                )
            self._used[index] = True
            self._save_run_state(request.run_id)
        line = self._lines[index]
        usage = (
            line.usage.to_usage()
            if line.usage is not None
            else Usage.estimated(request.prompt_text(), line.content)
        )
        return Completion(
            text=line.content,
            provider=SCRIPTED,
            model=SCRIPTED,
            usage=usage,
            stop_reason=line.stop_reason,
            truncated=line.stop_reason == "max_tokens",
            latency_ms=0,
        )

    # -- per-run memory of used lines ---------------------------------------------------
    def _state_file(self, run_id: str | None) -> Path | None:
        if self._state_dir is None or run_id is None:
            return None
        return self._state_dir / f"{run_id}.json"

    def _load_run_state(self, run_id: str | None) -> None:
        """Switch to ``run_id``'s used lines (lock held)."""
        path = self._state_file(run_id)
        if path is None or self._loaded_run == run_id:
            return
        self._used = [False] * len(self._lines)
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("source") == self._source:
                for index in data.get("used", []):
                    if 0 <= index < len(self._used):
                        self._used[index] = True
        self._loaded_run = run_id

    def _save_run_state(self, run_id: str | None) -> None:
        path = self._state_file(run_id)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        used = [i for i, flag in enumerate(self._used) if flag]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"source": self._source, "used": used}), encoding="utf-8")
        tmp.replace(path)
