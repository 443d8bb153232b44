"""Tracked inventory (api-notes §6.4): approved documents move an item's QuantityOnHand and
TotalCostPool (average cost). Bills and customer credit notes bring stock in, sales invoices and
supplier credit notes take it out; a sale cannot take more than is on hand.

Each document remembers what it applied (``extra["stock"]``), so any change (approval, edit,
void, delete) is settled by reversing the old effect and applying the new one.
"""

from __future__ import annotations

from decimal import Decimal

from sandbox.models import XeroItem
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.money import LineAmountTypes, round_money

APPROVED = ("AUTHORISED", "PAID")
INBOUND = {"ACCPAY": True, "ACCRECCREDIT": True, "ACCREC": False, "ACCPAYCREDIT": False}


def _wanted(document, lines) -> dict[str, dict]:
    """Per tracked item: the quantity and, for stock coming in, its net cost."""
    if document.status not in APPROVED:
        return {}
    wanted: dict[str, dict] = {}
    for line in lines:
        if not line.item_code or line.quantity is None:
            continue
        net = line.line_amount - line.tax_amount if document.line_amount_types == LineAmountTypes.INCLUSIVE else line.line_amount
        entry = wanted.setdefault(line.item_code, {"quantity": Decimal("0"), "net": Decimal("0")})
        entry["quantity"] += line.quantity
        entry["net"] += net
    return wanted


def _reverse(tenant, applied: dict[str, dict]) -> None:
    for code, entry in applied.items():
        item = XeroItem.objects.select_for_update().filter(tenant=tenant, code=code).first()
        if item is None:
            continue
        item.quantity_on_hand -= Decimal(entry["quantity"])
        item.total_cost_pool -= Decimal(entry["cost"])
        item.save(update_fields=["quantity_on_hand", "total_cost_pool"])


def stock_settle(document, type_: str, *, item_codes: set[str] | None = None) -> None:
    """Bring the items' stock in line with ``document`` as it now stands. ``item_codes``: the
    codes of the tracked items on the lines just saved, when the caller knows them; with none,
    and nothing applied before, there is nothing to settle and the lines need not be read."""
    if item_codes is not None and not item_codes and not document.extra.get("stock"):
        return
    lines = list(document.lines.all())
    wanted = _wanted(document, lines)
    applied = document.extra.get("stock", {})
    comparable = {code: {"quantity": str(e["quantity"])} for code, e in applied.items()}
    if comparable == {code: {"quantity": str(e["quantity"])} for code, e in wanted.items()}:
        return
    _reverse(document.tenant, applied)
    now_applied: dict[str, dict] = {}
    inbound = INBOUND[type_]
    for code, entry in wanted.items():
        item = XeroItem.objects.select_for_update().filter(tenant=document.tenant, code=code).first()
        if item is None or not item.is_tracked_as_inventory:
            continue
        quantity = entry["quantity"]
        if inbound:
            cost = round_money(entry["net"])
        else:
            if quantity > item.quantity_on_hand:
                raise ValidationFailed(
                    f"There is not enough quantity on hand of item '{code}' ({item.quantity_on_hand.normalize()} available)."
                )
            average = item.total_cost_pool / item.quantity_on_hand if item.quantity_on_hand else Decimal("0")
            cost = -round_money(average * quantity)
            quantity = -quantity
        item.quantity_on_hand += quantity
        item.total_cost_pool += cost
        item.save(update_fields=["quantity_on_hand", "total_cost_pool"])
        now_applied[code] = {"quantity": str(quantity), "cost": str(cost)}
    document.extra = {**document.extra, "stock": now_applied}
    document.save(update_fields=["extra"])
