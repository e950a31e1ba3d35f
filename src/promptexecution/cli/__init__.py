"""The `pe` command. Heavy imports happen inside the subcommands, so `pe --help` stays fast."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import __version__

PLANS = ("basic", "professional", "enterprise")
PERMISSIONS = ("execute", "batch", "templates")


def default_data_dir() -> Path:
    env = os.environ.get("PE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("promptexecution", appauthor=False)


def data_dir_of(value: str | None) -> Path:
    return Path(value).expanduser() if value else default_data_dir()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pe", description="Prompt Execution API v2.1: server, keys and console."
    )
    parser.add_argument("--profile", help="console profile to open (default: from the config)")
    parser.add_argument("--version", action="version", version=f"pe {__version__}")
    sub = parser.add_subparsers(dest="command")

    console = sub.add_parser("console", help="open the console (what `pe` alone does)")
    console.add_argument("--profile", dest="console_profile", help="profile to open")

    serve = sub.add_parser("serve", help="run the API server in the foreground")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8642, help="0 picks a free port")
    serve.add_argument("--data-dir", help="default: $PE_DATA_DIR or the platform data dir")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])

    config = sub.add_parser("config", help="the console's configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("path", help="print where the config file is (or would be)")

    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key (printed as the last line)")
    create.add_argument("--data-dir")
    create.add_argument("--plan", choices=PLANS, help="plan of the new account")
    create.add_argument("--permissions", default=",".join(PERMISSIONS),
                        help="comma-separated: execute,batch,templates (default: all)")
    create.add_argument("--name", default="default", help="a label for the key")
    create.add_argument("--account", help="add the key to this existing account")
    create.add_argument("--test", action="store_true", help="make a pe_sk_test_ key")
    listing = keys_sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--data-dir")
    secret = keys_sub.add_parser("webhook-secret",
                                 help="print an account's webhook signing secret")
    secret.add_argument("--account", help="default: the local account")
    secret.add_argument("--data-dir")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id or shown prefix")
    revoke.add_argument("key", help="key id (key_...) or its shown prefix")
    revoke.add_argument("--data-dir")
    from . import batch, history, templates

    templates.add_parser(sub)
    history.add_parser(sub)
    batch.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "history" and not any(x.startswith("-") for x in extra):
        args.filter += extra  # filter terms after an option: `pe history -n 5 status:failed`
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "serve":
        from . import serve

        return serve.run(args)
    if args.command == "keys":
        from . import keys

        return keys.run(args)
    if args.command == "templates":
        from . import templates

        return templates.run(args)
    if args.command == "history":
        from . import history

        return history.run(args)
    if args.command == "batch":
        from . import batch

        return batch.run(args)
    if args.command == "config":
        from ..console.config import config_path

        print(config_path())
        return 0
    return _console(getattr(args, "console_profile", None) or args.profile)


def _console(profile: str | None) -> int:
    from ..console.config import ConfigError
    from ..console.main import run_console

    try:
        return run_console(profile)
    except ConfigError as exc:
        print(f"pe: {exc}", file=sys.stderr)
        return 2
