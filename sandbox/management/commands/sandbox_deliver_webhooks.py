"""Send the sandbox's pending webhook events (Xero)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from sandbox.models import XeroApp
from sandbox.xero.webhooks import deliver_pending, intent_to_receive


class Command(BaseCommand):
    help = "Deliver pending Xero webhook events; run Intent to Receive first for apps that need it."

    def handle(self, *args, **options):
        for app in XeroApp.objects.filter(webhook_status=XeroApp.WebhookStatus.INTENT_TO_RECEIVE_REQUIRED).exclude(webhook_url=""):
            result = intent_to_receive(app)
            self.stdout.write(f"Intent to receive for {app.name}: {'OK' if result.ok else 'failed'}")
        report = deliver_pending()
        self.stdout.write(f"Delivered {report.sent} events, {report.failed} failed, {report.skipped_apps} apps waiting.")
