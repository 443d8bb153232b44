"""Customers, vendors and products: create and JSON Merge Patch update (RFC 7396).

Bodies arrive already checked against the contract (unknown fields, types, immutable codes);
what is left here are the rules the schema cannot state: unique codes, SKUs and external
refs, the money precision of the currency, and ``tracked`` changes.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from sandbox.models import TimsCustomer, TimsProduct, TimsSite, TimsVendor
from sandbox.tims import webhooks
from sandbox.tims.numbers import minor_units
from sandbox.tims.problems import ApiProblem, field_error, invalid_state, validation_failed
from sandbox.tims.records import check_external_refs, merge_external_refs, next_number, stamp_new, touch
from sandbox.tims.serializers import customer_json, product_json, vendor_json

CUSTOMER_COLUMNS = {"customer_code", "name", "status", "currency", "email", "tax_exempt", "default_tax_code", "credit_limit"}
VENDOR_COLUMNS = {"vendor_code", "name", "status", "currency"}
PRODUCT_COLUMNS = {
    "sku", "name", "status", "category", "unit", "currency", "sale_price", "purchase_price", "tax_code",
    "tracked", "is_sold", "is_purchased",
}
DECIMALS = {"credit_limit", "sale_price", "purchase_price"}


def check_money(value: str, currency: str, field: str) -> Decimal:
    """Requests may send fewer digits than the currency's minor units, never more."""
    amount = Decimal(value)
    if -amount.as_tuple().exponent > minor_units(currency):
        raise validation_failed(
            [field_error(field, "invalid_format", f"{currency} amounts have at most {minor_units(currency)} decimals.")]
        )
    return amount


def _merge(target: dict, patch: dict) -> dict:
    merged = dict(target)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _apply(record, body: dict, columns: set[str]) -> list[str]:
    """Set columns and ``extra``; the names of the top-level fields whose value changed."""
    changed = []
    extra = dict(record.extra or {})
    for name, value in body.items():
        if name == "external_refs":
            continue
        if name in columns:
            new = Decimal(value) if name in DECIMALS and value is not None else value
            if getattr(record, name) != new:
                setattr(record, name, new)
                changed.append(name)
        else:
            new = _merge(extra[name], value) if isinstance(value, dict) and isinstance(extra.get(name), dict) else value
            if extra.get(name) != new:
                extra[name] = new
                changed.append(name)
    record.extra = extra
    return changed


def _save_new(record, code_field: str) -> None:
    try:
        with transaction.atomic():
            record.save(force_insert=True)
    except IntegrityError:
        raise validation_failed([field_error(f"/{code_field}", "not_unique", f"{code_field} is already in use.")]) from None


def _create_party(model, *, site: TimsSite, body: dict, actor: dict, kind: str, columns: set[str], to_json):
    """A customer or a vendor: its code is assigned when the body has none."""
    check_external_refs(model, site, body.get("external_refs") or {})
    record = model(site=site, external_refs=dict(body.get("external_refs") or {}))
    _apply(record, body, columns)
    code_field = f"{kind}_code"
    if not getattr(record, code_field):
        setattr(record, code_field, next_number(site, kind))
    stamp_new(record, actor)
    _save_new(record, code_field)
    webhooks.emit(site=site, event_type=f"{kind}.created", data={kind: to_json(record), "changed_fields": []}, actor=actor)
    return record


def customer_create(*, site: TimsSite, body: dict, actor: dict) -> TimsCustomer:
    if "credit_limit" in body:
        check_money(body["credit_limit"], body["currency"], "/credit_limit")
    return _create_party(TimsCustomer, site=site, body=body, actor=actor, kind="customer", columns=CUSTOMER_COLUMNS, to_json=customer_json)


def customer_update(*, customer: TimsCustomer, body: dict, actor: dict) -> TimsCustomer:
    if "credit_limit" in body:
        check_money(body["credit_limit"], body.get("currency", customer.currency), "/credit_limit")
    return _update(customer, body, CUSTOMER_COLUMNS, actor, "customer", customer_json)


def vendor_create(*, site: TimsSite, body: dict, actor: dict) -> TimsVendor:
    return _create_party(TimsVendor, site=site, body=body, actor=actor, kind="vendor", columns=VENDOR_COLUMNS, to_json=vendor_json)


def vendor_update(*, vendor: TimsVendor, body: dict, actor: dict) -> TimsVendor:
    return _update(vendor, body, VENDOR_COLUMNS, actor, "vendor", vendor_json)


def product_create(*, site: TimsSite, body: dict, actor: dict) -> TimsProduct:
    existing = TimsProduct.objects.filter(site=site, sku=body["sku"]).values_list("pk", flat=True).first()
    if existing:
        raise ApiProblem(409, "duplicate-sku", f"SKU {body['sku']} is already on product {existing}.", existing_id=existing)
    check_external_refs(TimsProduct, site, body.get("external_refs") or {})
    product = TimsProduct(site=site, external_refs=dict(body.get("external_refs") or {}))
    _apply(product, body, PRODUCT_COLUMNS)
    stamp_new(product, actor)
    product.stock_updated_at = product.created_at
    product.save(force_insert=True)
    webhooks.emit(site=site, event_type="product.created", data={"product": product_json(product), "changed_fields": []}, actor=actor)
    return product


def product_update(*, product: TimsProduct, body: dict, actor: dict) -> TimsProduct:
    if "tracked" in body and body["tracked"] != product.tracked:
        # Stock history cannot be invented or thrown away: only untracked → tracked, and only
        # before the first movement.
        if product.tracked or product.has_movements:
            raise invalid_state(
                "tracked can only change from false to true while the product has no stock movements.",
                product.status,
            )
    return _update(product, body, PRODUCT_COLUMNS, actor, "product", product_json)


def _update(record, body: dict, columns: set[str], actor: dict, event_prefix: str, to_json) -> object:
    refs_changed = False
    if "external_refs" in body:
        refs_changed = merge_external_refs(record, body["external_refs"])
    changed = _apply(record, body, columns)
    if changed:
        touch(record, actor)
    if changed or refs_changed:
        record.save()
    if changed:
        webhooks.emit(
            site=record.site,
            event_type=f"{event_prefix}.updated",
            data={event_prefix: to_json(record), "changed_fields": changed},
            actor=actor,
        )
    return record
