"""`<data-dir>/server.toml`: providers, default model, prices and plan overrides.

    default_model = "simulator"
    public_url = "https://pe.example.com"   # for URLs in responses (default: the bound address)

    [[providers]]                      # any OpenAI-compatible endpoint
    name = "ollama"
    base_url = "http://127.0.0.1:11434/v1"
    api_key_env = "OLLAMA_API_KEY"     # optional: the env var holding its key
    timeout = 120                      # seconds, optional
    models = ["llama3.1:8b"]

    [pricing."llama3.1:8b"]            # USD per 1M tokens
    input = 0.0
    output = 0.0

    [plans.enterprise]                 # raise or lower a plan's limits on this server
    burst_per_minute = 5000

Top-level keys (before any [table]): `public_url`, `render_timeout` (seconds one template
render may take, 2), `render_memory_mib` (memory one render may use, 64), `render_workers`
(processes that render templates, 2), `webhook_allow` (networks and hosts webhooks may reach
although private), `webhook_retry_delays`, `ping_interval`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ProviderConfig:
    name: str
    base_url: str
    models: list[str]
    api_key_env: str | None = None
    timeout: float = 120.0


@dataclass
class ServerConfig:
    default_model: str = "simulator"
    providers: list[ProviderConfig] = field(default_factory=list)
    pricing: dict[str, tuple[float, float]] = field(default_factory=dict)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Seconds of silence on a stream before a `: ping` comment keeps it open.
    ping_interval: float = 15.0
    # Where clients reach this server ("https://pe.example.com"), for URLs in responses;
    # unset, they are built from the address the server is bound to.
    public_url: str | None = None
    # Networks ("10.0.0.0/8") and host names webhooks may reach although they are private
    # (webhooks/targets.py); loopback is allowed anyway on a loopback-bound server.
    webhook_allow: list[str] = field(default_factory=list)
    # Seconds before each webhook retry (attempts = len + 1).
    webhook_retry_delays: tuple[float, ...] = (1.0, 4.0, 15.0, 60.0)
    # The bounds on one template render, and the processes that render (templates/pool.py).
    render_timeout: float = 2.0
    render_memory_mib: int = 64
    render_workers: int = 2


class ConfigError(ValueError):
    pass


def load_config(path: Path) -> ServerConfig:
    """Reads server.toml; a missing file is the default config, a bad one a clear error."""
    if not path.exists():
        return ServerConfig()
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, str(path))


def parse_config(raw: dict[str, Any], where: str = "server.toml") -> ServerConfig:
    known = {"default_model", "providers", "pricing", "plans", "ping_interval",
             "webhook_allow", "webhook_retry_delays", "render_timeout", "public_url",
             "render_memory_mib", "render_workers"}
    unknown = set(raw) - known
    if "allow_private_webhooks" in unknown:
        raise ConfigError(f"{where}: allow_private_webhooks is gone; list the networks or hosts "
                          'webhooks may reach instead: webhook_allow = ["10.0.0.0/8"]')
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; expected {sorted(known)}")
    config = ServerConfig(default_model=str(raw.get("default_model", "simulator")))
    for i, entry in enumerate(raw.get("providers", [])):
        try:
            config.providers.append(
                ProviderConfig(
                    name=str(entry["name"]),
                    base_url=str(entry["base_url"]).rstrip("/"),
                    models=[str(m) for m in entry["models"]],
                    api_key_env=entry.get("api_key_env"),
                    timeout=float(entry.get("timeout", 120.0)),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{where}: providers[{i}] needs name, base_url and models ({exc})"
            ) from None
    for model, price in raw.get("pricing", {}).items():
        try:
            config.pricing[model] = (float(price["input"]), float(price["output"]))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                f"{where}: [pricing.\"{model}\"] needs numeric input and output"
            ) from None
    config.plans = dict(raw.get("plans", {}))
    try:
        config.ping_interval = float(raw.get("ping_interval", 15.0))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: ping_interval must be a number of seconds") from None
    public_url = raw.get("public_url")
    if public_url is not None:
        if not isinstance(public_url, str) or not public_url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: public_url must be an http(s) URL, like "
                              '"https://pe.example.com"')
        config.public_url = public_url.rstrip("/")
    allow = raw.get("webhook_allow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) and a for a in allow):
        raise ConfigError(f"{where}: webhook_allow must be a list of networks or host names")
    config.webhook_allow = list(allow)
    delays = raw.get("webhook_retry_delays", list(config.webhook_retry_delays))
    if not isinstance(delays, list) or not all(
        isinstance(d, int | float) and d >= 0 for d in delays
    ):
        raise ConfigError(f"{where}: webhook_retry_delays must be a list of seconds")
    config.webhook_retry_delays = tuple(float(d) for d in delays)
    config.render_timeout = _number(raw, "render_timeout", config.render_timeout, 0.05, 600,
                                    where)
    config.render_memory_mib = int(_number(raw, "render_memory_mib", config.render_memory_mib,
                                           8, 65536, where, integer=True))
    config.render_workers = int(_number(raw, "render_workers", config.render_workers, 1, 64,
                                        where, integer=True))
    return config


def _number(raw: dict[str, Any], key: str, default: float, low: float, high: float, where: str,
            integer: bool = False) -> float:
    value = raw.get(key, default)
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{where}: {key} must be {kind} from {low:g} to {high:g}")
    return value
