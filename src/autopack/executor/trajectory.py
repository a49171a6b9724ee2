"""The run's trajectory: every model call, on record in ``trajectory.jsonl``.

The executor installs a :class:`TrajectoryRecorder` on the run's LLM client when the run
starts (``client.recorder``); the client hands it one
:class:`~autopack.llm.calls.CallRecord` per call to a provider, whatever agent made it
(Builder and its continuations and re-asks, Auditor and goal checks, Doctor). The phase
loop tags its calls with :meth:`LLMClient.tagged <autopack.llm.client.LLMClient.tagged>`
(attempt, purpose, the context record), so a reader can tell which attempt and which
context each prompt came from. Redaction happens in
:meth:`RunArtifacts.append_call <autopack.executor.artifacts.RunArtifacts.append_call>`
with the run's redactor (the one that knows the configured keys).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from autopack.executor.artifacts import RunArtifacts
from autopack.llm.calls import CallRecord


class TrajectoryRecorder:
    """A :data:`~autopack.llm.calls.CallRecorder` that appends to the run's artifacts.

    ``clock`` stamps each line (the executor's clock, so tests are deterministic).
    """

    def __init__(self, artifacts: RunArtifacts, clock: Callable[[], datetime]) -> None:
        self.artifacts = artifacts
        self.clock = clock

    def __call__(self, record: CallRecord) -> None:
        """Append ``record`` as the run's next call (numbered after the file's last)."""
        data = record.to_data()
        data["run_id"] = data.get("run_id") or self.artifacts.run_id
        self.artifacts.append_call({"at": self.clock().isoformat(), **data})
