"""Process-level Prometheus instruments, observed where things happen.

These live in :data:`PROCESS_REGISTRY`, a registry of Autopack's own (never
``prometheus_client``'s global default), so importing this module any number of times, or
building many apps in one process (tests do), never registers a name twice. Each API app
serves them beside its database-derived gauges at ``GET /metrics``
(:mod:`autopack.api.routes.metrics`).

They count what this process did: LLM calls recorded here, applies refused here, test
suites run here. A run executed by another process (``autopack run``, a worker) shows in
the database-derived numbers (runs, phases, tokens, cost) but not in these.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)

LLM_LATENCY = Histogram(
    "autopack_llm_latency_seconds",
    "Latency of LLM calls as the provider adapter measured it, by provider and model.",
    ["provider", "model"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
    registry=PROCESS_REGISTRY,
)
APPLY_REJECTIONS = Counter(
    "autopack_apply_rejections",
    "Attempts whose edits governed apply refused (nothing written), by why: no_edits, "
    "project_config (an unreadable .autopack.yaml), edits (an edit failed its checks), "
    "write (writing failed and was rolled back).",
    ["reason"],
    registry=PROCESS_REGISTRY,
)
TEST_DURATION = Histogram(
    "autopack_test_duration_seconds",
    "Wall time of test suite runs (baselines and phase verifications), by outcome: "
    "passed, failed, timed_out.",
    ["outcome"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=PROCESS_REGISTRY,
)
