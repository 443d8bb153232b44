"""Create a demo TIMS site with an API client and a year's worth of believable data."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from sandbox.models import TimsApiClient, TimsSite
from sandbox.tims.services import tims_base_url, tims_client_create, tims_demo_seed, tims_site_create


class Command(BaseCommand):
    help = (
        "Create a TIMS site (chart, tax codes, dimensions, customers, vendors, products, stock, "
        "orders in every status) and an API client; prints the base URL, client id and secret."
    )

    def add_arguments(self, parser):
        parser.add_argument("--site", default="demo", help="Site code (the base URL's last segment).")
        parser.add_argument("--name", default="Acme Gas & Welding (TIMS demo)")
        parser.add_argument("--client-name", default="Ledgerbridge (sandbox)")
        parser.add_argument("--seed", type=int, default=1, help="Seed of the demo data (deterministic).")
        parser.add_argument("--https-only", action="store_true", help="Refuse http webhook URLs, as the contract does.")

    def handle(self, *args, **options):
        code = options["site"]
        site = TimsSite.objects.filter(code=code).first()
        if site is None:
            site = tims_site_create(code=code, name=options["name"], allow_http_webhook_urls=not options["https_only"])
            counts = tims_demo_seed(site=site, seed=options["seed"])
            self.stdout.write(f"Created site {site.name}: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()))
        else:
            self.stdout.write(f"Site {site.code} exists; not seeded again.")
        client = TimsApiClient.objects.filter(site=site, name=options["client_name"]).first()
        if client is None:
            client = tims_client_create(site=site, name=options["client_name"])
        if not client.is_active:
            raise CommandError(f"Client {client.client_id} is inactive; activate it in the admin.")
        base = tims_base_url(site)
        self.stdout.write(self.style.SUCCESS(f"TIMS site {site.code}"))
        self.stdout.write(f"  base URL:      {base}")
        self.stdout.write(f"  token URL:     {base}/oauth/token")
        self.stdout.write(f"  client_id:     {client.client_id}")
        self.stdout.write(f"  client_secret: {client.client_secret}")
        self.stdout.write(f"  scopes:        {client.scopes}")
