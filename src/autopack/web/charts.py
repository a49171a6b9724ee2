"""Usage charts drawn on the server as SVG with pygal: no JavaScript, no network.

Each function takes rows from :func:`autopack.services.usage.daily_usage` and returns an
``<svg>`` element as text, ready to put inline in a page (no XML declaration, no script:
pygal's inline configuration script is removed and its tooltips, which would load
JavaScript from the internet, are off). Every day of the window has a
point, so a quiet day shows as zero rather than being skipped.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import pygal
from pydantic import BaseModel, ConfigDict
from pygal.style import Style
from sqlalchemy.orm import Session

from autopack.config import ProviderQuota
from autopack.services.usage import DailyUsage, daily_usage

_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    font_family="system-ui, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
    title_font_size=15,
)
#: Cap lines are dashed, so they read as limits rather than as another series.
_CAP_STROKE = {"width": 2, "dasharray": "8, 5"}
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)


class UsageCharts(BaseModel):
    """The usage page's two charts (inline SVG) and the window they cover."""

    model_config = ConfigDict(frozen=True)

    first_day: date
    last_day: date
    tokens_svg: str
    cost_svg: str


def _without_scripts(chart: Any) -> str:
    # pygal always embeds its configuration as an inline <script>; the pages run no
    # script of pygal's (and a strict Content-Security-Policy would refuse it). Text in
    # the SVG is XML-escaped, so "</script>" cannot occur inside an element.
    return _SCRIPT.sub("", str(chart.render(is_unicode=True)))


def window(first_day: date, last_day: date) -> list[date]:
    """Every day from ``first_day`` to ``last_day``, both included."""
    return [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]


def _series(rows: Sequence[DailyUsage], days: Sequence[date], value: str) -> dict[str, list[float]]:
    index = {day: n for n, day in enumerate(days)}
    series: dict[str, list[float]] = {}
    for row in rows:
        if row.day not in index:
            continue
        values = series.setdefault(f"{row.provider} / {row.model}", [0.0] * len(days))
        values[index[row.day]] += float(getattr(row, value) or 0)
    return dict(sorted(series.items()))


def _chart(chart_type: Any, title: str, days: Sequence[date], **config: object) -> Any:
    chart = chart_type(
        style=_STYLE,
        js=[],
        disable_xml_declaration=True,
        width=900,
        height=420,
        x_label_rotation=35,
        show_minor_x_labels=len(days) <= 14,
        x_labels_major_every=max(1, len(days) // 10),
        legend_at_bottom=True,
        truncate_legend=-1,
        no_data_text="No LLM calls in this window",
        **config,
    )
    chart.title = title
    chart.x_labels = [d.isoformat() for d in days]
    return chart


def tokens_chart(
    rows: Sequence[DailyUsage],
    days: Sequence[date],
    caps: Mapping[str, ProviderQuota] | None = None,
) -> str:
    """Tokens per day, one line per provider / model, and each provider's daily cap
    (``provider_quotas.<provider>.daily_token_cap``) as a dashed line, for the providers
    that have calls in the window and a cap."""
    daily_caps = tuple(
        sorted((name, quota.daily_token_cap) for name, quota in (caps or {}).items())
    )
    return _tokens_svg(tuple(rows), tuple(days), daily_caps)


def cost_chart(rows: Sequence[DailyUsage], days: Sequence[date]) -> str:
    """Cost in USD per day, stacked by provider / model (calls without a known price
    count as zero; the legend marks models with unpriced calls)."""
    return _cost_svg(tuple(rows), tuple(days))


# pygal takes a few hundred milliseconds per chart; usage changes only when LLM calls are
# made, so a page shown again with the same numbers reuses the drawing.
@functools.lru_cache(maxsize=32)
def _tokens_svg(
    rows: tuple[DailyUsage, ...],
    days: tuple[date, ...],
    daily_caps: tuple[tuple[str, int | None], ...],
) -> str:
    chart = _chart(
        pygal.Line,
        "Tokens per day by provider and model",
        days,
        value_formatter=lambda v: f"{v:,.0f}",
    )
    for title, values in _series(rows, days, "total_tokens").items():
        chart.add(title, values)
    cap_of = dict(daily_caps)
    for provider in sorted({row.provider for row in rows}):
        cap = cap_of.get(provider)
        if cap:
            chart.add(
                f"{provider} daily cap ({cap:,})",
                [cap] * len(days),
                stroke_style=_CAP_STROKE,
                show_dots=False,
            )
    return _without_scripts(chart)


@functools.lru_cache(maxsize=32)
def _cost_svg(rows: tuple[DailyUsage, ...], days: tuple[date, ...]) -> str:
    chart = _chart(
        pygal.StackedBar,
        "Cost per day (USD) by provider and model",
        days,
        value_formatter=lambda v: f"${v:,.4f}",
    )
    unpriced = {f"{r.provider} / {r.model}" for r in rows if not r.cost_complete}
    for title, values in _series(rows, days, "cost_usd").items():
        chart.add(title + (" (some calls unpriced)" if title in unpriced else ""), values)
    return _without_scripts(chart)


def usage_charts(
    session: Session,
    *,
    last_day: date,
    days: int = 30,
    caps: Mapping[str, ProviderQuota] | None = None,
) -> UsageCharts:
    """Both charts for the ``days`` days ending with ``last_day`` (UTC), read with one
    query over the daily usage summary. ``caps`` is
    ``load_models_config().provider_quotas``."""
    if days < 1:
        raise ValueError("days must be at least 1")
    first_day = last_day - timedelta(days=days - 1)
    rows = daily_usage(session, first_day=first_day, last_day=last_day)
    span = window(first_day, last_day)
    return UsageCharts(
        first_day=first_day,
        last_day=last_day,
        tokens_svg=tokens_chart(rows, span, caps),
        cost_svg=cost_chart(rows, span),
    )
