"""promptexecution: SDK, server and console for the Prompt Execution API v2.1."""

from __future__ import annotations

__version__ = "0.1.0"
