"""Prices in USD per million input / output tokens; `metadata.cost` and every total derive here."""

from __future__ import annotations

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    # A notional price, so cost tracking can be exercised offline.
    "simulator": (0.50, 1.50),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}


class PriceTable:
    def __init__(self, overrides: dict[str, tuple[float, float]] | None = None) -> None:
        self.prices = {**DEFAULT_PRICES, **(overrides or {})}

    def per_million(self, model: str) -> tuple[float, float]:
        # Unknown models (typically local ones) cost nothing rather than a made-up figure.
        return self.prices.get(model, (0.0, 0.0))

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        price_in, price_out = self.per_million(model)
        return round((input_tokens * price_in + output_tokens * price_out) / 1_000_000, 8)
