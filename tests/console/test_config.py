"""The console's config file: profiles, keys from env vars, atomic private writes, masking."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from promptexecution.console.config import (
    ConfigError,
    ConsoleConfig,
    Profile,
    config_path,
    load,
    mask,
    save,
)


def test_no_file_means_the_local_profile(tmp_path: Path) -> None:
    config = load(tmp_path / "missing.toml")
    assert config.default_profile == "local"
    assert config.profile().embedded


def test_round_trip_and_private_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "config.toml"
    config = ConsoleConfig()
    config.profiles["work"] = Profile("work", "https://api.example.com/v2",
                                      api_key_env="WORK_KEY")
    config.profiles["lab"] = Profile("lab", "http://127.0.0.1:9/v2", api_key="pe_sk_test_1234")
    config.theme = "pe-light"
    config.bindings = {"run": "ctrl+r"}
    save(config, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load(path)
    assert again.profiles == config.profiles
    assert (again.theme, again.bindings) == ("pe-light", {"run": "ctrl+r"})
    assert not list(path.parent.glob("*.tmp"))


def test_keys_resolve_from_the_profile_or_the_environment() -> None:
    env = {"WORK_KEY": "pe_sk_live_work", "PE_API_KEY": "pe_sk_live_env"}
    assert Profile("a", "u", api_key="pe_sk_live_mine").resolve_key(env) == "pe_sk_live_mine"
    assert Profile("a", "u", api_key_env="WORK_KEY").resolve_key(env) == "pe_sk_live_work"
    assert Profile("a", "u").resolve_key(env) == "pe_sk_live_env"
    assert Profile("a", "u").resolve_key({"PROMPT_EXECUTION_API_KEY": "k"}) == "k"
    assert Profile("a", "u").resolve_key({}) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("default_profile = [\n", "not valid TOML"),
        ('[profiles.x]\nbase_url = "u"\nkey = "k"\n', "unknown keys ['key']"),
        ('default_profile = "nope"\n', "default_profile 'nope' is not defined"),
        ("[bindings]\nrun = 5\n", "[bindings]"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load(path)


def test_unknown_profile() -> None:
    with pytest.raises(ConfigError, match="no profile 'x'"):
        ConsoleConfig().profile("x")


def test_masking_never_shows_the_secret() -> None:
    key = "pe_sk_live_Qfcz8d7s6a5s4d3f2g1h0j9k8l7m6n5b"
    assert mask(key) == "pe_sk_live_…6n5b"
    assert "Qfcz" not in mask(key)
    assert mask(None) == "(no key)"
    assert mask("short") == "…"


def test_pe_config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PE_CONFIG", str(tmp_path / "c.toml"))
    assert config_path() == tmp_path / "c.toml"
    out = subprocess.run([sys.executable, "-m", "promptexecution.cli", "config", "path"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(tmp_path / "c.toml")


@pytest.mark.parametrize("text", ["profiles = 3\n", "[profiles.w]\nbase_url = 5\n",
                                  "theme = 1\n"])
def test_wrong_types_are_config_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=str(path)):
        load(path)
