"""Cost of a call from the price table in models.yaml (USD per million tokens).

A cost is only given when it is known: exact splits times the model's prices. With only a
total, the cost is known only when input and output cost the same (local models at zero,
for instance); otherwise it is ``None``, because pricing a guessed split is a guessed cost.
An unknown model costs ``None``, never zero.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from autopack.llm.base import Usage

PER_MILLION = 1_000_000


class ModelPrice(BaseModel):
    """``pricing.<model>``: list prices in USD per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0, description="USD per million prompt tokens.")
    output: float = Field(ge=0, description="USD per million completion tokens.")


class PriceTable:
    """Prices by model name."""

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self._prices = dict(prices)

    def __contains__(self, model: object) -> bool:
        return model in self._prices

    def price(self, model: str) -> ModelPrice | None:
        """The model's prices, or None when the table does not know it."""
        return self._prices.get(model)

    def cost_usd(self, model: str, usage: Usage) -> float | None:
        """The call's cost in USD, or None when it cannot be known exactly."""
        price = self._prices.get(model)
        if price is None:
            return None
        if usage.prompt_tokens is not None and usage.completion_tokens is not None:
            dollars = (
                usage.prompt_tokens * price.input + usage.completion_tokens * price.output
            ) / PER_MILLION
            return round(dollars, 8)
        if price.input == price.output:
            return round(usage.total_tokens * price.input / PER_MILLION, 8)
        return None
