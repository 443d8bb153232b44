"""Make a TIMS sandbox site look alive: orders, shipments, payments, stock and journals."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from sandbox.models import TimsSite
from sandbox.tims.services import deliver_pending, tims_activity_run


class Command(BaseCommand):
    help = "Generate deterministic activity on a TIMS sandbox site: --seed N [--ticks K] [--interval S]."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--ticks", type=int, default=10)
        parser.add_argument("--interval", type=float, default=0.0, help="Seconds between ticks.")
        parser.add_argument("--site", default="demo")
        parser.add_argument("--deliver-webhooks", action="store_true", help="Flush the webhook outbox after each tick.")

    def handle(self, *args, **options):
        site = TimsSite.objects.filter(code=options["site"]).first()
        if site is None:
            raise CommandError(f"No TIMS site {options['site']!r}; run sandbox_tims_seed first.")

        def report(tick: int, done: list[str]) -> None:
            self.stdout.write(f"tick {tick + 1}: " + ("; ".join(done) or "nothing to do"))
            if options["deliver_webhooks"]:
                sent = deliver_pending(site=site)
                if sent.sent or sent.failed:
                    self.stdout.write(f"  webhooks: {sent.sent} sent, {sent.failed} failed")

        tims_activity_run(site=site, seed=options["seed"], ticks=options["ticks"], interval=options["interval"], on_tick=report)
