"""A living ERP for the demo: from a seed, ticks of realistic activity (new orders,
allocations, shipments, completions, cancellations, payments, stock adjustments, purchasing,
journals, customer and price changes).

Deterministic: one ``Random(seed)`` drives every choice, and candidates are always taken in
document-number order, so the same seed on the same starting data does the same things.
Each tick is one transaction, so webhooks and incremental reads see it at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from sandbox.models import (
    TimsCustomer,
    TimsPayment,
    TimsProduct,
    TimsPurchaseOrder,
    TimsReceivableInvoice,
    TimsSalesOrder,
    TimsSite,
    TimsVendor,
)
from sandbox.tims import ledger, masterdata, purchasing, sales, stock
from sandbox.tims.numbers import money
from sandbox.tims.problems import ApiProblem
from sandbox.tims.records import user_actor
from sandbox.tims.sales import LineInput
from sandbox.tims.seed import ACCOUNTS, BUYER, DISPATCH, SALES_DESK, WAREHOUSES, order_lines

STOCK_DESK = user_actor("stock2", "Stock controller")


def _first(rng: random.Random, queryset, key: str):
    items = list(queryset.order_by(key)[:20])
    return rng.choice(items) if items else None


def _new_order(site: TimsSite, rng: random.Random) -> str | None:
    customer = _first(rng, TimsCustomer.objects.filter(site=site, status="active"), "customer_code")
    products = list(TimsProduct.objects.filter(site=site, status="active", is_sold=True).exclude(category="SERVICE").order_by("sku"))
    if customer is None or not products:
        return None
    warehouse = rng.choice(WAREHOUSES)
    order = sales.sales_order_create(
        customer=customer, lines=order_lines(rng, products, warehouse), actor=SALES_DESK, warehouse=warehouse,
        customer_reference=f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.7 else None,
    )
    return f"new order {order.order_number} for {customer.customer_code} ({money(order.total, order.currency)} {order.currency})"


def _orders(site: TimsSite, status: str):
    return TimsSalesOrder.objects.filter(site=site, status=status)


def _step(site: TimsSite, rng: random.Random, status: str, action: Callable, label: str) -> str | None:
    order = _first(rng, _orders(site, status), "order_number")
    if order is None:
        return None
    action(order)
    return f"{label} {order.order_number}"


def _allocate(site, rng):
    return _step(site, rng, "open", lambda o: sales.sales_order_allocate(o, actor=DISPATCH), "allocated")


def _release(site, rng):
    return _step(site, rng, "allocated", lambda o: sales.sales_order_release(o, actor=DISPATCH), "released allocation of")


def _ship(site, rng):
    return _step(site, rng, "allocated", lambda o: sales.sales_order_ship(o, actor=DISPATCH), "shipped")


def _complete(site, rng):
    return _step(site, rng, "shipped", lambda o: sales.sales_order_complete(o, actor=DISPATCH), "completed")


def _cancel(site, rng):
    status = rng.choice(["open", "allocated", "shipped"])
    order = _first(rng, _orders(site, status), "order_number")
    if order is None:
        return None
    try:
        with transaction.atomic():
            sales.sales_order_cancel(order, actor=SALES_DESK, reason=rng.choice(["Customer cancelled", "Duplicate order", "Credit hold"]))
    except ApiProblem:
        return None  # paid invoices: not cancellable here
    return f"cancelled {order.order_number} (was {status})"


def _payment(site, rng):
    invoice = _first(rng, TimsReceivableInvoice.objects.filter(site=site, status__in=["open", "partially_paid"]), "invoice_number")
    if invoice is None:
        return None
    amount = invoice.amount_due if rng.random() < 0.75 else (invoice.amount_due * Decimal(rng.choice(["0.25", "0.5"]))).quantize(Decimal("0.01"))
    if amount <= 0:
        return None
    payment = sales.payment_create(
        customer=invoice.customer, payment_date=timezone.localdate(), amount=amount, currency=invoice.currency,
        method=rng.choice(["bank_transfer", "bank_transfer", "check", "card", "direct_debit"]), actor=ACCOUNTS,
        allocations=[sales.AllocationInput(invoice.id, amount)], reference=f"REF {rng.randint(100000, 999999)}",
    )
    return f"payment {payment.payment_number} {money(amount, invoice.currency)} {invoice.currency} on {invoice.invoice_number}"


def _void_payment(site, rng):
    payment = _first(rng, TimsPayment.objects.filter(site=site, status="posted"), "payment_number")
    if payment is None:
        return None
    try:
        with transaction.atomic():
            sales.payment_void(payment, reason="Bounced cheque" if payment.method == "check" else "Posted in error", actor=ACCOUNTS)
    except ApiProblem:
        return None
    return f"voided payment {payment.payment_number}"


def _adjustment(site, rng):
    product = _first(rng, TimsProduct.objects.filter(site=site, tracked=True), "sku")
    if product is None:
        return None
    warehouse = rng.choice(WAREHOUSES)
    reason = rng.choice(["cycle_count", "damage", "write_off", "found", "sample", "revaluation"])
    try:
        with transaction.atomic():
            if reason == "revaluation":
                amount = Decimal(rng.choice(["-25.00", "-12.40", "18.60", "40.00"]))
                adjustment = stock.adjustment_create(product=product, warehouse=warehouse, reason=reason, actor=STOCK_DESK, revaluation_amount=amount, offset_account_code="5000")
            else:
                delta = Decimal(rng.choice([1, 2, 3])) * (1 if reason in ("found",) or (reason == "cycle_count" and rng.random() < 0.5) else -1)
                adjustment = stock.adjustment_create(
                    product=product, warehouse=warehouse, reason=reason, actor=STOCK_DESK, quantity_delta=delta,
                    reason_note={"damage": "Valve damage found at inspection", "sample": "Customer trial"}.get(reason),
                )
    except ApiProblem:
        return None
    return f"adjustment {adjustment.adjustment_number} {product.sku} {reason}"


def _journal(site, rng):
    account, label = rng.choice([("6100", "Rent accrual"), ("6200", "Electricity"), ("6300", "Fuel cards"), ("6000", "Agency staff")])
    amount = Decimal(rng.randint(8000, 250000)) / 100
    branch = rng.choice(WAREHOUSES + ["YORK"])
    dims = [{"dimension_code": "BRANCH", "value_code": branch}, {"dimension_code": "DEPT", "value_code": rng.choice(["OPS", "ADMIN"])}]
    entry = ledger.post_entry(
        site=site,
        postings=[ledger.Posting(account, debit=amount, memo=label, dimensions=dims), ledger.Posting(ledger.BANK, credit=amount, memo=label)],
        source=rng.choice(["manual", "cash_disbursements"]),
        entry_date=timezone.localdate(),
        memo=f"{label}, {branch.title()}",
        actor=ACCOUNTS,
    )
    return f"journal {entry.entry_number} {label} {amount}"


def _purchase(site, rng):
    vendor = _first(rng, TimsVendor.objects.filter(site=site, vendor_code__in=_goods_vendors(site)), "vendor_code")
    product = _first(rng, TimsProduct.objects.filter(site=site, tracked=True, is_purchased=True), "sku")
    if vendor is None or product is None:
        return None
    order = purchasing.purchase_order_create(
        vendor=vendor, actor=BUYER, warehouse=rng.choice(WAREHOUSES),
        lines=[LineInput(description=product.name, quantity=Decimal(rng.choice([20, 40, 60])), unit_price=product.purchase_price, product=product)],
    )
    return f"purchase order {order.po_number} ({product.sku})"


def _goods_vendors(site) -> list[str]:
    return list(TimsVendor.objects.filter(site=site, currency=site.base_currency, purchase_orders__isnull=False).values_list("vendor_code", flat=True).distinct())


def _receive(site, rng):
    order = _first(rng, TimsPurchaseOrder.objects.filter(site=site, status="open"), "po_number")
    if order is None:
        return None
    purchasing.purchase_order_receive(order, actor=BUYER)
    return f"received {order.po_number}"


def _bill(site, rng):
    order = _first(rng, TimsPurchaseOrder.objects.filter(site=site, status="received"), "po_number")
    if order is None:
        return None
    bill = purchasing.vendor_bill_create(vendor=order.vendor, bill_number=f"{order.vendor.vendor_code}-{rng.randint(10000, 99999)}", purchase_order=order, actor=ACCOUNTS)
    return f"bill {bill.bill_number} for {order.po_number}"


def _customer_change(site, rng):
    customer = _first(rng, TimsCustomer.objects.filter(site=site), "customer_code")
    if customer is None:
        return None
    change = rng.choice(["phone", "terms", "hold"])
    if change == "phone":
        body = {"phone": f"+44 113 496 {rng.randint(1000, 9999)}"}
    elif change == "terms":
        body = {"payment_terms": {"type": "net", "days": rng.choice([14, 30, 45, 60])}}
    else:
        body = {"status": "on_hold" if customer.status == "active" else "active"}
    masterdata.customer_update(customer=customer, body=body, actor=ACCOUNTS)
    return f"customer {customer.customer_code} {change}"


def _price_change(site, rng):
    product = _first(rng, TimsProduct.objects.filter(site=site, status="active"), "sku")
    if product is None or product.sale_price is None:
        return None
    price = (product.sale_price * Decimal(rng.choice(["1.02", "1.03", "1.05", "0.98"]))).quantize(Decimal("0.0001"))
    masterdata.product_update(product=product, body={"sale_price": format(price, "f")}, actor=BUYER)
    return f"price of {product.sku} now {price}"


ACTIONS: list[tuple[Callable, float]] = [
    (_new_order, 3.0),
    (_allocate, 3.0),
    (_ship, 2.5),
    (_complete, 2.0),
    (_release, 0.3),
    (_cancel, 0.6),
    (_payment, 2.5),
    (_void_payment, 0.3),
    (_adjustment, 1.0),
    (_journal, 0.8),
    (_purchase, 0.6),
    (_receive, 0.6),
    (_bill, 0.6),
    (_customer_change, 0.5),
    (_price_change, 0.3),
]


def tims_activity_tick(*, site: TimsSite, rng: random.Random, actions: int | None = None) -> list[str]:
    """One tick: two to four actions, in one transaction. Returns what happened."""
    done = []
    with transaction.atomic():
        for _ in range(actions if actions is not None else rng.randint(2, 4)):
            action = rng.choices([a for a, _ in ACTIONS], weights=[w for _, w in ACTIONS])[0]
            try:
                with transaction.atomic():
                    outcome = action(site, rng)
            except ApiProblem as refused:
                # The site's own rules said no (a closed period, an invoice with payments):
                # the ERP refuses that one step and life goes on.
                outcome = f"refused: {refused.detail}"
            if outcome:
                done.append(outcome)
    return done


def tims_activity_run(
    *,
    site: TimsSite,
    seed: int,
    ticks: int = 10,
    interval: float = 0.0,
    on_tick: Callable[[int, list[str]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[list[str]]:
    """``ticks`` ticks from ``Random(seed)``, ``interval`` seconds apart."""
    rng = random.Random(f"tims-activity:{seed}")
    history = []
    for tick in range(ticks):
        if tick and interval:
            sleep(interval)
        done = tims_activity_tick(site=site, rng=rng)
        history.append(done)
        if on_tick:
            on_tick(tick, done)
    return history
