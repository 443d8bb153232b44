"""Encryption of connection credentials at rest (Fernet, with key rotation).

``CREDENTIALS_KEYS`` lists Fernet keys; the first encrypts, every one decrypts
(cryptography's MultiFernet). To rotate: put a new key first, run
``manage.py rotate_credentials_key``, then drop the old key.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["InvalidToken", "seal", "unseal", "reseal", "generate_key"]


@lru_cache(maxsize=4)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("CREDENTIALS_KEYS is empty: at least one Fernet key is needed.")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode() if isinstance(key, str) else key))
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"CREDENTIALS_KEYS entry {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; `manage.py rotate_credentials_key --generate` makes one)."
            ) from None
    return MultiFernet(fernets)


def _fernet() -> MultiFernet:
    return _multi_fernet(tuple(settings.CREDENTIALS_KEYS))


def seal(data: dict[str, Any]) -> str:
    """Encrypt a JSON-serialisable mapping with the first key."""
    return _fernet().encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def unseal(token: str) -> dict[str, Any]:
    """Decrypt a token made by :func:`seal`; raises ``InvalidToken`` when no key fits."""
    return json.loads(_fernet().decrypt(token.encode()))


def reseal(token: str) -> str:
    """Re-encrypt a token with the first key (MultiFernet.rotate)."""
    return _fernet().rotate(token.encode()).decode()


def generate_key() -> str:
    return Fernet.generate_key().decode()
