"""Snapshots (pytest-textual-snapshot) of the console's screens and states, made
reproducible by tests/console/scenes.py. `pytest --snapshot-update` rewrites them after a
deliberate change; look at the report it makes before you commit new ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .scenes import SCENES, Scene, scene_app, scene_server


@pytest.mark.parametrize("scene", SCENES, ids=[s.name for s in SCENES])
def test_snapshot(scene: Scene, snap_compare: Any, tmp_path: Path) -> None:
    with scene_server(tmp_path / "data", scene.server_config) as server:
        app = scene_app(server, tmp_path / "config", theme=scene.theme, plan=scene.plan)
        assert snap_compare(app, run_before=scene.play, terminal_size=scene.size)
