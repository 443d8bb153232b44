"""Many shipped TIMS sales orders at once, written straight into the sandbox's tables.

Going through ``sandbox.tims.sales`` (create, allocate, ship) posts stock, invoices and
journals for every order: right for the sandbox's own tests, far too slow for the thousands
of orders a chaos test or a backfill benchmark needs, whose point is the sync, not the seeding.
The orders written here read through the TIMS API exactly as shipped orders do: lines with
products, tax codes and amounts computed as ``sales_order_create`` computes them.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

# Categories the default "TIMS product category → Xero sales account" map knows (GAS-MED waits
# for a person, by design): orders made of these products are all valid.
MAPPED_CATEGORIES = ("GAS-IND", "GAS-MIX", "GAS-BULK", "HARDGOODS", "SAFETY")


def tims_orders_bulk_create(*, site, count: int, seed: int = 1, chunk: int = 2000) -> list[str]:
    """``count`` shipped, valid orders of ``site``'s active GBP customers; returns their
    numbers. The site must have been seeded (``tims_demo_seed``) for its customers and products."""
    from sandbox.models import TimsCustomer, TimsProduct, TimsSalesOrder, TimsSalesOrderLine, TimsSite, TimsTaxCode
    from sandbox.models.tims import new_record_id
    from sandbox.tims.numbers import round_money
    from sandbox.tims.records import NUMBERING
    from sandbox.tims.sales import line_amounts

    rng = random.Random(f"bulk-orders:{seed}")
    customers = list(TimsCustomer.objects.filter(site=site, status="active", currency="GBP", tax_exempt=False)
                     .order_by("customer_code"))
    products = list(TimsProduct.objects.filter(site=site, status="active", category__in=MAPPED_CATEGORIES,
                                               sale_price__isnull=False).order_by("sku"))
    if not customers or not products:
        raise ValueError("seed the site first (tims_demo_seed): it needs active GBP customers and products")
    rates = dict(TimsTaxCode.objects.filter(site=site).values_list("code", "rate"))
    actor = {"type": "user", "id": "bulk", "name": "Bulk loader"}
    numbers: list[str] = []
    with transaction.atomic():
        locked = TimsSite.objects.select_for_update().get(pk=site.pk)
        prefix, first, _ = NUMBERING["salesorder"]
        start = int(locked.counters.get("salesorder", first))
        locked.counters["salesorder"] = start + count
        locked.save(update_fields=["counters"])
    base = timezone.now() - timedelta(seconds=count)
    for offset in range(0, count, chunk):
        orders, lines = [], []
        for index in range(offset, min(count, offset + chunk)):
            customer = customers[index % len(customers)]
            # Distinct, increasing updated_at: the API pages by (updated_at, id).
            moment = base + timedelta(milliseconds=index * 1000 // 2 + rng.randint(0, 400))
            number = f"{prefix}{start + index}"
            order = TimsSalesOrder(
                id=new_record_id("so"), site=site, created_at=moment, updated_at=moment, version=3,
                last_modified_by=actor, order_number=number, customer=customer, status="shipped",
                customer_reference=f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.5 else None,
                order_date=moment.date(), due_date=moment.date() + timedelta(days=30), warehouse="LEEDS",
                currency="GBP", exchange_rate=Decimal(1), shipped_at=moment,
                status_history=[{"status": s, "at": moment.isoformat()} for s in ("open", "allocated", "shipped")],
                extra={k: v for k, v in (customer.extra or {}).items() if k in ("billing_address", "shipping_address")},
            )
            subtotal = discount_total = tax_total = Decimal(0)
            for line_number, product in enumerate(rng.sample(products, rng.randint(1, 3)), start=1):
                quantity = Decimal(rng.choice([1, 2, 4, 6, 10])) if product.unit != "CF" else Decimal(500)
                discount_percent = None  # a percentage discount can round a cent apart from Xero's total
                tax_code = product.tax_code or "S20"
                rate = rates.get(tax_code, Decimal(0))
                discount, total, tax = line_amounts(quantity, product.sale_price, discount_percent, rate, "GBP", False)
                subtotal, discount_total, tax_total = subtotal + total, discount_total + discount, tax_total + tax
                lines.append(TimsSalesOrderLine(
                    order=order, line_number=line_number, line_type="item", product=product, sku=product.sku,
                    description=product.name, quantity=quantity, unit=product.unit, unit_price=product.sale_price,
                    discount_percent=discount_percent, discount_amount=discount, tax_code=tax_code, tax_rate=rate,
                    tax_amount=tax, line_total=total, quantity_shipped=quantity,
                    account_code=(product.extra or {}).get("sales_account_code") or "4000",
                    dimensions=[{"dimension_code": "BRANCH", "value_code": "LEEDS"}],
                ))
            order.subtotal, order.discount_total = subtotal, discount_total
            order.tax_total, order.total = tax_total, round_money(subtotal + tax_total, "GBP")
            orders.append(order)
            numbers.append(number)
        with transaction.atomic():
            TimsSalesOrder.objects.bulk_create(orders)
            TimsSalesOrderLine.objects.bulk_create(lines, batch_size=1000)
    return numbers
