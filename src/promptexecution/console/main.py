"""Starting the console from `pe` / `pe console`."""

from __future__ import annotations

from .app import PeApp
from .config import config_path, load


def run_console(profile: str | None = None) -> int:
    """Runs the console; whatever happens, an embedded server it started is stopped."""
    path = config_path()
    config = load(path)
    config.profile(profile)  # an unknown profile is reported before the screen takes over
    app = PeApp(config, config_path=path, profile=profile, handle_signals=True)
    try:
        app.run()
    finally:
        for session in app.sessions.values():
            if session.embedded is not None:
                session.embedded.stop()
    return app.return_code or 0
