"""API-key authentication: `Authorization: Bearer pe_sk_live_...`, keys stored hashed.

Every request reads the key from the database (an indexed lookup of a few microseconds), so a
key revoked with `pe keys revoke` in another process stops working at once.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from ..db.connection import Database
from .accounts import Account, AccountStore, ApiKey, hash_key
from .errors import ApiError
from .plans import PlanLimits

KEY_PREFIXES = ("pe_sk_live_", "pe_sk_test_")


@dataclass(frozen=True)
class Principal:
    account: Account
    key: ApiKey
    plan: PlanLimits

    def require(self, permission: str) -> None:
        if permission not in self.key.permissions:
            raise ApiError(
                "permission_error",
                "INSUFFICIENT_PERMISSIONS",
                f"This API key lacks the '{permission}' permission",
                details={"required_permission": permission, "granted": self.key.permissions},
            )


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(
        "authentication_error", code, message, headers={"WWW-Authenticate": "Bearer"}
    )


class Authenticator:
    def __init__(self, database: Database, accounts: AccountStore,
                 plans: dict[str, PlanLimits]) -> None:
        self.database = database
        self.accounts = accounts
        self.plans = plans
        # key hash -> principal, dropped whenever the store's generation moves (e.g. a key
        # revoked by `pe keys revoke` in another process), so revocation still bites at once.
        self._cache: dict[str, Principal] = {}
        self._cache_generation = -1

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise _unauthorized(
                "MISSING_API_KEY",
                "No API key provided; send 'Authorization: Bearer pe_sk_live_...'",
            )
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized(
                "INVALID_AUTHORIZATION_HEADER",
                "Malformed Authorization header; expected 'Bearer <api key>'",
            )
        if not token.startswith(KEY_PREFIXES):
            raise _unauthorized(
                "INVALID_API_KEY",
                "The provided API key is invalid or expired; keys start with "
                "'pe_sk_live_' or 'pe_sk_test_'",
            )
        digest = hash_key(token)
        generation = self.database.generation()
        if generation != self._cache_generation:
            self._cache.clear()
            self._cache_generation = generation
        cached = self._cache.get(digest)
        if cached is not None:
            return cached
        key = self.accounts.find_key(digest)
        # The lookup is by hash; the constant-time compare guards the final equality check.
        if key is None or not hmac.compare_digest(key.key_hash, digest) or key.revoked_us:
            raise _unauthorized("INVALID_API_KEY", "The provided API key is invalid or expired")
        account = self.accounts.get_account(key.account_id)
        if account is None:
            raise _unauthorized("INVALID_API_KEY", "The provided API key is invalid or expired")
        principal = Principal(account, key, self.plans[account.plan])
        if len(self._cache) < 10_000:
            self._cache[digest] = principal
        return principal
