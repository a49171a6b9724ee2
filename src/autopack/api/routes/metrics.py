"""``GET /metrics``: Prometheus text format."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry

from autopack.api.metrics import CONTENT_TYPE, build_registry, exposition

router = APIRouter(tags=["metrics"])
_LOCK = threading.Lock()


def _registry(request: Request) -> CollectorRegistry:
    state = request.app.state
    with _LOCK:
        registry: CollectorRegistry | None = getattr(state, "metrics_registry", None)
        if registry is None:
            registry = build_registry(state.session_factory)
            state.metrics_registry = registry
    return registry


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text"}},
)
def metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format. From the database at scrape
    time: `autopack_runs{state}` and `autopack_phases{state}` (gauges),
    `autopack_llm_calls_total`, `autopack_llm_tokens_total` and
    `autopack_llm_cost_usd_total` by provider and model. Observed in this server process:
    `autopack_llm_latency_seconds` (histogram), `autopack_apply_rejections_total{reason}`,
    `autopack_test_duration_seconds{outcome}` (histogram). Needs an API key like every
    route but /health (Prometheus: `authorization` with a bearer key)."""
    return Response(exposition(_registry(request)), media_type=CONTENT_TYPE)
