"""The console's configuration: profiles (base URL and key, or the name of an env var that
holds the key), the chosen theme and key bindings, in TOML in the platform config dir.

    default_profile = "local"
    theme = "pe-dark"

    [profiles.local]                  # no base_url: start (or reuse) the embedded server

    [profiles.work]
    base_url = "https://api.promptexecution.com/v2"
    api_key_env = "WORK_PE_KEY"       # or api_key = "pe_sk_live_..."

    [bindings]
    run = "ctrl+enter"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import write_private

ENV_KEYS = ("PE_API_KEY", "PROMPT_EXECUTION_API_KEY")


class ConfigError(ValueError):
    pass


@dataclass
class Profile:
    name: str
    base_url: str | None = None  # None: the embedded local server
    api_key: str | None = None
    api_key_env: str | None = None

    @property
    def embedded(self) -> bool:
        return self.base_url is None

    def resolve_key(self, environ: dict[str, str] | None = None) -> str | None:
        """The stored key, else the named env var, else PE_API_KEY / PROMPT_EXECUTION_API_KEY."""
        env = os.environ if environ is None else environ
        if self.api_key:
            return self.api_key
        for name in ([self.api_key_env] if self.api_key_env else []) + list(ENV_KEYS):
            if env.get(name):
                return env[name]
        return None

    def to_toml(self) -> dict[str, Any]:
        data = {"base_url": self.base_url, "api_key": self.api_key,
                "api_key_env": self.api_key_env}
        return {k: v for k, v in data.items() if v is not None}


@dataclass
class ConsoleConfig:
    profiles: dict[str, Profile] = field(default_factory=lambda: {"local": Profile("local")})
    default_profile: str = "local"
    theme: str = "pe-dark"
    bindings: dict[str, str] = field(default_factory=dict)
    # History filters kept under a name ([history.filters] in the file), for the console's
    # palette and `pe history @NAME`.
    history_filters: dict[str, str] = field(default_factory=dict)

    def profile(self, name: str | None = None) -> Profile:
        wanted = name or self.default_profile
        if wanted not in self.profiles:
            known = ", ".join(sorted(self.profiles))
            raise ConfigError(f"no profile {wanted!r}; the config has: {known}")
        return self.profiles[wanted]


def config_path() -> Path:
    """`$PE_CONFIG`, else config.toml in the platform config dir."""
    if os.environ.get("PE_CONFIG"):
        return Path(os.environ["PE_CONFIG"]).expanduser()
    from platformdirs import user_config_path

    return user_config_path("promptexecution", appauthor=False) / "config.toml"


def load(path: Path | None = None) -> ConsoleConfig:
    """Reads the config; a missing file is the default (the `local` profile)."""
    path = path or config_path()
    if not path.exists():
        return ConsoleConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    config = ConsoleConfig(profiles={})
    profiles = raw.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: profiles must be tables, like [profiles.work]")
    for name, data in profiles.items():
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: [profiles.{name}] must be a table")
        unknown = set(data) - {"base_url", "api_key", "api_key_env"}
        if unknown:
            raise ConfigError(f"{path}: [profiles.{name}] has unknown keys {sorted(unknown)}")
        wrong = [k for k, v in data.items() if not isinstance(v, str)]
        if wrong:
            raise ConfigError(f"{path}: [profiles.{name}] {', '.join(wrong)} must be text")
        config.profiles[name] = Profile(name, data.get("base_url"), data.get("api_key"),
                                        data.get("api_key_env"))
    config.profiles.setdefault("local", Profile("local"))
    for key in ("default_profile", "theme"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{path}: {key} must be text")
    config.default_profile = raw.get("default_profile", "local")
    config.theme = raw.get("theme", config.theme)
    bindings = raw.get("bindings") or {}
    if not isinstance(bindings, dict) or not all(isinstance(v, str) for v in bindings.values()):
        raise ConfigError(f"{path}: [bindings] maps binding ids to key names")
    config.bindings = dict(bindings)
    history = raw.get("history") or {}
    filters = history.get("filters") if isinstance(history, dict) else None
    if history and (not isinstance(history, dict) or not isinstance(filters or {}, dict)
                    or not all(isinstance(v, str) for v in (filters or {}).values())):
        raise ConfigError(f'{path}: [history.filters] maps names to filters, like '
                          f'failures = "status:failed since:7d"')
    config.history_filters = dict(filters or {})
    if config.default_profile not in config.profiles:
        raise ConfigError(f"{path}: default_profile {config.default_profile!r} is not defined")
    return config


def save(config: ConsoleConfig, path: Path | None = None) -> Path:
    """Writes atomically, readable only by the owner (it may hold keys)."""
    import tomli_w

    path = path or config_path()
    data: dict[str, Any] = {
        "default_profile": config.default_profile,
        "theme": config.theme,
        "profiles": {name: p.to_toml() for name, p in config.profiles.items()},
    }
    if config.bindings:
        data["bindings"] = dict(config.bindings)
    if config.history_filters:
        data["history"] = {"filters": dict(config.history_filters)}
    write_private(path, tomli_w.dumps(data))
    return path


def mask(key: str | None) -> str:
    """How a key is shown on screen: its kind and last four characters, never the rest."""
    if not key:
        return "(no key)"
    for prefix in ("pe_sk_live_", "pe_sk_test_"):
        if key.startswith(prefix):
            return f"{prefix}…{key[-4:]}"
    return f"…{key[-4:]}" if len(key) > 8 else "…"
