"""Records as the contract's JSON. Money is a decimal string in the record's currency."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Q, Sum

from sandbox.models import (
    TimsCustomer,
    TimsDimension,
    TimsDimensionValue,
    TimsGlAccount,
    TimsGlEntry,
    TimsInventoryAdjustment,
    TimsPayment,
    TimsProduct,
    TimsPurchaseOrder,
    TimsReceivableInvoice,
    TimsSalesOrder,
    TimsSalesOrderLine,
    TimsSite,
    TimsTaxCode,
    TimsVendor,
    TimsVendorBill,
    TimsWebhookSubscription,
)
from sandbox.tims.numbers import ZERO, compact, exchange_rate, money, timestamp, unit_price


def meta(record) -> dict:
    body = {
        "id": record.id,
        "created_at": timestamp(record.created_at),
        "updated_at": timestamp(record.updated_at),
        "version": record.version,
        "external_refs": dict(record.external_refs or {}),
    }
    if record.last_modified_by:
        body["last_modified_by"] = dict(record.last_modified_by)
    return body


def _present(values: dict) -> dict:
    return {key: value for key, value in values.items() if value not in (None, "")}


OPEN = ["open", "partially_paid"]


def open_balance(relation: str):
    """Annotation of the open AR/AP balance, so a page of parties costs one query."""
    return Sum(f"{relation}__amount_due", filter=Q(**{f"{relation}__status__in": OPEN}))


def _balance(record, relation: str) -> Decimal:
    if hasattr(record, "open_balance"):
        return record.open_balance or ZERO
    return getattr(record, relation).filter(status__in=OPEN).aggregate(s=Sum("amount_due"))["s"] or ZERO


def customer_json(c: TimsCustomer) -> dict:
    balance = _balance(c, "invoices")
    body = meta(c) | {"customer_code": c.customer_code, "name": c.name, "status": c.status, "currency": c.currency}
    body |= _present({"email": c.email, "default_tax_code": c.default_tax_code, "credit_limit": money(c.credit_limit, c.currency)})
    body["tax_exempt"] = c.tax_exempt
    body |= c.extra or {}
    body["balance"] = money(balance, c.currency)
    return body


def vendor_json(v: TimsVendor) -> dict:
    balance = _balance(v, "bills")
    body = meta(v) | {"vendor_code": v.vendor_code, "name": v.name, "status": v.status, "currency": v.currency}
    body |= v.extra or {}
    body["balance"] = money(balance, v.currency)
    return body


def product_json(p: TimsProduct) -> dict:
    body = meta(p) | {"sku": p.sku, "name": p.name, "unit": p.unit, "status": p.status, "currency": p.currency}
    body |= _present(
        {
            "category": p.category,
            "sale_price": unit_price(p.sale_price),
            "purchase_price": unit_price(p.purchase_price),
            "tax_code": p.tax_code,
        }
    )
    body |= {"tracked": p.tracked, "is_sold": p.is_sold, "is_purchased": p.is_purchased}
    body |= p.extra or {}
    return body


def _document(doc) -> dict:
    return {
        "currency": doc.currency,
        "base_currency": doc.site.base_currency,
        "exchange_rate": exchange_rate(doc.exchange_rate),
        "amounts_tax_inclusive": doc.amounts_tax_inclusive,
    }


def _tax_totals(lines, currency: str, inclusive: bool) -> list[dict]:
    totals: dict[tuple[str, Decimal], list[Decimal]] = {}
    for line in lines:
        if not line.tax_code:
            continue
        taxable = line.line_total - (line.tax_amount if inclusive else ZERO)
        entry = totals.setdefault((line.tax_code, line.tax_rate), [ZERO, ZERO])
        entry[0] += taxable
        entry[1] += line.tax_amount
    return [
        {"tax_code": code, "tax_rate": compact(rate), "taxable_amount": money(taxable, currency), "tax_amount": money(tax, currency)}
        for (code, rate), (taxable, tax) in totals.items()
    ]


def _sales_line(line, currency: str, *, with_shipped: bool) -> dict:
    body = {
        "line_number": line.line_number,
        "line_type": line.line_type,
        "product_id": line.product_id,
        "sku": line.sku,
        "description": line.description,
        "quantity": compact(line.quantity),
        "unit": line.unit,
        "unit_price": unit_price(line.unit_price),
        "discount_amount": money(line.discount_amount, currency),
        "tax_code": line.tax_code,
        "tax_rate": compact(line.tax_rate),
        "tax_amount": money(line.tax_amount, currency),
        "line_total": money(line.line_total, currency),
        "account_code": line.account_code,
        "dimensions": list(line.dimensions or []),
    }
    if line.discount_percent is not None:
        body["discount_percent"] = compact(line.discount_percent)
    if with_shipped:
        body["quantity_shipped"] = compact(line.quantity_shipped)
    return body


def _purchase_line(line, currency: str) -> dict:
    return {
        "line_number": line.line_number,
        "line_type": line.line_type,
        "product_id": line.product_id,
        "sku": line.sku,
        "description": line.description,
        "quantity": compact(line.quantity),
        "unit": line.unit,
        "unit_cost": unit_price(line.unit_cost),
        "tax_code": line.tax_code,
        "tax_rate": compact(line.tax_rate),
        "tax_amount": money(line.tax_amount, currency),
        "line_total": money(line.line_total, currency),
        "account_code": line.account_code,
        "dimensions": list(line.dimensions or []),
    }


def sales_order_json(o: TimsSalesOrder, *, lines: list | None = None, invoice_ids: list[str] | None = None) -> dict:
    """``lines`` and ``invoice_ids`` when the caller loaded them for a whole page
    (:func:`sales_orders_json`); else the order's own."""
    cur = o.currency
    if lines is None:
        lines = list(o.lines.all())
    if invoice_ids is None:
        invoice_ids = [i.id for i in sorted(o.invoices.all(), key=lambda i: (i.created_at, i.id))]
    return meta(o) | _document(o) | {
        "order_number": o.order_number,
        "customer_id": o.customer_id,
        "customer_code": o.customer.customer_code,
        "customer_reference": o.customer_reference,
        "status": o.status,
        "order_date": o.order_date.isoformat(),
        "due_date": o.due_date.isoformat() if o.due_date else None,
        "warehouse": o.warehouse,
        **(o.extra or {}),
        "lines": [_sales_line(line, cur, with_shipped=True) for line in lines],
        "subtotal": money(o.subtotal, cur),
        "discount_total": money(o.discount_total, cur),
        "tax_total": money(o.tax_total, cur),
        "total": money(o.total, cur),
        "tax_totals": _tax_totals(lines, cur, o.amounts_tax_inclusive),
        "shipped_at": timestamp(o.shipped_at),
        "completed_at": timestamp(o.completed_at),
        "cancelled_at": timestamp(o.cancelled_at),
        "cancellation_reason": o.cancellation_reason,
        "invoice_ids": invoice_ids,
        "status_history": list(o.status_history or []),
    }


SALES_ORDER_LINE_COLUMNS = (
    "order_id", "line_number", "line_type", "product_id", "sku", "description", "quantity", "unit", "unit_price",
    "discount_percent", "discount_amount", "tax_code", "tax_rate", "tax_amount", "line_total", "account_code",
    "dimensions", "quantity_shipped",
)


def sales_orders_json(orders: list[TimsSalesOrder], site: TimsSite) -> list[dict]:
    """A page of orders (all of ``site``) in three queries however long it is: their lines as
    plain rows, their invoices' ids and their customers' codes. Prefetching builds a model and
    a queryset per line and per relation of every order, which cost more than the JSON."""
    ids = [o.id for o in orders]
    lines: dict[str, list] = defaultdict(list)
    for row in TimsSalesOrderLine.objects.filter(order_id__in=ids).values_list(*SALES_ORDER_LINE_COLUMNS, named=True):
        lines[row.order_id].append(row)
    invoice_ids: dict[str, list[str]] = defaultdict(list)
    invoices = TimsReceivableInvoice.objects.filter(sales_order_id__in=ids).values_list("created_at", "id", "sales_order_id")
    for _, ident, order_id in sorted(invoices):
        invoice_ids[order_id].append(ident)
    customers = TimsCustomer.objects.only("customer_code").in_bulk({o.customer_id for o in orders})
    for o in orders:
        o.site, o.customer = site, customers[o.customer_id]
    return [sales_order_json(o, lines=lines[o.id], invoice_ids=invoice_ids[o.id]) for o in orders]


def invoice_json(i: TimsReceivableInvoice) -> dict:
    cur = i.currency
    lines = list(i.lines.all())
    order = i.sales_order
    return meta(i) | _document(i) | {
        "invoice_number": i.invoice_number,
        "customer_id": i.customer_id,
        "customer_code": i.customer.customer_code,
        "sales_order_id": i.sales_order_id,
        "order_number": order.order_number if order else None,
        "customer_reference": i.customer_reference,
        "status": i.status,
        "invoice_date": i.invoice_date.isoformat(),
        "due_date": i.due_date.isoformat(),
        **(i.extra or {}),
        "lines": [_sales_line(line, cur, with_shipped=False) for line in lines],
        "subtotal": money(i.subtotal, cur),
        "discount_total": money(i.discount_total, cur),
        "tax_total": money(i.tax_total, cur),
        "total": money(i.total, cur),
        "tax_totals": _tax_totals(lines, cur, i.amounts_tax_inclusive),
        "amount_paid": money(i.amount_paid, cur),
        "amount_due": money(i.amount_due, cur),
        "paid_at": timestamp(i.paid_at),
        "voided_at": timestamp(i.voided_at),
        "external_settlement": i.external_settlement,
    }


def purchase_order_json(o: TimsPurchaseOrder) -> dict:
    cur = o.currency
    lines = list(o.lines.all())
    line_bodies = []
    for line in lines:
        body = _purchase_line(line, cur)
        body["quantity_received"] = compact(line.quantity_received)
        body["quantity_billed"] = compact(line.quantity_billed)
        line_bodies.append(body)
    return meta(o) | _document(o) | {
        "po_number": o.po_number,
        "vendor_id": o.vendor_id,
        "vendor_code": o.vendor.vendor_code,
        "status": o.status,
        "order_date": o.order_date.isoformat(),
        "expected_date": o.expected_date.isoformat() if o.expected_date else None,
        "warehouse": o.warehouse,
        **(o.extra or {}),
        "lines": line_bodies,
        "subtotal": money(o.subtotal, cur),
        "tax_total": money(o.tax_total, cur),
        "total": money(o.total, cur),
        "tax_totals": _tax_totals(lines, cur, o.amounts_tax_inclusive),
        "bill_ids": [b.id for b in sorted(o.bills.all(), key=lambda b: (b.created_at, b.id))],
    }


def vendor_bill_json(b: TimsVendorBill) -> dict:
    cur = b.currency
    lines = list(b.lines.all())
    line_bodies = []
    for line in lines:
        body = _purchase_line(line, cur)
        body["purchase_order_line_number"] = line.purchase_order_line_number
        line_bodies.append(body)
    return meta(b) | _document(b) | {
        "bill_number": b.bill_number,
        "vendor_id": b.vendor_id,
        "vendor_code": b.vendor.vendor_code,
        "purchase_order_id": b.purchase_order_id,
        "status": b.status,
        "bill_date": b.bill_date.isoformat(),
        "due_date": b.due_date.isoformat(),
        "memo": b.memo,
        "lines": line_bodies,
        "subtotal": money(b.subtotal, cur),
        "tax_total": money(b.tax_total, cur),
        "total": money(b.total, cur),
        "tax_totals": _tax_totals(lines, cur, b.amounts_tax_inclusive),
        "amount_paid": money(b.amount_paid, cur),
        "amount_due": money(b.amount_due, cur),
        "voided_at": timestamp(b.voided_at),
    }


def payment_json(p: TimsPayment) -> dict:
    cur = p.currency
    return meta(p) | {
        "payment_number": p.payment_number,
        "customer_id": p.customer_id,
        "customer_code": p.customer.customer_code,
        "status": p.status,
        "payment_date": p.payment_date.isoformat(),
        "amount": money(p.amount, cur),
        "currency": cur,
        "base_currency": p.site.base_currency,
        "exchange_rate": exchange_rate(p.exchange_rate),
        "method": p.method,
        "reference": p.reference,
        "memo": p.memo,
        "deposit_account_code": p.deposit_account_code,
        "allocations": [
            {"invoice_id": a.invoice_id, "invoice_number": a.invoice.invoice_number, "amount": money(a.amount, cur)}
            for a in p.allocations.all()
        ],
        "unallocated_amount": money(p.unallocated_amount, cur),
        "voided_at": timestamp(p.voided_at),
        "void_reason": p.void_reason,
    }


def inventory_level_json(p: TimsProduct, warehouse: str | None = None) -> dict:
    levels = sorted(
        (level for level in p.stock_levels.all() if warehouse is None or level.warehouse == warehouse),
        key=lambda level: level.warehouse,
    )
    on_hand = sum((level.on_hand for level in levels), ZERO)
    allocated = sum((level.allocated for level in levels), ZERO)
    on_order = sum((level.on_order for level in levels), ZERO)
    base = p.site.base_currency
    return {
        "sku": p.sku,
        "product_id": p.id,
        "unit": p.unit,
        "on_hand": compact(on_hand),
        "allocated": compact(allocated),
        "available": compact(on_hand - allocated),
        "on_order": compact(on_order),
        "average_unit_cost": unit_price(p.average_cost),
        "inventory_value": money(on_hand * p.average_cost, base),
        "currency": base,
        "updated_at": timestamp(p.stock_updated_at),
        "warehouses": [
            {
                "warehouse": level.warehouse,
                "on_hand": compact(level.on_hand),
                "allocated": compact(level.allocated),
                "available": compact(level.on_hand - level.allocated),
                "on_order": compact(level.on_order),
            }
            for level in levels
        ],
    }


def adjustment_json(a: TimsInventoryAdjustment) -> dict:
    return meta(a) | {
        "adjustment_number": a.adjustment_number,
        "sku": a.sku,
        "product_id": a.product_id,
        "warehouse": a.warehouse,
        "adjustment_date": a.adjustment_date.isoformat(),
        "posted_at": timestamp(a.posted_at),
        "quantity_delta": compact(a.quantity_delta),
        "unit": a.unit,
        "unit_cost": unit_price(a.unit_cost),
        "total_cost": money(a.total_cost, a.currency),
        "currency": a.currency,
        "reason": a.reason,
        "reason_note": a.reason_note,
        "offset_account_code": a.offset_account_code,
        "reverses_adjustment_id": a.reverses_id,
        "gl_entry_id": a.gl_entry_id,
    }


def gl_entry_json(e: TimsGlEntry) -> dict:
    cur = e.currency
    return meta(e) | {
        "entry_number": e.entry_number,
        "entry_date": e.entry_date.isoformat(),
        "period": e.period,
        "source": e.source,
        "source_document": e.source_document,
        "memo": e.memo,
        "currency": cur,
        "status": e.status,
        "lines": [
            {
                "line_number": line.line_number,
                **({"account_id": line.account_id} if line.account_id else {}),
                "account_code": line.account_code,
                "account_name": line.account_name,
                "debit": money(line.debit, cur),
                "credit": money(line.credit, cur),
                "memo": line.memo,
                "tax_code": line.tax_code,
                "dimensions": list(line.dimensions or []),
            }
            for line in e.lines.all()
        ],
        "total_debit": money(e.total_debit, cur),
        "total_credit": money(e.total_credit, cur),
        "posted_at": timestamp(e.posted_at),
        "reverses_entry_id": e.reverses_id,
        "reversed_by_entry_id": e.reversed_by_id,
    }


def gl_account_json(a: TimsGlAccount) -> dict:
    return meta(a) | {
        "code": a.code,
        "name": a.name,
        "description": a.description,
        "type": a.type,
        "subtype": a.subtype,
        "status": a.status,
        "is_control_account": a.is_control_account,
        "currency": a.currency,
    }


def tax_code_json(t: TimsTaxCode) -> dict:
    body = meta(t) | {
        "code": t.code,
        "name": t.name,
        "rate": compact(t.rate),
        "status": t.status,
        "applies_to": t.applies_to,
        "is_exempt": t.is_exempt,
    }
    if t.components:
        body["components"] = list(t.components)
    return body


def dimension_json(d: TimsDimension) -> dict:
    return meta(d) | {
        "code": d.code,
        "name": d.name,
        "status": d.status,
        "applies_to": list(d.applies_to or []),
        "value_count": d.value_count if hasattr(d, "value_count") else d.values.count(),
    }


def dimension_value_json(v: TimsDimensionValue) -> dict:
    return meta(v) | {
        "dimension_id": v.dimension_id,
        "dimension_code": v.dimension.code,
        "code": v.code,
        "name": v.name,
        "status": v.status,
        "parent_value_id": v.parent_id,
    }


def subscription_json(s: TimsWebhookSubscription, *, with_secret: bool = False) -> dict:
    body = meta(s) | {
        "url": s.url,
        "events": list(s.events),
        "status": s.status,
        "disabled_reason": s.disabled_reason,
        "last_delivery_at": timestamp(s.last_delivery_at),
        "last_delivery_status": s.last_delivery_status,
        "last_delivery_error": s.last_delivery_error,
        "secret_rotated_at": timestamp(s.secret_rotated_at),
    }
    if s.description:
        body["description"] = s.description
    if with_secret:
        body["secret"] = s.secret
        body["previous_secret_expires_at"] = timestamp(s.previous_secret_expires_at) if s.previous_secret else None
    return body
