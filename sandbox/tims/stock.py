"""Stock: levels per warehouse, average cost, and inventory adjustments (each posts to the GL).

TIMS owns quantities and average cost. A movement bumps the product's ``stock_updated_at``
(the order key of ``/inventory/items``) but not its ``updated_at``: stock is not a product
change (contract: ``product.updated``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.utils import timezone

from sandbox.models import TimsInventoryAdjustment, TimsProduct, TimsStockLevel
from sandbox.tims import ledger, webhooks
from sandbox.tims.numbers import ZERO, round_money
from sandbox.tims.problems import ApiProblem, field_error, validation_failed
from sandbox.tims.records import next_number, stamp_new
from sandbox.tims.serializers import adjustment_json

SIX = Decimal("0.000001")


def stock_level(product: TimsProduct, warehouse: str) -> TimsStockLevel:
    level, _ = TimsStockLevel.objects.select_for_update().get_or_create(product=product, warehouse=warehouse)
    return level


def record_movement(product: TimsProduct) -> None:
    product.has_movements = True
    product.stock_updated_at = timezone.now()
    TimsProduct.objects.filter(pk=product.pk).update(has_movements=True, stock_updated_at=product.stock_updated_at)


def change(product: TimsProduct, warehouse: str, *, on_hand: Decimal = ZERO, allocated: Decimal = ZERO, on_order: Decimal = ZERO) -> None:
    if not product.tracked:
        return
    level = stock_level(product, warehouse)
    level.on_hand += on_hand
    level.allocated += allocated
    level.on_order += on_order
    level.save()
    record_movement(product)


def total_on_hand(product: TimsProduct) -> Decimal:
    return sum((level.on_hand for level in product.stock_levels.all()), ZERO)


def receive(product: TimsProduct, warehouse: str, quantity: Decimal, unit_cost_base: Decimal, *, ordered: bool = True) -> None:
    """Goods in at a cost: the average cost moves towards it (weighted by quantity).
    ``ordered``: the goods were on a purchase order, so they leave ``on_order``."""
    if not product.tracked:
        return
    before = total_on_hand(product)
    value = max(before, ZERO) * product.average_cost + quantity * unit_cost_base
    after = max(before, ZERO) + quantity
    if after > 0:
        product.average_cost = (value / after).quantize(SIX)
        TimsProduct.objects.filter(pk=product.pk).update(average_cost=product.average_cost)
    change(product, warehouse, on_hand=quantity, on_order=-quantity if ordered else ZERO)


def adjustment_create(
    *,
    product: TimsProduct,
    warehouse: str,
    reason: str,
    actor: dict,
    quantity_delta: Decimal = ZERO,
    unit_cost: Decimal | None = None,
    revaluation_amount: Decimal | None = None,
    reason_note: str | None = None,
    offset_account_code: str = ledger.SHRINKAGE,
    adjustment_date: date | None = None,
    reverses: TimsInventoryAdjustment | None = None,
) -> TimsInventoryAdjustment:
    """Post a stock adjustment and its journal (``source: inventory``). ``revaluation``
    changes value only: ``revaluation_amount`` is the signed change in inventory value."""
    if not product.tracked:
        raise ApiProblem(409, "not-tracked", f"{product.sku} is not stock-tracked.")
    site = product.site
    base = site.base_currency
    quantity_delta = Decimal(quantity_delta)
    if reason == "revaluation":
        on_hand = total_on_hand(product)
        if revaluation_amount is None or on_hand <= 0:
            raise validation_failed([field_error("/revaluation_amount", "invalid_value", "A revaluation needs stock on hand and an amount.")])
        quantity_delta = ZERO
        total_cost = round_money(revaluation_amount, base)
        product.average_cost = ((on_hand * product.average_cost + total_cost) / on_hand).quantize(SIX)
        TimsProduct.objects.filter(pk=product.pk).update(average_cost=product.average_cost)
        unit_cost = product.average_cost
        record_movement(product)
    else:
        if quantity_delta == 0:
            raise validation_failed([field_error("/quantity_delta", "invalid_value", "An adjustment moves stock.")])
        unit_cost = product.average_cost if unit_cost is None else Decimal(unit_cost)
        total_cost = round_money(quantity_delta * unit_cost, base)
        if quantity_delta > 0:
            receive(product, warehouse, quantity_delta, unit_cost, ordered=False)
        else:
            change(product, warehouse, on_hand=quantity_delta)
    now = timezone.now()
    adjustment = TimsInventoryAdjustment(
        site=site,
        adjustment_number=next_number(site, "adjustment"),
        product=product,
        sku=product.sku,
        warehouse=warehouse,
        adjustment_date=adjustment_date or timezone.localdate(),
        posted_at=now,
        quantity_delta=quantity_delta,
        unit=product.unit,
        unit_cost=unit_cost,
        total_cost=total_cost,
        currency=base,
        reason=reason,
        reason_note=reason_note,
        offset_account_code=offset_account_code,
        reverses=reverses,
    )
    stamp_new(adjustment, actor, now)
    adjustment.save()
    dims = [{"dimension_code": "BRANCH", "value_code": warehouse}]
    memo = f"{product.sku} x{abs(quantity_delta).normalize()}" if quantity_delta else f"{product.sku} revaluation"
    postings = [
        ledger.Posting(ledger.INVENTORY, debit=max(total_cost, ZERO), credit=max(-total_cost, ZERO), memo=memo, dimensions=dims),
        ledger.Posting(offset_account_code, debit=max(-total_cost, ZERO), credit=max(total_cost, ZERO), memo=memo, dimensions=dims),
    ]
    entry = ledger.post_entry(
        site=site,
        postings=postings,
        source="inventory",
        entry_date=adjustment.adjustment_date,
        memo=f"Stock adjustment {adjustment.adjustment_number}: {reason}",
        actor=actor,
        source_document={"type": "inventory_adjustment", "id": adjustment.id, "number": adjustment.adjustment_number},
    )
    if entry is not None:
        adjustment.gl_entry = entry
        adjustment.save(update_fields=["gl_entry"])
    webhooks.emit(site=site, event_type="inventory.adjustment.created", data={"adjustment": adjustment_json(adjustment)}, actor=actor)
    return adjustment
