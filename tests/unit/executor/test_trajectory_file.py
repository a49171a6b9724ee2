"""trajectory.jsonl: numbered, continued after a restart, whole lines only, redacted."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from autopack.executor.artifacts import RunArtifacts, read_trajectory
from autopack.executor.trajectory import TrajectoryRecorder
from autopack.llm.base import Completion, LLMRequest, Message, Usage
from autopack.llm.calls import CallRecord, CallTags
from autopack.redaction import Redactor

SLACK = "xoxb-PLANTED-slack-0123456789"


def test_calls_are_numbered_and_a_new_writer_continues_the_numbering(tmp_path: Path) -> None:
    first = RunArtifacts(tmp_path, "run-1")
    assert [first.append_call({"role": "builder"}) for _ in range(3)] == [1, 2, 3]
    # A resumed run (a new process: a new writer, a cold cache) continues at 4.
    from autopack.executor import artifacts

    artifacts._LAST_CALL.clear()
    resumed = RunArtifacts(tmp_path, "run-1")
    assert resumed.append_call({"role": "auditor"}) == 4
    assert [c["call"] for c in resumed.read_calls()] == [1, 2, 3, 4]
    assert RunArtifacts(tmp_path, "other").append_call({}) == 1


def test_a_torn_line_is_skipped_and_closed_off(tmp_path: Path) -> None:
    writer = RunArtifacts(tmp_path, "run-1")
    writer.append_call({"role": "builder"})
    with writer.trajectory_path.open("a", encoding="utf-8") as handle:
        handle.write('{"call": 2, "role": "buil')  # a crash mid-line
    assert writer.append_call({"role": "doctor"}) == 2
    lines = writer.trajectory_path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1]) == {"call": 2, "role": "doctor"}
    assert [c["role"] for c in writer.read_calls()] == ["builder", "doctor"]


def test_another_writer_of_the_file_is_seen(tmp_path: Path) -> None:
    ours, theirs = RunArtifacts(tmp_path, "r"), RunArtifacts(tmp_path, "r")
    ours.append_call({})
    with ours.trajectory_path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"call": 7}) + "\n")  # written by someone else
    assert theirs.append_call({}) == 8 and ours.append_call({}) == 9


def test_concurrent_appends_give_distinct_numbers_and_whole_lines(tmp_path: Path) -> None:
    writer = RunArtifacts(tmp_path, "run-1")
    big = "x" * 200_000

    def work() -> None:
        for _ in range(10):
            writer.append_call({"answer": big})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = read_trajectory(writer.trajectory_path)
    assert [c["call"] for c in calls] == list(range(1, 41))
    assert all(c["answer"] == big for c in calls)


def test_the_recorder_stamps_and_redacts_with_the_runs_redactor(tmp_path: Path) -> None:
    key = "plain-configured-key-4242"
    artifacts = RunArtifacts(tmp_path, "run-1", redactor=Redactor.with_known([(key, "app_key")]))
    recorder = TrajectoryRecorder(artifacts, lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    request = LLMRequest("doctor", "sys", (Message("user", "why?"),), 100, phase_id="p1")
    completion = Completion(f"the {SLACK} and {key}", "scripted", "m", Usage.reported(3, 4), "end")
    recorder(CallRecord(request, "scripted", "m", CallTags(attempt=1), completion=completion))
    (call,) = artifacts.read_calls()
    assert call["call"] == 1 and call["at"] == "2026-01-02T03:04:05+00:00"
    assert call["run_id"] == "run-1" and call["phase_id"] == "p1" and call["role"] == "doctor"
    assert SLACK not in call["answer"] and key not in call["answer"]
    assert "[REDACTED:app_key]" in call["answer"]


def test_reading_a_run_without_calls_is_empty(tmp_path: Path) -> None:
    assert RunArtifacts(tmp_path, "none").read_calls() == []
