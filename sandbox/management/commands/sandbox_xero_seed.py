"""Create a demo Xero app and organisations in the sandbox, and print how to connect."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand

from sandbox.models import XeroApp, XeroTenant
from sandbox.xero.services import xero_app_create, xero_tenant_create


class Command(BaseCommand):
    help = "Create a demo Xero app (client id/secret printed) and one or two organisations with a chart of accounts."

    def add_arguments(self, parser):
        parser.add_argument("--orgs", type=int, default=2, choices=[1, 2])
        parser.add_argument("--app-name", default="Ledgerbridge (sandbox)")
        parser.add_argument(
            "--redirect-uri",
            action="append",
            default=None,
            help="Registered redirect URI (repeatable). Default: http://127.0.0.1:8000/xero/callback",
        )
        parser.add_argument("--webhook-url", default="")
        parser.add_argument("--client-id", default="", help="Use this client id (the demo configures its connection with it).")
        parser.add_argument("--client-secret", default="", help="Use this client secret.")
        parser.add_argument("--json", action="store_true", help="Print the app and organisations as one JSON object.")

    def handle(self, *args, **options):
        names = ["Demo Company (UK)", "Demo Company Two (UK)"][: options["orgs"]]
        tenants = []
        say = (lambda line: None) if options["json"] else self.stdout.write
        for name in names:
            tenant = XeroTenant.objects.filter(name=name).first()
            if tenant is None:
                tenant = xero_tenant_create(name=name, with_chart=True, with_samples=True)
                say(f"Created organisation {name}: tenantId {tenant.tenant_id}")
            else:
                say(f"Organisation {name} exists: tenantId {tenant.tenant_id}")
            tenants.append(tenant)
        app = XeroApp.objects.filter(name=options["app_name"]).first()
        if app is None:
            app = xero_app_create(
                name=options["app_name"],
                redirect_uris=options["redirect_uri"] or ["http://127.0.0.1:8000/xero/callback"],
                webhook_url=options["webhook_url"],
            )
        changed = [
            field
            for field, value in (("client_id", options["client_id"]), ("client_secret", options["client_secret"]))
            if value and getattr(app, field) != value
        ]
        for field in changed:
            setattr(app, field, options[field])
        if changed:
            app.save(update_fields=changed)
        base = getattr(settings, "SANDBOX_BASE_URL", "http://127.0.0.1:8000/sandbox").rstrip("/")
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "client_id": app.client_id,
                        "client_secret": app.client_secret,
                        "redirect_uris": app.redirect_uri_list,
                        "webhook_key": app.webhook_key,
                        "base_url": f"{base}/xero",
                        "tenants": [{"tenant_id": str(t.tenant_id), "name": t.name} for t in tenants],
                    }
                )
            )
            return
        self.stdout.write(self.style.SUCCESS(f"App {app.name}"))
        self.stdout.write(f"  client_id:     {app.client_id}")
        self.stdout.write(f"  client_secret: {app.client_secret}")
        self.stdout.write(f"  redirect URIs: {', '.join(app.redirect_uri_list)}")
        self.stdout.write(f"  webhook key:   {app.webhook_key}")
        self.stdout.write(f"  authorize:     {base}/xero/identity/connect/authorize")
        self.stdout.write(f"  token:         {base}/xero/identity/connect/token")
        self.stdout.write(f"  API base:      {base}/xero/api.xro/2.0")
