"""Purchase orders (goods in, average cost) and vendor bills (accounts payable)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import F
from django.utils import timezone

from sandbox.models import TimsPurchaseOrder, TimsPurchaseOrderLine, TimsTaxCode, TimsVendor, TimsVendorBill, TimsVendorBillLine
from sandbox.tims import ledger, stock, webhooks
from sandbox.tims.numbers import ZERO
from sandbox.tims.problems import invalid_state
from sandbox.tims.records import next_number, stamp_new, touch
from sandbox.tims.sales import LineInput, due_date_for, line_amounts
from sandbox.tims.serializers import vendor_bill_json


def _lines(doc, lines: list[LineInput], line_model, parent: str, **per_line) -> None:
    rates = dict(TimsTaxCode.objects.filter(site=doc.site).values_list("code", "rate"))
    subtotal = tax_total = ZERO
    rows = []
    for number, line in enumerate(lines, start=1):
        product = line.product
        tax_code = line.tax_code or ((product.extra or {}).get("purchase_tax_code") if product else None) or "S20"
        rate = rates.get(tax_code, ZERO)
        _, total, tax = line_amounts(line.quantity, line.unit_price, None, rate, doc.currency, False)
        subtotal += total
        tax_total += tax
        default_account = ledger.INVENTORY if product and product.tracked else "5000"
        rows.append(
            line_model(
                **{parent: doc},
                **line.common_fields(number),
                unit_cost=line.unit_price,
                tax_code=tax_code,
                tax_rate=rate,
                tax_amount=tax,
                line_total=total,
                account_code=line.account_code or default_account,
                **{k: (v(number) if callable(v) else v) for k, v in per_line.items()},
            )
        )
    line_model.objects.bulk_create(rows)
    doc.subtotal, doc.tax_total, doc.total = subtotal, tax_total, subtotal + tax_total


def purchase_order_create(
    *, vendor: TimsVendor, lines: list[LineInput], actor: dict, warehouse: str = "LEEDS", order_date: date | None = None
) -> TimsPurchaseOrder:
    site = vendor.site
    order = TimsPurchaseOrder(
        site=site,
        po_number=next_number(site, "purchaseorder"),
        vendor=vendor,
        order_date=order_date or timezone.localdate(),
        expected_date=(order_date or timezone.localdate()) + timedelta(days=7),
        warehouse=warehouse,
        currency=vendor.currency,
        exchange_rate=ledger.site_rate(site, vendor.currency),
        status="open",
    )
    stamp_new(order, actor)
    order.save()
    _lines(order, lines, TimsPurchaseOrderLine, "order")
    order.save(update_fields=["subtotal", "tax_total", "total"])
    for line in order.lines.select_related("product"):
        if line.product:
            stock.change(line.product, warehouse, on_order=line.quantity)
    return order


def purchase_order_receive(order: TimsPurchaseOrder, *, actor: dict) -> TimsPurchaseOrder:
    """Receive everything outstanding at the PO's cost: stock in, GRNI credited."""
    if order.status not in ("open", "partially_received"):
        raise invalid_state(f"{order.po_number} is {order.status}.", order.status)
    site = order.site
    value = ZERO
    for line in order.lines.select_related("product"):
        outstanding = line.quantity - line.quantity_received
        if outstanding <= 0:
            continue
        unit_cost_base = line.unit_cost / order.exchange_rate
        if line.product:
            stock.receive(line.product, order.warehouse, outstanding, unit_cost_base)
        value += ledger.to_base(outstanding * line.unit_cost, order.exchange_rate, site)
        line.quantity_received = line.quantity
        line.save(update_fields=["quantity_received"])
    order.status = "received"
    touch(order, actor)
    order.save()
    ledger.post_entry(
        site=site,
        postings=[
            ledger.Posting(ledger.INVENTORY, debit=value, memo=order.po_number),
            ledger.Posting(ledger.GRNI, credit=value, memo=order.po_number),
        ],
        source="purchases",
        entry_date=timezone.localdate(),
        memo=f"Goods received {order.po_number}",
        actor=actor,
        source_document={"type": "purchase_order", "id": order.id, "number": order.po_number},
    )
    return order


def vendor_bill_create(
    *,
    vendor: TimsVendor,
    bill_number: str,
    actor: dict,
    purchase_order: TimsPurchaseOrder | None = None,
    lines: list[LineInput] | None = None,
    bill_date: date | None = None,
    memo: str | None = None,
) -> TimsVendorBill:
    """A bill for a PO (its lines, matched line by line) or a stand-alone bill (freight, utilities)."""
    site = vendor.site
    bill_date = bill_date or timezone.localdate()
    bill = TimsVendorBill(
        site=site,
        bill_number=bill_number,
        vendor=vendor,
        purchase_order=purchase_order,
        bill_date=bill_date,
        due_date=due_date_for((vendor.extra or {}).get("payment_terms"), bill_date),
        memo=memo,
        currency=vendor.currency,
        exchange_rate=purchase_order.exchange_rate if purchase_order else ledger.site_rate(site, vendor.currency),
    )
    stamp_new(bill, actor)
    bill.save()
    if purchase_order is not None:
        po_lines = list(purchase_order.lines.select_related("product"))
        lines = [
            LineInput(
                description=l.description, quantity=l.quantity, unit_price=l.unit_cost, product=l.product,
                line_type=l.line_type, tax_code=l.tax_code, account_code=ledger.GRNI if l.product else l.account_code,
                unit=l.unit, dimensions=list(l.dimensions or []),
            )
            for l in po_lines
        ]
        _lines(bill, lines, TimsVendorBillLine, "bill", purchase_order_line_number=lambda n: n)
        purchase_order.lines.update(quantity_billed=F("quantity"))
        purchase_order.status = "closed" if purchase_order.status == "received" else purchase_order.status
        touch(purchase_order, actor)
        purchase_order.save()
    else:
        _lines(bill, lines or [], TimsVendorBillLine, "bill")
    bill.amount_due = bill.total
    bill.save(update_fields=["subtotal", "tax_total", "total", "amount_due"])
    rate = bill.exchange_rate
    postings = []
    for line in bill.lines.all():
        postings.append(ledger.Posting(line.account_code or "5000", debit=ledger.to_base(line.line_total, rate, site), memo=bill.bill_number, dimensions=list(line.dimensions or [])))
    vat = ledger.to_base(bill.tax_total, rate, site)
    postings.append(ledger.Posting(ledger.VAT_INPUT, debit=vat, memo=bill.bill_number))
    ap = sum((p.debit for p in postings), ZERO)
    postings.append(ledger.Posting(ledger.AP_CONTROL, credit=ap, memo=bill.bill_number))
    ledger.post_entry(
        site=site,
        postings=postings,
        source="purchases",
        entry_date=bill_date,
        memo=f"Bill {bill.bill_number} from {vendor.vendor_code}",
        actor=actor,
        source_document={"type": "vendor_bill", "id": bill.id, "number": bill.bill_number},
    )
    webhooks.emit(site=site, event_type="vendorbill.created", data={"vendor_bill": vendor_bill_json(bill)}, actor=actor)
    return bill
