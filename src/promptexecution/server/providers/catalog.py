"""The models this server can run: the simulator plus every OpenAI-compatible provider's."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..core.config import ServerConfig
from ..core.errors import validation
from .base import Provider
from .pricing import PriceTable
from .simulator import SimulatorProvider


@dataclass
class ModelEntry:
    id: str
    provider: Provider
    streaming: bool = True


class ModelCatalog:
    def __init__(self, config: ServerConfig, prices: PriceTable) -> None:
        self.prices = prices
        simulator = ModelEntry("simulator", SimulatorProvider())
        self.entries: dict[str, ModelEntry] = {"simulator": simulator}
        self._providers: list[Provider] = []
        if config.providers:
            from .openai_compat import OpenAICompatProvider

            for pc in config.providers:
                provider = OpenAICompatProvider(
                    name=pc.name,
                    base_url=pc.base_url,
                    api_key=os.environ.get(pc.api_key_env) if pc.api_key_env else None,
                    timeout=pc.timeout,
                )
                self._providers.append(provider)
                for model in pc.models:
                    self.entries[model] = ModelEntry(model, provider)
        if config.default_model not in self.entries:
            raise ValueError(
                f"default_model {config.default_model!r} is not a configured model; "
                f"known: {sorted(self.entries)}"
            )
        self.default = config.default_model

    def get(self, model_id: str) -> ModelEntry:
        entry = self.entries.get(model_id)
        if entry is None:
            raise validation(
                "MODEL_NOT_FOUND",
                f"Model '{model_id}' is not available on this server; "
                "GET /v2/models lists the ones that are",
                field="model_config.model",
                provided_value=model_id,
                available_models=sorted(self.entries),
            )
        return entry

    def listing(self) -> dict[str, Any]:
        models = []
        for entry in self.entries.values():
            price_in, price_out = self.prices.per_million(entry.id)
            models.append(
                {
                    "id": entry.id,
                    "provider": entry.provider.name,
                    "streaming": entry.streaming,
                    "input_price_per_million": price_in,
                    "output_price_per_million": price_out,
                    "default": entry.id == self.default,
                }
            )
        return {"models": models, "default_model": self.default}

    async def aclose(self) -> None:
        for provider in self._providers:
            await provider.aclose()
