"""Send the TIMS sandbox's pending webhook events."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from sandbox.tims.webhooks import deliver_pending


class Command(BaseCommand):
    help = "Deliver due TIMS webhook events (signed with TIMS-Signature); failures are retried on the contract's schedule."

    def handle(self, *args, **options):
        report = deliver_pending()
        self.stdout.write(f"Delivered {report.sent} TIMS events, {report.failed} failed, {report.gave_up} given up.")
