"""Accounts and their API keys: the SQL behind `pe keys` and every request's authentication.

Keys are stored as a hash, shown once when made, and compared in constant time (core/auth.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
import string
from collections.abc import Sequence
from dataclasses import dataclass

from ..db.connection import Database
from .clock import IdSource

_KEY_ALPHABET = string.ascii_letters + string.digits


def hash_key(plaintext: str) -> str:
    # Keys carry ~190 bits of randomness, so a fast hash is enough (no stretching needed).
    return hashlib.sha256(plaintext.encode()).hexdigest()


@dataclass
class Account:
    id: str
    name: str
    plan: str
    webhook_secret: str
    created_us: int


@dataclass
class ApiKey:
    id: str
    account_id: str
    key_hash: str
    display_prefix: str
    name: str
    mode: str
    permissions: list[str]
    created_us: int
    revoked_us: int | None


class AccountStore:
    def __init__(self, database: Database, ids: IdSource | None = None) -> None:
        self.conn = database.conn
        self.ids = ids or IdSource()

    def create_account(self, plan: str, name: str, now_us: int) -> Account:
        account = Account(
            id=self.ids.new("acc"),
            name=name,
            plan=plan,
            # Standard Webhooks: "whsec_" + base64 of the HMAC key.
            webhook_secret="whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            created_us=now_us,
        )
        self.conn.execute(
            "INSERT INTO accounts(id, name, plan, webhook_secret, created_us) VALUES (?,?,?,?,?)",
            (account.id, account.name, account.plan, account.webhook_secret, account.created_us),
        )
        return account

    def get_account(self, account_id: str) -> Account | None:
        row = self.conn.execute("SELECT * FROM accounts WHERE id=?", (account_id,)).fetchone()
        return Account(**dict(row)) if row else None

    def list_accounts(self) -> list[Account]:
        return [Account(**dict(r)) for r in self.conn.execute("SELECT * FROM accounts ORDER BY 5")]

    def create_key(
        self,
        account_id: str,
        *,
        name: str,
        permissions: Sequence[str],
        mode: str,
        now_us: int,
    ) -> tuple[ApiKey, str]:
        """Returns the stored key and its plaintext, which is never stored or shown again."""
        secret = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))
        plaintext = f"pe_sk_{mode}_{secret}"
        key = ApiKey(
            id=self.ids.new("key"),
            account_id=account_id,
            key_hash=hash_key(plaintext),
            display_prefix=plaintext[: len(f"pe_sk_{mode}_") + 4],
            name=name,
            mode=mode,
            permissions=list(permissions),
            created_us=now_us,
            revoked_us=None,
        )
        self.conn.execute(
            "INSERT INTO api_keys(id, account_id, key_hash, display_prefix, name, mode, "
            "permissions, created_us) VALUES (?,?,?,?,?,?,?,?)",
            (
                key.id,
                key.account_id,
                key.key_hash,
                key.display_prefix,
                key.name,
                key.mode,
                json.dumps(key.permissions),
                key.created_us,
            ),
        )
        return key, plaintext

    @staticmethod
    def _key(row: sqlite3.Row) -> ApiKey:
        data = dict(row)
        data["permissions"] = json.loads(data["permissions"])
        return ApiKey(**data)

    def find_key(self, key_hash: str) -> ApiKey | None:
        row = self.conn.execute("SELECT * FROM api_keys WHERE key_hash=?", (key_hash,)).fetchone()
        return self._key(row) if row else None

    def list_keys(self) -> list[ApiKey]:
        rows = self.conn.execute("SELECT * FROM api_keys ORDER BY created_us")
        return [self._key(r) for r in rows]

    def revoke_key(self, key_id_or_prefix: str, now_us: int) -> ApiKey | None:
        rows = self.conn.execute(
            "SELECT * FROM api_keys WHERE (id=? OR display_prefix=?) AND revoked_us IS NULL",
            (key_id_or_prefix, key_id_or_prefix),
        ).fetchall()
        if len(rows) != 1:
            return None
        key = self._key(rows[0])
        self.conn.execute("UPDATE api_keys SET revoked_us=? WHERE id=?", (now_us, key.id))
        key.revoked_us = now_us
        return key
