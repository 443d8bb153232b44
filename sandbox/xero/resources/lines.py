"""Line items of invoices, credit notes and bank transactions: defaults from the item and the
account, tax per line rounded then summed (api-notes §6.2, §6.10), the LineItemID update
semantics (a line with its id is updated, one without is added, an omitted one is deleted)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from sandbox.models import XeroLineItem
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.money import LineAmountTypes, Totals, document_totals, line_amount, line_tax, round_money, round_unit
from sandbox.xero.resources.base import ApiContext, a_uuid, decimal, drop_empty, resolve_account, resolve_tax_rate
from sandbox.xero.resources.tracking import resolve_tracking

MAX_LINE_AMOUNT = Decimal("9999999999.99")


@dataclass
class LineSpec:
    values: dict
    line_item_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class LineRules:
    sales: bool  # sales side: item sales details, discounts allowed
    require_accounts: bool  # complete documents (not DRAFT) need an account on every line
    allow_tax_override: bool  # TaxAmount may be overridden on invoices, not on bank transactions (§6.7)


def build_lines(
    ctx: ApiContext,
    raw_lines: object,
    *,
    line_amount_types: str,
    rules: LineRules,
    existing: dict[uuid.UUID, XeroLineItem],
) -> tuple[list[LineSpec], Totals]:
    if raw_lines is None:
        raw_lines = []
    if not isinstance(raw_lines, list):
        raise ValidationFailed("LineItems must be a list.")
    if line_amount_types not in LineAmountTypes.ALL:
        raise ValidationFailed(f"LineAmountTypes '{line_amount_types}' is not valid.")
    specs: list[LineSpec] = []
    errors: list[str] = []
    for position, raw in enumerate(raw_lines):
        try:
            specs.append(_build_line(ctx, raw, position, line_amount_types, rules, existing))
        except ValidationFailed as exc:
            errors.extend(exc.messages)
    if errors:
        raise ValidationFailed(*errors)
    totals = document_totals([(s.values["line_amount"], s.values["tax_amount"]) for s in specs], line_amount_types)
    return specs, totals


def _build_line(ctx, raw, position, line_amount_types, rules: LineRules, existing) -> LineSpec:
    if not isinstance(raw, dict):
        raise ValidationFailed("Each line item must be an object.")
    line_item_id = a_uuid(raw.get("LineItemID")) if raw.get("LineItemID") else None
    if raw.get("LineItemID") and line_item_id not in existing:
        raise ValidationFailed(f"LineItemID {raw['LineItemID']} does not belong to this document.")
    item = None
    if raw.get("ItemCode"):
        item = ctx.lookups.item_by_code(str(raw["ItemCode"]))
        if item is None:
            raise ValidationFailed(f"Item code '{raw['ItemCode']}' is not valid.")
    description = raw.get("Description")
    if description is None and item is not None:
        description = item.description if rules.sales else (item.purchase_description or item.description)
    description = "" if description is None else str(description)
    if len(description) > 4000:
        raise ValidationFailed("Description must not be more than 4000 characters long.")

    quantity = decimal(raw, "Quantity")
    unit_amount = decimal(raw, "UnitAmount")
    if unit_amount is None and item is not None:
        unit_amount = item.sales_unit_price if rules.sales else item.purchase_unit_price
    stored = existing.get(line_item_id) if line_item_id else None
    if unit_amount is not None and not (stored is not None and stored.unit_amount == unit_amount):
        # 2 dp unless unitdp=4 (§6.2); a kept line's stored 4 dp amount is not rounded again.
        unit_amount = round_unit(unit_amount, ctx.unitdp)
    if unit_amount is not None:
        if quantity is None:
            quantity = Decimal("1")
    discount_rate = decimal(raw, "DiscountRate")
    if discount_rate is not None and not rules.sales:
        raise ValidationFailed("Discounts can only be applied to sales documents.")
    if discount_rate is not None and not (Decimal("0") <= discount_rate <= Decimal("100")):
        raise ValidationFailed("DiscountRate must be between 0 and 100.")
    if quantity is not None and unit_amount is not None:
        amount = line_amount(quantity, unit_amount, discount_rate)
    else:
        given = decimal(raw, "LineAmount")
        amount = round_money(given) if given is not None else Decimal("0.00")
    if abs(amount) > MAX_LINE_AMOUNT:
        raise ValidationFailed("LineAmount must be less than 9,999,999,999.99.")

    account = None
    if raw.get("AccountCode") or raw.get("AccountID"):
        account = resolve_account(ctx, code=raw.get("AccountCode"), account_id=raw.get("AccountID"))
        if account is None or account.status != "ACTIVE":
            raise ValidationFailed(f"Account code '{raw.get('AccountCode') or raw.get('AccountID')}' is not a valid code for this document.")
    elif item is not None:
        code = item.sales_account_code if rules.sales else (item.purchase_account_code or item.purchase_cogs_account_code)
        account = resolve_account(ctx, code=code) if code else None
    if account is None and rules.require_accounts and (description or amount):
        raise ValidationFailed("Account code must be specified for each line item.")

    tax_type = str(raw.get("TaxType") or "")
    if not tax_type and item is not None:
        tax_type = item.sales_tax_type if rules.sales else item.purchase_tax_type
    if not tax_type and account is not None:
        tax_type = account.tax_type
    rate = Decimal("0")
    if line_amount_types == LineAmountTypes.NO_TAX:
        tax_type = tax_type or "NONE"
    if tax_type:
        tax_rate = resolve_tax_rate(ctx, tax_type)
        tax_type = tax_rate.tax_type
        rate = tax_rate.rate
    tax_amount = line_tax(amount, rate, line_amount_types)
    override = decimal(raw, "TaxAmount")
    if override is not None and round_money(override) != tax_amount:
        if not rules.allow_tax_override:
            raise ValidationFailed("The TaxAmount cannot be changed on this type of transaction.")
        if line_amount_types == LineAmountTypes.NO_TAX and override:
            raise ValidationFailed("TaxAmount must be zero when LineAmountTypes is NoTax.")
        tax_amount = round_money(override)

    values = {
        "position": position,
        "description": description,
        "quantity": quantity,
        "unit_amount": unit_amount,
        "item_code": item.code if item else "",
        "account_code": account.code if account else "",
        "tax_type": tax_type,
        "tax_amount": tax_amount,
        "line_amount": amount,
        "discount_rate": discount_rate,
        "tracking": resolve_tracking(ctx, raw.get("Tracking")),
    }
    return LineSpec(values=values, line_item_id=line_item_id or uuid.uuid4())


def save_lines(
    owner_field: str, owner, specs: list[LineSpec], *, new_owner: bool = False, pending: list | None = None
) -> list[XeroLineItem]:
    """Replace the document's lines; kept lines keep their LineItemID. ``new_owner``: the
    document was inserted just now, so it has no lines to delete. ``pending``: collect the rows
    there instead of inserting them (``ctx.pending.lines``), for a new document whose lines
    nothing reads before the batch inserts them. Returns the new rows, in order."""
    if not new_owner:
        XeroLineItem.objects.filter(**{owner_field: owner}).delete()
    rows = [XeroLineItem(line_item_id=s.line_item_id, **{owner_field: owner}, **s.values) for s in specs]
    if new_owner and pending is not None:
        pending.extend(rows)
    else:
        XeroLineItem.objects.bulk_create(rows)
    return rows


def serialize_line(ctx: ApiContext, line: XeroLineItem) -> dict:
    body = drop_empty(
        {
            "LineItemID": str(line.line_item_id),
            "Description": line.description,
            "ItemCode": line.item_code,
            "AccountCode": line.account_code,
            "TaxType": line.tax_type,
        }
    )
    if line.quantity is not None:
        body["Quantity"] = line.quantity
    if line.unit_amount is not None:
        body["UnitAmount"] = round_unit(line.unit_amount, ctx.unitdp)
    if line.discount_rate is not None:
        body["DiscountRate"] = line.discount_rate
    body["TaxAmount"] = line.tax_amount
    body["LineAmount"] = line.line_amount
    body["Tracking"] = line.tracking
    return body
