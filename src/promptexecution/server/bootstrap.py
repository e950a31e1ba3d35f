"""First start: the local enterprise account, its key file, and the spec's example templates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .core.accounts import hash_key
from .core.clock import to_micros
from .core.plans import ALL_PERMISSIONS
from .templates.examples import seed_templates

if TYPE_CHECKING:
    from .context import ServerContext

LOCAL_KEY_FILE = "local.key"


def ensure_local_account(ctx: ServerContext) -> tuple[str, str | None]:
    """Returns (account_id, new key or None). Creates the account and key file when missing."""
    key_path = ctx.data_dir / LOCAL_KEY_FILE
    if key_path.exists():
        key = ctx.accounts.find_key(hash_key(key_path.read_text().strip()))
        if key is not None and key.revoked_us is None:
            return key.account_id, None
    now = to_micros(ctx.clock())
    accounts = [a for a in ctx.accounts.list_accounts() if a.name == "local"]
    account = accounts[0] if accounts else ctx.accounts.create_account("enterprise", "local", now)
    _, plaintext = ctx.accounts.create_key(
        account.id, name="local", permissions=ALL_PERMISSIONS, mode="live", now_us=now
    )
    write_secret(key_path, plaintext + "\n")
    seed_templates(ctx, account.id)
    return account.id, plaintext


def write_secret(path: Path, text: str) -> None:
    """Writes a file only its owner can read, without a window where others could."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
