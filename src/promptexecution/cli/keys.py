"""`pe keys`: create, list and revoke API keys, straight in the data dir's database."""

from __future__ import annotations

import argparse
import sys

from . import PERMISSIONS, data_dir_of
from .serve import os_error


def run(args: argparse.Namespace) -> int:
    from ..server.core.accounts import AccountStore
    from ..server.core.clock import from_micros, iso, system_clock, to_micros
    from ..server.db.connection import Database, DatabaseUnavailable, make_data_dir

    data_dir = data_dir_of(args.data_dir)
    try:
        make_data_dir(data_dir)
        database = Database(data_dir / "pe.sqlite3")
    except DatabaseUnavailable as exc:
        print(f"pe keys: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pe keys: {os_error(exc, data_dir)}", file=sys.stderr)
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
