"""Re-encrypt every connection's credentials with the first key in CREDENTIALS_KEYS.

Rotation: generate a key (``--generate``), put it first in CREDENTIALS_KEYS keeping the old
one after it, run this command, then remove the old key.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations import crypto
from integrations.services.connections import connection_credentials_rotate


class Command(BaseCommand):
    help = "Re-encrypt all stored credentials with the first key of CREDENTIALS_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--generate", action="store_true", help="Print a new key and how to roll it out.")

    def handle(self, *args: Any, generate: bool = False, **options: Any) -> None:
        if generate:
            key = crypto.generate_key()
            self.stdout.write(key)
            self.stderr.write(
                "Put this key first in CREDENTIALS_KEYS (comma-separated, old keys after it), restart, "
                "run `manage.py rotate_credentials_key`, then drop the old keys."
            )
            return
        report = connection_credentials_rotate()
        self.stdout.write(f"Re-encrypted the credentials of {len(report.rotated)} connection(s) with the first key.")
        from integrations.services.alerts import alert_settings_rotate

        self.stdout.write(f"Re-encrypted the alert webhooks of {alert_settings_rotate()} flow(s).")
        if report.unreadable:
            raise CommandError("\n".join(report.unreadable))
