"""Console fixtures: the real server (simulator) with a fixed clock and seeded ids, and a
PeApp whose only profile points at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from promptexecution.console.app import PeApp
from promptexecution.console.config import ConsoleConfig, Profile
from tests.conftest import ServerHandle, running_server


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing a console test does may touch the user's own config, state or cache."""
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "xdg" / name.lower()))
    monkeypatch.delenv("PE_CONFIG", raising=False)
    monkeypatch.delenv("PE_DATA_DIR", raising=False)


@pytest.fixture
def console_server(tmp_path: Path) -> Iterator[ServerHandle]:
    with running_server(tmp_path / "data") as handle:
        yield handle


def make_app(server: ServerHandle, tmp_path: Path, **kwargs: object) -> PeApp:
    config = ConsoleConfig(
        profiles={"local": Profile("local"),
                  "test": Profile("test", server.base_url, api_key=server.local_key)},
        default_profile="test",
    )
    return PeApp(config, config_path=tmp_path / "config" / "config.toml",
                 output_file=tmp_path / "last-output.txt",
                 draft_file=tmp_path / "draft.json", **kwargs)  # type: ignore[arg-type]
