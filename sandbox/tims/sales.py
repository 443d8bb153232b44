"""Sales orders and their lifecycle, AR invoices and AR payments.

Status moves open → allocated → shipped → completed; allocated → open releases the
allocation; cancelled is reachable from open, allocated and shipped, never from completed.
Shipping issues the AR invoice and posts sales and cost of sales; cancelling a shipped order
brings the stock back, voids its invoices and reverses their journals.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from sandbox.models import (
    TimsCustomer,
    TimsPayment,
    TimsPaymentAllocation,
    TimsProduct,
    TimsReceivableInvoice,
    TimsReceivableInvoiceLine,
    TimsSalesOrder,
    TimsSalesOrderLine,
    TimsTaxCode,
)
from sandbox.tims import ledger, stock, webhooks
from sandbox.tims.numbers import ZERO, money, round_money, timestamp
from sandbox.tims.problems import ApiProblem, field_error, invalid_state, validation_failed
from sandbox.tims.records import next_number, stamp_new, touch
from sandbox.tims.serializers import payment_json, sales_order_json

INVOICE_LINE_FIELDS = [
    "line_number", "line_type", "product", "sku", "description", "quantity", "unit", "unit_price",
    "discount_percent", "discount_amount", "tax_code", "tax_rate", "tax_amount", "line_total",
    "account_code", "dimensions",
]


@dataclass
class LineInput:
    description: str
    quantity: Decimal
    unit_price: Decimal
    product: TimsProduct | None = None
    line_type: str = "item"
    discount_percent: Decimal | None = None
    tax_code: str | None = None
    account_code: str | None = None
    unit: str = ""
    dimensions: list = field(default_factory=list)

    def common_fields(self, number: int) -> dict:
        """What a sales line and a purchase line both store about the line."""
        product = self.product
        return {
            "line_number": number,
            "line_type": self.line_type,
            "product": product,
            "sku": product.sku if product else None,
            "description": self.description,
            "quantity": self.quantity,
            "unit": self.unit or (product.unit if product else "EA"),
            "dimensions": self.dimensions,
        }


def line_amounts(quantity: Decimal, price: Decimal, discount_percent: Decimal | None, rate: Decimal, currency: str, inclusive: bool) -> tuple[Decimal, Decimal, Decimal]:
    """(discount, line total, tax), each rounded per line as Xero does, so totals agree."""
    gross = Decimal(quantity) * Decimal(price)
    discount = round_money(gross * Decimal(discount_percent or 0) / 100, currency)
    total = round_money(gross - discount, currency)
    if inclusive:
        tax = round_money(total - total / (1 + Decimal(rate) / 100), currency)
    else:
        tax = round_money(total * Decimal(rate) / 100, currency)
    return discount, total, tax


def due_date_for(terms: dict | None, start: date) -> date:
    terms = terms or {"type": "net", "days": 30}
    if terms.get("type") == "end_of_month":
        last = calendar.monthrange(start.year, start.month)[1]
        return date(start.year, start.month, last) + timedelta(days=terms.get("days", 0))
    return start + timedelta(days=terms.get("days", 0))


def _history(order: TimsSalesOrder, status: str, now) -> None:
    order.status_history = list(order.status_history or []) + [{"status": status, "at": timestamp(now)}]


def sales_order_create(
    *,
    customer: TimsCustomer,
    lines: list[LineInput],
    actor: dict,
    warehouse: str = "LEEDS",
    order_date: date | None = None,
    customer_reference: str | None = None,
    exchange_rate: Decimal | None = None,
) -> TimsSalesOrder:
    site = customer.site
    currency = customer.currency
    now = timezone.now()
    order = TimsSalesOrder(
        site=site,
        order_number=next_number(site, "salesorder"),
        customer=customer,
        customer_reference=customer_reference,
        order_date=order_date or timezone.localdate(),
        warehouse=warehouse,
        currency=currency,
        exchange_rate=exchange_rate or ledger.site_rate(site, currency),
        extra={k: v for k, v in (customer.extra or {}).items() if k in ("billing_address", "shipping_address")},
    )
    stamp_new(order, actor, now)
    _history(order, "open", now)
    order.save()
    rates = dict(TimsTaxCode.objects.filter(site=site).values_list("code", "rate"))
    subtotal = discount_total = tax_total = ZERO
    rows = []
    for number, line in enumerate(lines, start=1):
        line.dimensions = line.dimensions or [{"dimension_code": "BRANCH", "value_code": warehouse}]
        tax_code = line.tax_code or (line.product.tax_code if line.product else None) or customer.default_tax_code or None
        if customer.tax_exempt:
            tax_code = "EX" if "EX" in rates else tax_code
        rate = rates.get(tax_code, ZERO) if tax_code else ZERO
        discount, total, tax = line_amounts(line.quantity, line.unit_price, line.discount_percent, rate, currency, False)
        subtotal += total
        discount_total += discount
        tax_total += tax
        product = line.product
        rows.append(
            TimsSalesOrderLine(
                order=order,
                **line.common_fields(number),
                unit_price=line.unit_price,
                discount_percent=line.discount_percent,
                discount_amount=discount,
                tax_code=tax_code,
                tax_rate=rate,
                tax_amount=tax,
                line_total=total,
                account_code=line.account_code or ((product.extra or {}).get("sales_account_code") if product else None) or "4000",
            )
        )
    TimsSalesOrderLine.objects.bulk_create(rows)
    order.subtotal, order.discount_total, order.tax_total, order.total = subtotal, discount_total, tax_total, subtotal + tax_total
    order.save(update_fields=["subtotal", "discount_total", "tax_total", "total"])
    return order


def _item_lines(order: TimsSalesOrder):
    return [line for line in order.lines.select_related("product") if line.product_id and line.line_type == "item"]


def _change_status(order: TimsSalesOrder, status: str, actor: dict, *, allowed_from: tuple[str, ...]) -> str:
    if order.status not in allowed_from:
        raise invalid_state(f"{order.order_number} is {order.status}; it cannot become {status}.", order.status)
    previous = order.status
    now = timezone.now()
    order.status = status
    _history(order, status, now)
    touch(order, actor, now)
    return previous


def _emit_status(order: TimsSalesOrder, previous: str, actor: dict) -> None:
    webhooks.emit(
        site=order.site,
        event_type="salesorder.status_changed",
        data={"previous_status": previous, "status": order.status, "sales_order": sales_order_json(order)},
        actor=actor,
    )


def sales_order_allocate(order: TimsSalesOrder, *, actor: dict) -> TimsSalesOrder:
    previous = _change_status(order, "allocated", actor, allowed_from=("open",))
    for line in _item_lines(order):
        stock.change(line.product, order.warehouse, allocated=line.quantity)
    order.save()
    _emit_status(order, previous, actor)
    return order


def sales_order_release(order: TimsSalesOrder, *, actor: dict) -> TimsSalesOrder:
    previous = _change_status(order, "open", actor, allowed_from=("allocated",))
    for line in _item_lines(order):
        stock.change(line.product, order.warehouse, allocated=-line.quantity)
    order.save()
    _emit_status(order, previous, actor)
    return order


def sales_order_ship(order: TimsSalesOrder, *, actor: dict) -> TimsReceivableInvoice:
    """Ship everything: stock leaves, the AR invoice is issued, sales and cost of sales post."""
    previous = _change_status(order, "shipped", actor, allowed_from=("allocated",))
    site = order.site
    cost = ZERO
    for line in _item_lines(order):
        stock.change(line.product, order.warehouse, on_hand=-line.quantity, allocated=-line.quantity)
        if line.product.tracked:
            cost += line.quantity * line.product.average_cost
    order.lines.update(quantity_shipped=F("quantity"))
    order.shipped_at = order.updated_at
    invoice = _issue_invoice(order, actor)
    order.due_date = invoice.due_date
    order.save()
    if cost:
        dims = [{"dimension_code": "BRANCH", "value_code": order.warehouse}]
        ledger.post_entry(
            site=site,
            postings=[
                ledger.Posting(ledger.COST_OF_SALES, debit=cost, memo=order.order_number, dimensions=dims),
                ledger.Posting(ledger.INVENTORY, credit=cost, memo=order.order_number, dimensions=dims),
            ],
            source="inventory",
            entry_date=invoice.invoice_date,
            memo=f"Cost of sales {order.order_number}",
            actor=actor,
            source_document={"type": "sales_order", "id": order.id, "number": order.order_number},
        )
    _emit_status(order, previous, actor)
    return invoice


def _issue_invoice(order: TimsSalesOrder, actor: dict) -> TimsReceivableInvoice:
    site = order.site
    today = timezone.localdate()
    invoice = TimsReceivableInvoice(
        site=site,
        invoice_number=next_number(site, "invoice"),
        customer=order.customer,
        sales_order=order,
        customer_reference=order.customer_reference,
        invoice_date=today,
        due_date=due_date_for((order.customer.extra or {}).get("payment_terms"), today),
        currency=order.currency,
        exchange_rate=order.exchange_rate,
        amounts_tax_inclusive=order.amounts_tax_inclusive,
        subtotal=order.subtotal,
        discount_total=order.discount_total,
        tax_total=order.tax_total,
        total=order.total,
        amount_due=order.total,
        extra=dict(order.extra or {}),
    )
    stamp_new(invoice, actor)
    invoice.save()
    TimsReceivableInvoiceLine.objects.bulk_create(
        [
            TimsReceivableInvoiceLine(invoice=invoice, **{name: getattr(line, name) for name in INVOICE_LINE_FIELDS})
            for line in order.lines.all()
        ]
    )
    # Sales journal in the base currency: AR = revenue + VAT, the rounding kept on revenue.
    rate = order.exchange_rate
    ar = ledger.to_base(invoice.total, rate, site)
    vat = ledger.to_base(invoice.tax_total, rate, site)
    revenue: dict[tuple[str, tuple], Decimal] = {}
    for line in invoice.lines.all():
        key = (line.account_code or "4000", tuple((d["dimension_code"], d["value_code"]) for d in line.dimensions or []))
        revenue[key] = revenue.get(key, ZERO) + ledger.to_base(line.line_total, rate, site)
    postings = [ledger.Posting(ledger.AR_CONTROL, debit=ar, memo=invoice.invoice_number)]
    keys = list(revenue)
    drift = ar - vat - sum(revenue.values(), ZERO)
    for index, (account, dims) in enumerate(keys):
        amount = revenue[(account, dims)] + (drift if index == len(keys) - 1 else ZERO)
        postings.append(
            ledger.Posting(
                account,
                credit=amount,
                memo=invoice.invoice_number,
                dimensions=[{"dimension_code": c, "value_code": v} for c, v in dims],
            )
        )
    postings.append(ledger.Posting(ledger.VAT_OUTPUT, credit=vat, memo=invoice.invoice_number))
    entry = ledger.post_entry(
        site=site,
        postings=postings,
        source="sales",
        entry_date=invoice.invoice_date,
        memo=f"Invoice {invoice.invoice_number} ({order.order_number})",
        actor=actor,
        source_document={"type": "receivable_invoice", "id": invoice.id, "number": invoice.invoice_number},
    )
    invoice.gl_entry = entry
    invoice.save(update_fields=["gl_entry"])
    return invoice


def sales_order_complete(order: TimsSalesOrder, *, actor: dict) -> TimsSalesOrder:
    previous = _change_status(order, "completed", actor, allowed_from=("shipped",))
    order.completed_at = order.updated_at
    order.save()
    _emit_status(order, previous, actor)
    return order


def sales_order_cancel(order: TimsSalesOrder, *, actor: dict, reason: str = "Cancelled by customer") -> TimsSalesOrder:
    """Cancel from open, allocated or shipped. A shipped order's shipment is reversed: stock
    comes back, its AR invoices become void and their journals are reversed."""
    if order.status == "shipped":
        for invoice in order.invoices.exclude(status="void"):
            if invoice.allocations.filter(payment__status="posted").exists() or invoice.external_settlement:
                raise invalid_state(f"{invoice.invoice_number} has payments; void them first.", order.status)
    previous = _change_status(order, "cancelled", actor, allowed_from=("open", "allocated", "shipped"))
    for line in _item_lines(order):
        if previous == "allocated":
            stock.change(line.product, order.warehouse, allocated=-line.quantity)
        elif previous == "shipped":
            stock.change(line.product, order.warehouse, on_hand=line.quantity_shipped)
    if previous == "shipped":
        for invoice in order.invoices.exclude(status="void"):
            invoice_void(invoice, actor=actor)
        for entry in ledger.entries_for(order.site, order.id):
            ledger.reverse_entry(entry, actor=actor, memo=f"Shipment of {order.order_number} reversed")
    order.cancelled_at = order.updated_at
    order.cancellation_reason = reason
    order.save()
    _emit_status(order, previous, actor)
    return order


def invoice_void(invoice: TimsReceivableInvoice, *, actor: dict) -> TimsReceivableInvoice:
    now = timezone.now()
    invoice.status = "void"
    invoice.voided_at = now
    invoice.amount_due = ZERO
    touch(invoice, actor, now)
    invoice.save()
    for entry in ledger.entries_for(invoice.site, invoice.id):
        ledger.reverse_entry(entry, actor=actor, memo=f"Invoice {invoice.invoice_number} voided")
    return invoice


def _settle_status(invoice: TimsReceivableInvoice, now) -> None:
    if invoice.amount_due <= 0:
        invoice.status = "paid"
        invoice.paid_at = invoice.paid_at or now
    else:
        invoice.status = "partially_paid" if invoice.amount_paid > 0 else "open"
        invoice.paid_at = None


def invoice_status_set(invoice: TimsReceivableInvoice, *, status: str, reason: str, actor: dict, settled_on: date | None = None) -> TimsReceivableInvoice:
    """Mark paid (settled outside TIMS) or reopen such an invoice (contract:
    ``updateReceivableInvoiceStatus``); asking for the current status is a no-op."""
    if invoice.status == status:
        return invoice
    now = timezone.now()
    if status == "paid" and invoice.status in ("open", "partially_paid"):
        invoice.external_settlement = {
            "amount": money(invoice.amount_due, invoice.currency),
            "settled_on": (settled_on or timezone.localdate()).isoformat(),
            "reason": reason,
            "settled_at": timestamp(now),
        }
        invoice.amount_due = ZERO
    elif status == "open" and invoice.status == "paid" and invoice.external_settlement:
        invoice.amount_due += Decimal(invoice.external_settlement["amount"])
        invoice.external_settlement = None
    else:
        raise invalid_state(f"{invoice.invoice_number} is {invoice.status}; it cannot become {status} here.", invoice.status)
    _settle_status(invoice, now)
    touch(invoice, actor, now)
    invoice.save()
    return invoice


@dataclass
class AllocationInput:
    invoice_id: str
    amount: Decimal


def payment_create(
    *,
    customer: TimsCustomer,
    payment_date: date,
    amount: Decimal,
    currency: str,
    method: str,
    actor: dict,
    allocations: list[AllocationInput] = (),
    exchange_rate: Decimal | None = None,
    reference: str | None = None,
    memo: str | None = None,
    deposit_account_code: str | None = None,
    external_refs: dict | None = None,
    single_invoice: bool = False,
) -> TimsPayment:
    """Record a receipt and apply it to open invoices in one transaction (the caller's).
    ``single_invoice``: the ``…/invoices/{id}/payments`` shortcut, whose body has no
    allocations, so field errors point at ``/amount`` and the path's ``invoiceId``."""
    site = customer.site
    if site.closed_through and payment_date <= site.closed_through:
        raise ApiProblem(409, "period-closed", f"{payment_date} is in a closed period (closed through {site.closed_through}).")
    errors = []
    if amount <= 0:
        errors.append(field_error("/amount", "out_of_range", "The amount must be positive."))
    invoices = {
        i.id: i
        for i in TimsReceivableInvoice.objects.select_for_update().filter(site=site, id__in=[a.invoice_id for a in allocations])
    }
    allocated = ZERO
    for index, allocation in enumerate(allocations):
        invoice_field = "invoiceId" if single_invoice else f"/allocations/{index}/invoice_id"
        amount_field = "/amount" if single_invoice else f"/allocations/{index}/amount"
        invoice = invoices.get(allocation.invoice_id)
        if invoice is None:
            errors.append(field_error(invoice_field, "not_found", f"No AR invoice {allocation.invoice_id}."))
            continue
        if invoice.customer_id != customer.id:
            errors.append(field_error(invoice_field, "customer_mismatch", f"Invoice {invoice.invoice_number} belongs to another customer."))
        if invoice.currency != currency:
            errors.append(field_error("/currency", "currency_mismatch", f"Invoice {invoice.invoice_number} is in {invoice.currency}, the payment is in {currency}."))
        if invoice.status not in ("open", "partially_paid"):
            errors.append(field_error(invoice_field, "invalid_value", f"Invoice {invoice.invoice_number} is {invoice.status}."))
        elif allocation.amount > invoice.amount_due:
            errors.append(
                field_error(
                    amount_field,
                    "exceeds_amount_due",
                    f"Allocation {money(allocation.amount, currency)} exceeds the amount due on invoice "
                    f"{invoice.invoice_number} ({money(invoice.amount_due, invoice.currency)}).",
                )
            )
        if allocation.amount <= 0 and not single_invoice:
            errors.append(field_error(amount_field, "out_of_range", "An allocation must be positive."))
        allocated += allocation.amount
    if allocated > amount and amount > 0:
        errors.append(field_error("/allocations", "over_allocated", f"Allocations total {money(allocated, currency)}, more than the payment's {money(amount, currency)}."))
    if errors:
        raise validation_failed(errors)
    exchange_rate = exchange_rate or ledger.site_rate(site, currency)
    now = timezone.now()
    payment = TimsPayment(
        site=site,
        payment_number=next_number(site, "payment"),
        customer=customer,
        payment_date=payment_date,
        amount=amount,
        currency=currency,
        exchange_rate=exchange_rate,
        method=method,
        reference=reference,
        memo=memo,
        deposit_account_code=deposit_account_code or ledger.BANK,
        unallocated_amount=amount - allocated,
        external_refs=dict(external_refs or {}),
    )
    stamp_new(payment, actor, now)
    payment.save()
    for allocation in allocations:
        invoice = invoices[allocation.invoice_id]
        TimsPaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=allocation.amount)
        invoice.amount_paid += allocation.amount
        invoice.amount_due -= allocation.amount
        _settle_status(invoice, now)
        touch(invoice, actor, now)
        invoice.save()
    base = ledger.to_base(amount, exchange_rate, site)
    ledger.post_entry(
        site=site,
        postings=[
            ledger.Posting(payment.deposit_account_code, debit=base, memo=payment.payment_number),
            ledger.Posting(ledger.AR_CONTROL, credit=base, memo=payment.payment_number),
        ],
        source="cash_receipts",
        entry_date=payment_date,
        memo=f"Receipt {payment.payment_number} from {customer.customer_code}",
        actor=actor,
        source_document={"type": "payment", "id": payment.id, "number": payment.payment_number},
    )
    webhooks.emit(site=site, event_type="payment.created", data={"payment": payment_json(payment)}, actor=actor)
    return payment


def payment_void(payment: TimsPayment, *, reason: str, actor: dict) -> TimsPayment:
    """Reverse a receipt and reopen what it paid; a void payment stays as it is."""
    if payment.status == "void":
        return payment
    closed = payment.site.closed_through
    if closed and payment.payment_date <= closed:
        raise ApiProblem(409, "period-closed", f"{payment.payment_number} is in a closed period (closed through {closed}).")
    now = timezone.now()
    for allocation in payment.allocations.select_related("invoice"):
        invoice = TimsReceivableInvoice.objects.select_for_update().get(pk=allocation.invoice_id)
        if invoice.status == "void":
            continue
        invoice.amount_paid -= allocation.amount
        invoice.amount_due += allocation.amount
        _settle_status(invoice, now)
        touch(invoice, actor, now)
        invoice.save()
    payment.status = "void"
    payment.voided_at = now
    payment.void_reason = reason
    touch(payment, actor, now)
    payment.save()
    for entry in ledger.entries_for(payment.site, payment.id):
        ledger.reverse_entry(entry, actor=actor, memo=f"Receipt {payment.payment_number} voided")
    webhooks.emit(site=payment.site, event_type="payment.voided", data={"payment": payment_json(payment)}, actor=actor)
    return payment
