"""The sending account of an RPC chain: from $ZKML_PRIVATE_KEY, or a keystore file ($ZKML_KEYSTORE with
$ZKML_KEYSTORE_PASSWORD), or an address the node has unlocked, or an eth_account ``LocalAccount``.

Never a private key passed as an argument, and a key never reaches a message: errors about a key or a keystore
are not chained to their cause (which could quote it).
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import ChainError
from ..support.deps import need

_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def looks_like_private_key(account: Any) -> bool:
    return isinstance(account, str) and bool(_HEX_KEY.match(account))


def env_account_configured() -> bool:
    return bool(os.environ.get("ZKML_PRIVATE_KEY") or os.environ.get("ZKML_KEYSTORE"))


def resolve_account(w3, account: Any):
    """Return (local_account_or_None, address)."""
    if looks_like_private_key(account):
        raise ChainError(
            "refusing a private key passed as an argument",
            stage="chain",
            where="account",
            hint="put it in $ZKML_PRIVATE_KEY or a keystore file ($ZKML_KEYSTORE with $ZKML_KEYSTORE_PASSWORD)",
        )
    if account is not None and not isinstance(account, str):
        return account, account.address  # an eth_account LocalAccount
    if account is None:
        local = load_env_account()
        if local is not None:
            return local, local.address
        return None, _node_account(w3)
    return None, w3.to_checksum_address(account)


def _node_account(w3) -> str:
    """The node's first unlocked account."""
    try:
        accounts = w3.eth.accounts
    except Exception as err:
        raise ChainError(
            f"cannot list the node's accounts: {err}", stage="chain", hint="set $ZKML_PRIVATE_KEY or $ZKML_KEYSTORE"
        ) from err
    if not accounts:
        raise ChainError(
            "no account to send from: the node has no unlocked account",
            stage="chain",
            hint="set $ZKML_PRIVATE_KEY, or $ZKML_KEYSTORE with $ZKML_KEYSTORE_PASSWORD",
        )
    return accounts[0]


def load_env_account():
    """The deployment account from the environment: $ZKML_PRIVATE_KEY or $ZKML_KEYSTORE (+ $ZKML_KEYSTORE_PASSWORD)."""
    key = os.environ.get("ZKML_PRIVATE_KEY")
    path = os.environ.get("ZKML_KEYSTORE")
    if not key and not path:
        return None
    eth_account = need("eth_account")
    if key:
        try:
            return eth_account.Account.from_key(key.strip())
        except Exception:  # the message could quote the key: never chain it
            raise ChainError(
                "ZKML_PRIVATE_KEY is not a valid private key",
                stage="chain",
                where="$ZKML_PRIVATE_KEY",
                hint="it must be 32 bytes of hex",
            ) from None
    return _keystore_account(eth_account, path)


def _keystore_account(eth_account, path: str):
    try:
        with open(path) as f:
            blob = f.read()
        return eth_account.Account.from_key(
            eth_account.Account.decrypt(blob, os.environ.get("ZKML_KEYSTORE_PASSWORD", ""))
        )
    except FileNotFoundError as err:
        raise ChainError("keystore file not found", stage="chain", where=path, hint="check $ZKML_KEYSTORE") from err
    except (ValueError, KeyError, TypeError, OSError) as err:  # wrong password (MAC mismatch), not V3 JSON, unreadable
        # not chained: the cause may quote the keystore; its type says which of these it was
        raise ChainError(
            f"cannot decrypt the keystore ({type(err).__name__})",
            stage="chain",
            where=path,
            hint="check $ZKML_KEYSTORE_PASSWORD and that the file is a V3 keystore",
        ) from None
