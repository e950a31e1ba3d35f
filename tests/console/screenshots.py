"""Writes screenshots/*.svg from the same scenes the snapshot tests check.

    .venv/bin/python -m tests.console.screenshots      (or: make screenshots)
    .venv/bin/python -m tests.console.screenshots history-list small-history
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from .scenes import SCENES, Scene, scene_app, scene_server

OUT = Path(__file__).resolve().parents[2] / "screenshots"


async def shoot(scene: Scene, work: Path) -> Path:
    with scene_server(work / "data", scene.server_config) as server:
        app = scene_app(server, work / "config", theme=scene.theme, plan=scene.plan)
        async with app.run_test(size=scene.size) as pilot:
            await scene.play(pilot)
            app.save_screenshot(filename=f"{scene.name}.svg", path=str(OUT))
    return OUT / f"{scene.name}.svg"


def main(names: list[str]) -> int:
    unknown = set(names) - {scene.name for scene in SCENES}
    if unknown:
        print(f"no such scene: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    OUT.mkdir(exist_ok=True)
    for scene in SCENES:
        if names and scene.name not in names:
            continue
        with tempfile.TemporaryDirectory() as work:
            path = asyncio.run(shoot(scene, Path(work)))
        print(path.relative_to(OUT.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
