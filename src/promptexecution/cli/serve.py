"""`pe serve`: the API server in the foreground."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import data_dir_of


def run(args: argparse.Namespace) -> int:
    import logging

    from ..server.core.config import ConfigError
    from ..server.db.connection import DatabaseUnavailable
    from ..server.runner import AlreadyRunning, serve

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    data_dir = data_dir_of(args.data_dir)
    try:
        serve(args.host, args.port, data_dir, args.log_level)
    except (AlreadyRunning, ConfigError, DatabaseUnavailable, ValueError) as exc:
        print(f"pe serve: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pe serve: {os_error(exc, data_dir)}", file=sys.stderr)
        return 1
    return 0


def os_error(exc: OSError, data_dir: Path) -> str:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {data_dir} is full; free some space and start again"
    if isinstance(exc, PermissionError):
        return (f"{exc.filename or data_dir} cannot be written by this user; check its owner "
                "and permissions")
    return str(exc)
