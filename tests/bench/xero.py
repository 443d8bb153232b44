"""Xero write benchmark: create 1,000 invoices through the product's connector against the
Xero sandbox with a limit of 600 calls a minute, and print the API calls used, the 429s met,
and the wall time against the floor the limit allows (calls ÷ limit).

    python -m tests.bench.xero [--invoices 1000] [--limit 600]

Goals (issue): ≤ 21 create calls per 1,000 invoices, 0 429s, wall time ≤ 1.10 × floor.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import date, timedelta
from decimal import Decimal

from tests.bench.harness import Stopwatch, live_server, peak_rss_mb, report, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=600, help="calls per minute allowed by the sandbox tenant")
    args = parser.parse_args()
    database = setup_django()

    from django.conf import settings

    from connectors.base import TokenSet
    from connectors.canonical import Contact, ContactRef, Invoice, Line, LineAmountType
    from integrations.models import ApiCall, AuthKind, Connection, Environment, System
    from integrations.services.connections import connection_connected
    from integrations.services.connectors import connector_for
    from sandbox.xero.services import xero_app_create, xero_connect, xero_tenant_create, xero_tenant_set_limits

    with live_server() as url:
        settings.SANDBOX_BASE_URL = f"{url}/sandbox"
        tenant = xero_tenant_create(name="Benchmark Ltd")
        xero_tenant_set_limits(tenant=tenant, minute=args.limit, day=None, concurrent=5)
        app = xero_app_create(name="Ledgerbridge benchmark", redirect_uris=["http://127.0.0.1/callback"])
        granted = xero_connect(app=app, tenants=[tenant])

        connection = Connection.objects.create(
            name="Xero benchmark", system=System.XERO, environment=Environment.SANDBOX,
            auth_kind=AuthKind.OAUTH2_AUTHORIZATION_CODE,
        )
        connection.set_credentials({"client_id": app.client_id, "client_secret": app.client_secret})
        connection.save()
        tokens = TokenSet.from_dict({
            "access_token": granted["access_token"], "refresh_token": granted["refresh_token"],
            "expires_at": (__import__("django.utils.timezone").utils.timezone.now()
                           + timedelta(seconds=int(granted["expires_in"]))).isoformat(),
        })
        connection = connection_connected(connection=connection, tokens=tokens, tenant_id=str(tenant.tenant_id),
                                          tenant_name=tenant.name, tenants=[])
        client = connector_for(connection)

        contacts = client.create_contacts({f"C{i}": Contact(name=f"Customer {i}", number=f"C{i}") for i in range(20)})
        contact_ids = [result.remote_id for result in contacts]
        first_call = ApiCall.objects.order_by("-id").values_list("id", flat=True).first()

        invoices = {
            f"SO-{n:05d}": Invoice(
                type="ACCREC", contact=ContactRef(remote_id=contact_ids[n % len(contact_ids)]),
                number=f"SO-{n:05d}", reference=f"Order {n}", date=date(2026, 11, 1), due_date=date(2026, 12, 1),
                status="AUTHORISED", line_amount_types=LineAmountType.EXCLUSIVE, currency_code="GBP",
                lines=[
                    Line(description="Widget", quantity=Decimal("3"), unit_amount=Decimal("19.99"),
                         account_code="200", tax_type="OUTPUT2"),
                    Line(description="Delivery", quantity=Decimal("1"), unit_amount=Decimal("4.50"),
                         account_code="200", tax_type="OUTPUT2"),
                ],
            )
            for n in range(args.invoices)
        }
        keys = list(invoices)
        batch_size = client.batch_limit
        with Stopwatch() as clock:
            created = 0
            for start in range(0, len(keys), batch_size):
                batch = {key: invoices[key] for key in keys[start:start + batch_size]}
                results = client.create_invoices(batch, idempotency_key=str(uuid.uuid4()))
                created += sum(result.ok for result in results)

        calls = ApiCall.objects.filter(id__gt=first_call or 0)
        create_calls = calls.filter(method__in=["PUT", "POST"], path__contains="Invoices").count()
        throttled = calls.filter(status_code=429).count()
        floor = calls.count() / (args.limit / 60)
        report("Xero: create invoices through the connector against the sandbox", [
            ("database", database),
            ("invoices created", f"{created} of {args.invoices}"),
            ("create calls", f"{create_calls} ({create_calls / args.invoices * 1000:.1f} per 1,000 invoices)"),
            ("all API calls", calls.count()),
            ("429s met", throttled),
            ("wall time", f"{clock.seconds:.2f} s"),
            ("floor (calls ÷ limit)", f"{floor:.2f} s at {args.limit} calls/min"),
            ("wall time ÷ floor", f"{clock.seconds / floor:.2f}"),
            ("peak RSS", f"{peak_rss_mb():.0f} MB"),
        ])


if __name__ == "__main__":
    main()
