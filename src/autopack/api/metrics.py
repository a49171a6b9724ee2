"""The Prometheus exposition of one app: database-derived metrics plus the process's own.

Each app gets its own :class:`~prometheus_client.CollectorRegistry` (never the global
default, which would refuse a second app's collector in the same process) holding a
:class:`DatabaseCollector` over the app's database and a bridge to
:data:`autopack.metrics.PROCESS_REGISTRY` (LLM latency, apply rejections, test durations).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from autopack.metrics import PROCESS_REGISTRY
from autopack.services import metrics as metric_service

#: The classic text format: every metric name here is plain ASCII, and every Prometheus
#: version reads it (the client's "latest" type changes with its version).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class DatabaseCollector(Collector):
    """Runs and phases by state (gauges) and LLM calls, tokens and cost per provider and
    model (counters), read from the database at every scrape (one grouped query each)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def describe(self) -> Iterable[Metric]:
        # Declared without reading the database, so registering never queries it.
        return []

    def collect(self) -> Iterable[Metric]:
        with self.factory() as session:
            runs = metric_service.runs_by_state(session)
            phases = metric_service.phases_by_state(session)
            totals = metric_service.llm_totals(session)
        run_gauge = GaugeMetricFamily("autopack_runs", "Runs by state.", labels=["state"])
        for state, count in runs.items():
            run_gauge.add_metric([state], count)
        phase_gauge = GaugeMetricFamily(
            "autopack_phases", "Phases of all runs by state.", labels=["state"]
        )
        for state, count in phases.items():
            phase_gauge.add_metric([state], count)
        labels = ["provider", "model"]
        calls = CounterMetricFamily("autopack_llm_calls", "LLM calls recorded.", labels=labels)
        tokens = CounterMetricFamily(
            "autopack_llm_tokens",
            "Tokens of recorded LLM calls (prompt + completion).",
            labels=labels,
        )
        cost = CounterMetricFamily(
            "autopack_llm_cost_usd",
            "Cost in USD of recorded LLM calls whose model has a price.",
            labels=labels,
        )
        for row in totals:
            key = [row.provider, row.model]
            calls.add_metric(key, row.calls)
            tokens.add_metric(key, row.total_tokens)
            cost.add_metric(key, row.cost_usd)
        yield from (run_gauge, phase_gauge, calls, tokens, cost)


class _ProcessMetrics(Collector):
    """Forwards the process registry, so every app's exposition includes it."""

    def collect(self) -> Iterator[Metric]:
        yield from PROCESS_REGISTRY.collect()

    def describe(self) -> Iterable[Metric]:
        return []


def build_registry(factory: sessionmaker[Session]) -> CollectorRegistry:
    """A registry for one app over the database behind ``factory``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(factory))
    registry.register(_ProcessMetrics())
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (version 0.0.4)."""
    return generate_latest(registry)
