"""Trajectory overhead: what recording every model call costs a run.

Appends N call records of a realistic size (a ~24k-token Builder prompt, ~100 KB, and a
~2k-token answer) through the real recorder (JSON encoding, redaction with the run's
redactor, flock, one O_APPEND write), then measures: the per-call append time, the first
append of a resumed run (a cold cache: the file is scanned for the last call number), and
reading the whole file back (what `autopack show` and the API do). Also the time to build
an intention anchor for a 60-phase plan and to score a phase summary against it.

Run: ``.venv/bin/python benchmarks/trajectory_cost.py [N ...]`` (default 50 200 500).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from autopack.domain.plan import RunSpec
from autopack.executor import artifacts as artifacts_module
from autopack.executor.artifacts import RunArtifacts
from autopack.executor.trajectory import TrajectoryRecorder
from autopack.llm.base import Completion, LLMRequest, Message, Usage
from autopack.llm.calls import CallRecord, CallTags
from autopack.memory.intention import build_anchor, check_drift, phase_summary
from autopack.redaction import Redactor

PROMPT = "".join(f"    value_{i} = compute(value_{i - 1}, {i})  # line {i}\n" for i in range(2400))
ANSWER = '{"op": "search_replace", "path": "calc.py", "old": "x", "new": "y"}\n' * 120
CONTEXT = {
    "token_budget": 24_000,
    "tokens_used": 23_500,
    "files": [
        {"path": f"src/m{i}.py", "tokens": 900, "truncated": False, "kind": "scope", "reason": "x"}
        for i in range(25)
    ],
    "omitted": [{"path": f"src/big{i}.py", "reason": "too large"} for i in range(10)],
}


def record() -> CallRecord:
    request = LLMRequest(
        "builder", "system " * 300, (Message("user", PROMPT),), 8000, None, (), "bench", "p1", "m"
    )
    done = Completion(ANSWER, "scripted", "m", Usage.reported(24_000, 2_000), "end", 1200)
    return CallRecord(request, "scripted", "m", CallTags(1, "builder", CONTEXT), completion=done)


def measure(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = RunArtifacts(
            Path(tmp), "bench", redactor=Redactor.with_known([("k" * 20, "k")])
        )
        recorder = TrajectoryRecorder(artifacts, lambda: datetime.now(UTC))
        item = record()
        times = []
        for _ in range(n):
            start = time.perf_counter()
            recorder(item)
            times.append(time.perf_counter() - start)
        size = artifacts.trajectory_path.stat().st_size
        artifacts_module._LAST_CALL.clear()  # a resumed run: a new process
        start = time.perf_counter()
        recorder(item)
        resumed = time.perf_counter() - start
        start = time.perf_counter()
        calls = artifacts.read_calls()
        read = time.perf_counter() - start
        assert len(calls) == n + 1
        print(
            f"{n:5d} calls  file {size / 1e6:7.1f} MB  append median "
            f"{statistics.median(times) * 1000:6.2f} ms  p95 "
            f"{sorted(times)[int(0.95 * (n - 1))] * 1000:6.2f} ms  resumed first append "
            f"{resumed * 1000:7.1f} ms  read all {read * 1000:7.1f} ms"
        )


def anchor_cost() -> None:
    phases = [
        {
            "phase_id": f"p{i}",
            "name": f"Phase {i} of the plan",
            "scope": {"deliverables": [f"src/m{i}.py"]},
        }
        for i in range(60)
    ]
    spec = RunSpec.model_validate(
        {"run_id": "bench", "goal": "Refactor the storage layer " * 5, "phases": phases}
    )
    start = time.perf_counter()
    for _ in range(100):
        anchor = build_anchor(spec)
    built = (time.perf_counter() - start) / 100
    summary = phase_summary(
        "Phase 3", [f"src/m{i}.py" for i in range(20)], ["storage refactor done " * 20]
    )
    start = time.perf_counter()
    for _ in range(100):
        result = check_drift(anchor, summary, mode="advisory", threshold=0.2)
    scored = (time.perf_counter() - start) / 100
    print(
        f"anchor for 60 phases: {len(anchor.encode())} bytes in {built * 1000:.2f} ms; "
        f"lexical drift score {result.score:.2f} in {scored * 1000:.3f} ms"
    )


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [50, 200, 500]
    for size in sizes:
        measure(size)
    anchor_cost()
