"""Development secrets, generated once into an untracked file.

A fresh checkout must run without anyone inventing a SECRET_KEY or a Fernet key, yet the
values must stay stable between runs (sessions and stored credentials depend on them). So in
development a missing value is generated once into ``.local/secrets.env`` (git-ignored) and
read from there afterwards. In production mode nothing is generated: a missing value is an
error naming the variable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

GENERATORS = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "CREDENTIALS_KEYS": lambda: Fernet.generate_key().decode(),
}


def load_or_create(path: Path, names: list[str]) -> dict[str, str]:
    """Return ``{name: value}`` for ``names`` from ``path``, generating what is missing."""
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.startswith("#"):
                values[key.strip()] = value.strip()
    missing = [name for name in names if not values.get(name)]
    if missing:
        for name in missing:
            values[name] = GENERATORS[name]()
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "# Generated for local development; never commit this file.\n"
        body += "".join(f"{key}={value}\n" for key, value in sorted(values.items()))
        path.write_text(body)
        os.chmod(path, 0o600)
    return {name: values[name] for name in names}
