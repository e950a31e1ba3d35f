"""The `pe` command. Heavy imports happen inside the subcommands, so `pe --help` stays fast."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__

PLANS = ("basic", "professional", "enterprise")
PERMISSIONS = ("execute", "batch", "templates")


def default_data_dir() -> Path:
    env = os.environ.get("PE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("promptexecution", appauthor=False)


def _data_dir(value: str | None) -> Path:
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "keys":
        return _keys(args)
    if args.command == "config":
        from .console.config import config_path

        print(config_path())
        return 0
    return _console(getattr(args, "console_profile", None) or args.profile)


def _console(profile: str | None) -> int:
    from .console.config import ConfigError
    from .console.main import run_console

    try:
        return run_console(profile)
    except ConfigError as exc:
        print(f"pe: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    import logging

    from .server.core.config import ConfigError
    from .server.db.connection import DatabaseUnavailable
    from .server.runner import AlreadyRunning, serve

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    data_dir = _data_dir(args.data_dir)
    try:
        serve(args.host, args.port, data_dir, args.log_level)
    except (AlreadyRunning, ConfigError, DatabaseUnavailable, ValueError) as exc:
        print(f"pe serve: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pe serve: {_os_error(exc, data_dir)}", file=sys.stderr)
        return 1
    return 0


def _os_error(exc: OSError, data_dir: Path) -> str:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {data_dir} is full; free some space and start again"
    if isinstance(exc, PermissionError):
        return (f"{exc.filename or data_dir} cannot be written by this user; check its owner "
                "and permissions")
    return str(exc)


def _keys(args: argparse.Namespace) -> int:
    from .server.core.accounts import AccountStore
    from .server.core.clock import from_micros, iso, system_clock, to_micros
    from .server.db.connection import Database, DatabaseUnavailable, make_data_dir

    data_dir = _data_dir(args.data_dir)
    try:
        make_data_dir(data_dir)
        database = Database(data_dir / "pe.sqlite3")
    except DatabaseUnavailable as exc:
        print(f"pe keys: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pe keys: {_os_error(exc, data_dir)}", file=sys.stderr)
        return 1
    store = AccountStore(database)
    now = to_micros(system_clock())
    try:
        if args.keys_command == "create":
            permissions = [p.strip() for p in args.permissions.split(",") if p.strip()]
            bad = sorted(set(permissions) - set(PERMISSIONS))
            if bad or not permissions:
                print(f"pe keys create: unknown permissions {bad}; choose from "
                      f"{', '.join(PERMISSIONS)}", file=sys.stderr)
                return 2
            if args.account:
                account = store.get_account(args.account)
                if account is None:
                    print(f"pe keys create: no account {args.account!r} in {data_dir}",
                          file=sys.stderr)
                    return 2
                if args.plan and args.plan != account.plan:
                    print(f"pe keys create: account {account.id} is on the {account.plan} "
                          f"plan, not {args.plan}", file=sys.stderr)
                    return 2
            else:
                account = store.create_account(args.plan or "basic", args.name, now)
            key, plaintext = store.create_key(
                account.id, name=args.name, permissions=permissions,
                mode="test" if args.test else "live", now_us=now,
            )
            print(f"account {account.id} ({account.plan}); key {key.id} "
                  f"[{','.join(permissions)}]")
            print(plaintext)
            return 0
        if args.keys_command == "list":
            plans = {a.id: a.plan for a in store.list_accounts()}
            for key in store.list_keys():
                when = key.revoked_us
                state = f"revoked {iso(from_micros(when))}" if when else "active"
                print(f"{key.id}  {key.display_prefix}…  account={key.account_id} "
                      f"plan={plans.get(key.account_id)} name={key.name} "
                      f"permissions={','.join(key.permissions)} {state}")
            return 0
        if args.keys_command == "webhook-secret":
            accounts = store.list_accounts()
            match = [a for a in accounts
                     if (a.id == args.account if args.account else a.name == "local")]
            if not match:
                print(f"pe keys webhook-secret: no account {args.account or 'local'!r} in "
                      f"{data_dir}", file=sys.stderr)
                return 2
            print(match[0].webhook_secret)
            return 0
        revoked = store.revoke_key(args.key, now)
        if revoked is None:
            print(f"pe keys revoke: no single active key matches {args.key!r}", file=sys.stderr)
            return 1
        print(f"revoked {revoked.id} ({revoked.display_prefix}…)")
        return 0
    finally:
        database.close()


if __name__ == "__main__":
    sys.exit(main())
