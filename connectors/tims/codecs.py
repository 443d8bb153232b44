"""TIMS JSON ⇄ the canonical model (``connectors.canonical``), per connectors/tims/openapi.yaml.

Money, prices, quantities, percentages and rates are decimal *strings* in the contract
(``"1234.50"``), never JSON numbers: they become ``Decimal`` here and go back as strings with
no more digits than the contract allows, so nothing is ever rounded on the way. Timestamps are
RFC 3339 (the site answers in UTC ``Z``) and become aware UTC datetimes; calendar dates stay
dates. Decoders ignore fields they do not know (new fields may appear within v1, README
"Unknown fields"); encoders send only fields the request schemas define, since unknown ones are
refused with 422 ``unknown_field``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, TypeVar

from connectors.base import MappingFailed
from connectors.canonical import (
    Actor,
    Address,
    ContactPerson,
    Customer,
    Dimension,
    DimensionTag,
    DimensionValue,
    ExternalSettlement,
    GLAccount,
    GLEntry,
    GLEntryLine,
    InventoryAdjustment,
    InventoryLevel,
    PaymentAllocation,
    PaymentTerms,
    Product,
    PurchaseLine,
    PurchaseOrder,
    ReceivableInvoice,
    ReceivablePayment,
    SalesLine,
    SalesOrder,
    SourceDocument,
    StatusChange,
    TaxCode,
    TaxComponent,
    TaxTotal,
    Vendor,
    VendorBill,
    WarehouseStock,
)

T = TypeVar("T")

# --- Scalars -----------------------------------------------------------------------------------

# ISO 4217 currencies whose minor unit is not 2 digits. Responses carry exactly the currency's
# minor-unit digits, and requests "may send fewer digits, never more" (openapi.yaml `Money`).
_MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
MONEY_PLACES = 4  # the `Money` pattern's limit, whatever the currency
UNIT_PRICE_PLACES = 6  # `UnitPrice`: gas is priced per cubic foot
QUANTITY_PLACES = 4
PERCENT_PLACES = 4
RATE_PLACES = 10  # `ExchangeRate`

_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")
_BEYOND_MICROSECONDS = re.compile(r"(\.\d{6})\d+")


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2) if currency else MONEY_PLACES


def parse_decimal(value: Any, what: str = "amount") -> Decimal:
    """A decimal string as ``Decimal``, exactly. JSON numbers are accepted only when they were
    parsed without float (``connectors.http.json_loads`` gives ``Decimal``); ``NaN``, exponents
    and floats are refused as a mapping failure, never guessed at."""
    if type(value) is str:  # the contract's form, nearly every value: checked first
        text = value.strip()
        if _NUMBER.match(text):
            return Decimal(text)
    elif isinstance(value, bool) or isinstance(value, float):
        raise MappingFailed(f"{what} must be a decimal string, got {type(value).__name__} {value!r}")
    elif isinstance(value, int):
        return Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise MappingFailed(f"{what} is not a finite number: {value!r}")
        return value
    elif isinstance(value, str) and _NUMBER.match(value.strip()):
        return Decimal(value.strip())
    raise MappingFailed(f"{what} is not a decimal string: {value!r}")


def _optional_decimal(value: Any, what: str) -> Decimal | None:
    return None if value is None or value == "" else parse_decimal(value, what)


def format_decimal(value: Decimal | int, places: int, what: str = "amount") -> str:
    """``value`` as the contract's decimal string, with at most ``places`` decimals. Trailing
    zeros beyond ``places`` are dropped (exact); any other digit there is refused, because
    rounding money here would lose it silently."""
    if isinstance(value, (bool, float)) or not isinstance(value, (Decimal, int)):
        raise MappingFailed(f"{what} must be a Decimal, got {type(value).__name__} {value!r}")
    value = Decimal(value)
    if not value.is_finite():
        raise MappingFailed(f"{what} is not a finite number: {value!r}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        quantum = Decimal(1).scaleb(-places)
        exact = value.quantize(quantum)
        if exact != value:
            raise MappingFailed(f"{what} {value} has more than {places} decimals: refusing to round it")
        value = exact
    text = format(value, "f")
    if text.startswith("-") and Decimal(text) == 0:
        text = text[1:]  # "-0.00" is zero; send it unsigned
    return text


def format_money(value: Decimal | int, currency: str, what: str = "amount") -> str:
    return format_decimal(value, min(minor_units(currency), MONEY_PLACES), what)


def parse_datetime(value: Any, what: str = "timestamp") -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime. A timestamp without an offset is refused:
    the contract always carries one, and guessing the zone would shift every cursor."""
    if type(value) is str:  # the usual form first (``...Z``): read as it is, already UTC
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is timezone.utc:
            return parsed
    if isinstance(value, str):
        text = value.strip()
        # More than microseconds (RFC 3339 allows any precision): keep the first six digits.
        text = _BEYOND_MICROSECONDS.sub(r"\1", text)
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(timezone.utc)
    raise MappingFailed(f"{what} is not an RFC 3339 timestamp with an offset: {value!r}")


def _optional_datetime(value: Any, what: str) -> datetime | None:
    return None if value in (None, "") else parse_datetime(value, what)


def format_datetime(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds and ``Z`` (``2026-11-20T14:03:27.512034Z``)."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not sent: give a timezone-aware datetime")
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_date(value: Any, what: str = "date") -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise MappingFailed(f"{what} is not an RFC 3339 full-date: {value!r}")


def _optional_date(value: Any, what: str) -> date | None:
    return None if value in (None, "") else parse_date(value, what)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _required(record: Mapping[str, Any], name: str, kind: str) -> Any:
    value = record.get(name)
    if value is None or value == "":
        raise MappingFailed(f"TIMS {kind} {record.get('id') or record.get('sku') or '?'} has no {name}")
    return value


def _each(values: Any, decode: Callable[[Mapping[str, Any]], T], what: str) -> list[T]:
    if values is None:
        return []
    if not isinstance(values, list):
        raise MappingFailed(f"{what} must be a list, got {type(values).__name__}")
    return [decode(v) for v in values]


# --- Shared pieces -----------------------------------------------------------------------------


def _meta(record: Mapping[str, Any], kind: str) -> dict[str, Any]:
    if not isinstance(record, Mapping):
        raise MappingFailed(f"a TIMS {kind} must be a JSON object, got {type(record).__name__}")
    version = record.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise MappingFailed(f"TIMS {kind} {record.get('id')} has a non-integer version {version!r}")
    refs = record.get("external_refs") or {}
    if not isinstance(refs, Mapping):
        raise MappingFailed(f"TIMS {kind} {record.get('id')} has external_refs that are not an object")
    actor = record.get("last_modified_by")
    return {
        "remote_id": str(_required(record, "id", kind)),
        "version": version,
        "external_refs": {str(k): str(v) for k, v in refs.items() if v is not None},
        "created_at": _optional_datetime(record.get("created_at"), "created_at"),
        "updated_at": _optional_datetime(record.get("updated_at"), "updated_at"),
        "last_modified_by": (
            Actor(kind=_text(actor.get("type")), id=_text(actor.get("id")), name=_text(actor.get("name")))
            if isinstance(actor, Mapping)
            else None
        ),
    }


def decode_address(data: Any) -> Address | None:
    if not data:
        return None
    lines = [str(data[k]) for k in ("line1", "line2", "line3") if data.get(k)]
    return Address(
        lines=lines,
        city=_text(data.get("city")),
        region=_text(data.get("region")),
        postal_code=_text(data.get("postal_code")),
        country=_text(data.get("country")),
        attention_to=_text(data.get("attention")),
    )


def encode_address(address: Address | None) -> dict[str, str] | None:
    if address is None:
        return None
    if len(address.lines) > 3:
        # Truncating an address would send goods to the wrong door: route it to review.
        raise MappingFailed(f"a TIMS address takes 3 lines, this one has {len(address.lines)}")
    body = {f"line{n}": line for n, line in enumerate(address.lines, start=1) if line}
    body.update(
        {
            "attention": address.attention_to,
            "city": address.city,
            "region": address.region,
            "postal_code": address.postal_code,
            "country": address.country,
        }
    )
    return {k: v for k, v in body.items() if v} or None


def _terms(data: Any) -> PaymentTerms | None:
    if not data:
        return None
    return PaymentTerms(kind=_text(data.get("type")), days=int(data.get("days") or 0))


def _person(data: Mapping[str, Any]) -> ContactPerson:
    return ContactPerson(
        name=_text(data.get("name")),
        email=_text(data.get("email")),
        phone=_text(data.get("phone")),
        role=_text(data.get("role")),
        is_primary=bool(data.get("is_primary")),
    )


def _encode_person(person: ContactPerson) -> dict[str, Any]:
    body: dict[str, Any] = {"name": person.name, "email": person.email, "phone": person.phone, "role": person.role}
    body = {k: v for k, v in body.items() if v}
    body["is_primary"] = person.is_primary
    return body


def _dimensions(values: Any) -> list[DimensionTag]:
    return _each(
        values,
        lambda d: DimensionTag(dimension_code=_text(d.get("dimension_code")), value_code=_text(d.get("value_code"))),
        "dimensions",
    )


def _tax_totals(values: Any) -> list[TaxTotal]:
    return _each(
        values,
        lambda t: TaxTotal(
            tax_code=_text(t.get("tax_code")),
            tax_rate=parse_decimal(t.get("tax_rate"), "tax_rate"),
            taxable_amount=parse_decimal(t.get("taxable_amount"), "taxable_amount"),
            tax_amount=parse_decimal(t.get("tax_amount"), "tax_amount"),
        ),
        "tax_totals",
    )


def _document(record: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """Metadata, currency fields and totals shared by orders, bills and invoices."""
    return {
        **_meta(record, kind),
        "currency": _text(_required(record, "currency", kind)),
        "base_currency": _text(record.get("base_currency")),
        "exchange_rate": _optional_decimal(record.get("exchange_rate"), "exchange_rate") or Decimal("1"),
        "amounts_tax_inclusive": bool(record.get("amounts_tax_inclusive")),
        "subtotal": parse_decimal(record.get("subtotal"), "subtotal"),
        "tax_total": parse_decimal(record.get("tax_total"), "tax_total"),
        "total": parse_decimal(record.get("total"), "total"),
        "tax_totals": _tax_totals(record.get("tax_totals")),
    }


def _line_common(line: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "line_number": int(_required(line, "line_number", "line")),
        "line_type": _text(line.get("line_type")),
        "description": _text(line.get("description")),
        "quantity": parse_decimal(line.get("quantity"), "quantity"),
        "tax_amount": parse_decimal(line.get("tax_amount"), "tax_amount"),
        "line_total": parse_decimal(line.get("line_total"), "line_total"),
        "product_id": _text(line.get("product_id")),
        "sku": _text(line.get("sku")),
        "unit": _text(line.get("unit")),
        "tax_code": _text(line.get("tax_code")),
        "tax_rate": _optional_decimal(line.get("tax_rate"), "tax_rate"),
        "account_code": _text(line.get("account_code")),
        "dimensions": _dimensions(line.get("dimensions")),
    }


def decode_sales_line(line: Mapping[str, Any]) -> SalesLine:
    return SalesLine(
        **_line_common(line),
        unit_price=parse_decimal(line.get("unit_price"), "unit_price"),
        discount_amount=_optional_decimal(line.get("discount_amount"), "discount_amount") or Decimal("0"),
        discount_percent=_optional_decimal(line.get("discount_percent"), "discount_percent"),
        quantity_shipped=_optional_decimal(line.get("quantity_shipped"), "quantity_shipped"),
    )


def decode_purchase_line(line: Mapping[str, Any]) -> PurchaseLine:
    po_line = line.get("purchase_order_line_number")
    return PurchaseLine(
        **_line_common(line),
        unit_cost=parse_decimal(line.get("unit_cost"), "unit_cost"),
        quantity_received=_optional_decimal(line.get("quantity_received"), "quantity_received"),
        quantity_billed=_optional_decimal(line.get("quantity_billed"), "quantity_billed"),
        purchase_order_line_number=int(po_line) if po_line is not None else None,
    )


# --- Parties and products ----------------------------------------------------------------------


def decode_customer(record: Mapping[str, Any]) -> Customer:
    return Customer(
        **_meta(record, "customer"),
        name=_text(_required(record, "name", "customer")),
        currency=_text(record.get("currency")),
        code=_text(record.get("customer_code")),
        legal_name=_text(record.get("legal_name")),
        status=_text(record.get("status")),
        email=_text(record.get("email")),
        phone=_text(record.get("phone")),
        tax_number=_text(record.get("tax_number")),
        tax_exempt=record.get("tax_exempt"),
        default_tax_code=_text(record.get("default_tax_code")),
        payment_terms=_terms(record.get("payment_terms")),
        credit_limit=_optional_decimal(record.get("credit_limit"), "credit_limit"),
        balance=_optional_decimal(record.get("balance"), "balance"),
        billing_address=decode_address(record.get("billing_address")),
        shipping_address=decode_address(record.get("shipping_address")),
        contacts=_each(record.get("contacts"), _person, "contacts"),
    )


def decode_vendor(record: Mapping[str, Any]) -> Vendor:
    return Vendor(
        **_meta(record, "vendor"),
        name=_text(_required(record, "name", "vendor")),
        currency=_text(record.get("currency")),
        code=_text(record.get("vendor_code")),
        legal_name=_text(record.get("legal_name")),
        status=_text(record.get("status")),
        email=_text(record.get("email")),
        phone=_text(record.get("phone")),
        tax_number=_text(record.get("tax_number")),
        default_tax_code=_text(record.get("default_tax_code")),
        default_expense_account_code=_text(record.get("default_expense_account_code")),
        payment_terms=_terms(record.get("payment_terms")),
        balance=_optional_decimal(record.get("balance"), "balance"),
        remit_to_address=decode_address(record.get("remit_to_address")),
        contacts=_each(record.get("contacts"), _person, "contacts"),
    )


def decode_product(record: Mapping[str, Any]) -> Product:
    return Product(
        **_meta(record, "product"),
        sku=_text(_required(record, "sku", "product")),
        name=_text(record.get("name")),
        unit=_text(record.get("unit")),
        currency=_text(record.get("currency")),
        description=_text(record.get("description")),
        category=_text(record.get("category")),
        status=_text(record.get("status")),
        sale_price=_optional_decimal(record.get("sale_price"), "sale_price"),
        purchase_price=_optional_decimal(record.get("purchase_price"), "purchase_price"),
        tax_code=_text(record.get("tax_code")),
        purchase_tax_code=_text(record.get("purchase_tax_code")),
        tracked=record.get("tracked"),
        is_sold=record.get("is_sold"),
        is_purchased=record.get("is_purchased"),
        sales_account_code=_text(record.get("sales_account_code")),
        purchase_account_code=_text(record.get("purchase_account_code")),
        cogs_account_code=_text(record.get("cogs_account_code")),
        inventory_account_code=_text(record.get("inventory_account_code")),
        barcode=_text(record.get("barcode")),
    )


def _drop_empty(body: Mapping[str, Any]) -> dict[str, Any]:
    # The contract cannot set a field to null (Merge Patch, README "Writes"), and an empty
    # string is not a value TIMS accepts for codes or e-mails: what we do not know, we leave out.
    return {k: v for k, v in body.items() if v is not None and v != "" and v != []}


def _create_or_patch(body: dict[str, Any], record: Any, *, immutable: str, create: bool) -> dict[str, Any]:
    if create:
        body["external_refs"] = dict(record.external_refs) or None
    else:
        # Codes and SKUs are immutable (422 `immutable`); references go through their own patch.
        body.pop(immutable, None)
    return _drop_empty(body)


def encode_customer(customer: Customer, *, create: bool = True) -> dict[str, Any]:
    """A ``CustomerCreate`` body, or with ``create=False`` a ``CustomerPatch`` (merge patch of
    every writable field we hold)."""
    currency = customer.currency
    body: dict[str, Any] = {
        "customer_code": customer.code,
        "name": customer.name,
        "legal_name": customer.legal_name,
        "status": customer.status,
        "email": customer.email,
        "phone": customer.phone,
        "tax_number": customer.tax_number,
        "tax_exempt": customer.tax_exempt,
        "default_tax_code": customer.default_tax_code,
        "currency": currency,
        "payment_terms": _encode_terms(customer.payment_terms),
        "credit_limit": format_money(customer.credit_limit, currency, "credit_limit") if customer.credit_limit is not None else None,
        "billing_address": encode_address(customer.billing_address),
        "shipping_address": encode_address(customer.shipping_address),
        "contacts": [_encode_person(p) for p in customer.contacts],
    }
    return _create_or_patch(body, customer, immutable="customer_code", create=create)


def encode_vendor(vendor: Vendor, *, create: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "vendor_code": vendor.code,
        "name": vendor.name,
        "legal_name": vendor.legal_name,
        "status": vendor.status,
        "email": vendor.email,
        "phone": vendor.phone,
        "tax_number": vendor.tax_number,
        "default_tax_code": vendor.default_tax_code,
        "default_expense_account_code": vendor.default_expense_account_code,
        "currency": vendor.currency,
        "payment_terms": _encode_terms(vendor.payment_terms),
        "remit_to_address": encode_address(vendor.remit_to_address),
        "contacts": [_encode_person(p) for p in vendor.contacts],
    }
    return _create_or_patch(body, vendor, immutable="vendor_code", create=create)


def encode_product(product: Product, *, create: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "unit": product.unit,
        "status": product.status,
        "currency": product.currency,
        "sale_price": _price(product.sale_price, "sale_price"),
        "purchase_price": _price(product.purchase_price, "purchase_price"),
        "tax_code": product.tax_code,
        "purchase_tax_code": product.purchase_tax_code,
        "tracked": product.tracked,
        "is_sold": product.is_sold,
        "is_purchased": product.is_purchased,
        "sales_account_code": product.sales_account_code,
        "purchase_account_code": product.purchase_account_code,
        "cogs_account_code": product.cogs_account_code,
        "inventory_account_code": product.inventory_account_code,
        "barcode": product.barcode,
    }
    return _create_or_patch(body, product, immutable="sku", create=create)


def _encode_terms(terms: PaymentTerms | None) -> dict[str, Any] | None:
    return {"type": terms.kind, "days": terms.days} if terms else None


def _price(value: Decimal | None, what: str) -> str | None:
    return format_decimal(value, UNIT_PRICE_PLACES, what) if value is not None else None


# --- Documents -------------------------------------------------------------------------------------


def decode_sales_order(record: Mapping[str, Any]) -> SalesOrder:
    return SalesOrder(
        **_document(record, "sales order"),
        number=_text(_required(record, "order_number", "sales order")),
        customer_id=_text(_required(record, "customer_id", "sales order")),
        status=_text(_required(record, "status", "sales order")),
        order_date=parse_date(record.get("order_date"), "order_date"),
        lines=_each(record.get("lines"), decode_sales_line, "lines"),
        customer_code=_text(record.get("customer_code")),
        customer_reference=_text(record.get("customer_reference")),
        due_date=_optional_date(record.get("due_date"), "due_date"),
        warehouse=_text(record.get("warehouse")),
        billing_address=decode_address(record.get("billing_address")),
        shipping_address=decode_address(record.get("shipping_address")),
        discount_total=_optional_decimal(record.get("discount_total"), "discount_total") or Decimal("0"),
        shipped_at=_optional_datetime(record.get("shipped_at"), "shipped_at"),
        completed_at=_optional_datetime(record.get("completed_at"), "completed_at"),
        cancelled_at=_optional_datetime(record.get("cancelled_at"), "cancelled_at"),
        cancellation_reason=_text(record.get("cancellation_reason")),
        invoice_ids=[str(i) for i in record.get("invoice_ids") or []],
        status_history=_each(
            record.get("status_history"),
            lambda s: StatusChange(status=_text(s.get("status")), at=parse_datetime(s.get("at"), "status_history.at")),
            "status_history",
        ),
    )


def decode_purchase_order(record: Mapping[str, Any]) -> PurchaseOrder:
    return PurchaseOrder(
        **_document(record, "purchase order"),
        number=_text(_required(record, "po_number", "purchase order")),
        vendor_id=_text(_required(record, "vendor_id", "purchase order")),
        status=_text(_required(record, "status", "purchase order")),
        order_date=parse_date(record.get("order_date"), "order_date"),
        lines=_each(record.get("lines"), decode_purchase_line, "lines"),
        vendor_code=_text(record.get("vendor_code")),
        expected_date=_optional_date(record.get("expected_date"), "expected_date"),
        warehouse=_text(record.get("warehouse")),
        ship_to_address=decode_address(record.get("ship_to_address")),
        bill_ids=[str(i) for i in record.get("bill_ids") or []],
    )


def decode_vendor_bill(record: Mapping[str, Any]) -> VendorBill:
    return VendorBill(
        **_document(record, "vendor bill"),
        number=_text(_required(record, "bill_number", "vendor bill")),
        vendor_id=_text(_required(record, "vendor_id", "vendor bill")),
        status=_text(_required(record, "status", "vendor bill")),
        bill_date=parse_date(record.get("bill_date"), "bill_date"),
        due_date=parse_date(record.get("due_date"), "due_date"),
        lines=_each(record.get("lines"), decode_purchase_line, "lines"),
        vendor_code=_text(record.get("vendor_code")),
        purchase_order_id=_text(record.get("purchase_order_id")),
        memo=_text(record.get("memo")),
        amount_paid=parse_decimal(record.get("amount_paid"), "amount_paid"),
        amount_due=parse_decimal(record.get("amount_due"), "amount_due"),
        voided_at=_optional_datetime(record.get("voided_at"), "voided_at"),
    )


def decode_receivable_invoice(record: Mapping[str, Any]) -> ReceivableInvoice:
    settlement = record.get("external_settlement")
    return ReceivableInvoice(
        **_document(record, "receivable invoice"),
        number=_text(_required(record, "invoice_number", "receivable invoice")),
        customer_id=_text(_required(record, "customer_id", "receivable invoice")),
        status=_text(_required(record, "status", "receivable invoice")),
        invoice_date=parse_date(record.get("invoice_date"), "invoice_date"),
        due_date=parse_date(record.get("due_date"), "due_date"),
        lines=_each(record.get("lines"), decode_sales_line, "lines"),
        customer_code=_text(record.get("customer_code")),
        sales_order_id=_text(record.get("sales_order_id")),
        order_number=_text(record.get("order_number")),
        customer_reference=_text(record.get("customer_reference")),
        billing_address=decode_address(record.get("billing_address")),
        shipping_address=decode_address(record.get("shipping_address")),
        discount_total=_optional_decimal(record.get("discount_total"), "discount_total") or Decimal("0"),
        amount_paid=parse_decimal(record.get("amount_paid"), "amount_paid"),
        amount_due=parse_decimal(record.get("amount_due"), "amount_due"),
        paid_at=_optional_datetime(record.get("paid_at"), "paid_at"),
        voided_at=_optional_datetime(record.get("voided_at"), "voided_at"),
        external_settlement=(
            ExternalSettlement(
                amount=parse_decimal(settlement.get("amount"), "external_settlement.amount"),
                settled_on=parse_date(settlement.get("settled_on"), "external_settlement.settled_on"),
                reason=_text(settlement.get("reason")),
                settled_at=parse_datetime(settlement.get("settled_at"), "external_settlement.settled_at"),
            )
            if settlement
            else None
        ),
    )


# --- Receipts ------------------------------------------------------------------------------------


def decode_payment(record: Mapping[str, Any]) -> ReceivablePayment:
    return ReceivablePayment(
        **_meta(record, "payment"),
        customer_id=_text(_required(record, "customer_id", "payment")),
        payment_date=parse_date(record.get("payment_date"), "payment_date"),
        amount=parse_decimal(record.get("amount"), "amount"),
        currency=_text(_required(record, "currency", "payment")),
        method=_text(record.get("method")),
        number=_text(record.get("payment_number")),
        customer_code=_text(record.get("customer_code")),
        status=_text(record.get("status")),
        base_currency=_text(record.get("base_currency")),
        exchange_rate=_optional_decimal(record.get("exchange_rate"), "exchange_rate"),
        reference=_text(record.get("reference")),
        memo=_text(record.get("memo")),
        deposit_account_code=_text(record.get("deposit_account_code")),
        allocations=_each(
            record.get("allocations"),
            lambda a: PaymentAllocation(
                invoice_id=_text(a.get("invoice_id")),
                amount=parse_decimal(a.get("amount"), "allocation amount"),
                invoice_number=_text(a.get("invoice_number")),
            ),
            "allocations",
        ),
        unallocated_amount=_optional_decimal(record.get("unallocated_amount"), "unallocated_amount"),
        voided_at=_optional_datetime(record.get("voided_at"), "voided_at"),
        void_reason=_text(record.get("void_reason")),
    )


def encode_payment(payment: ReceivablePayment, *, for_invoice: bool = False) -> dict[str, Any]:
    """A ``PaymentCreate`` body, or with ``for_invoice`` an ``InvoicePaymentCreate`` (no
    customer and no allocations: the path names the invoice, the amount goes to it in full)."""
    currency = payment.currency
    body: dict[str, Any] = {
        "customer_id": payment.customer_id,
        "payment_date": payment.payment_date.isoformat(),
        "amount": format_money(payment.amount, currency),
        "currency": currency,
        "exchange_rate": format_decimal(payment.exchange_rate, RATE_PLACES, "exchange_rate") if payment.exchange_rate is not None else None,
        "method": payment.method,
        "reference": payment.reference,
        "memo": payment.memo,
        "deposit_account_code": payment.deposit_account_code,
        "allocations": [
            {"invoice_id": a.invoice_id, "amount": format_money(a.amount, currency, "allocation amount")}
            for a in payment.allocations
        ],
        "external_refs": dict(payment.external_refs) or None,
    }
    if for_invoice:
        body.pop("customer_id")
        body.pop("allocations")
    return _drop_empty(body)


# --- Stock -----------------------------------------------------------------------------------------


def decode_inventory_adjustment(record: Mapping[str, Any]) -> InventoryAdjustment:
    return InventoryAdjustment(
        **_meta(record, "inventory adjustment"),
        number=_text(_required(record, "adjustment_number", "inventory adjustment")),
        sku=_text(record.get("sku")),
        product_id=_text(record.get("product_id")),
        warehouse=_text(record.get("warehouse")),
        adjustment_date=parse_date(record.get("adjustment_date"), "adjustment_date"),
        posted_at=parse_datetime(record.get("posted_at"), "posted_at"),
        quantity_delta=parse_decimal(record.get("quantity_delta"), "quantity_delta"),
        unit=_text(record.get("unit")),
        unit_cost=parse_decimal(record.get("unit_cost"), "unit_cost"),
        total_cost=parse_decimal(record.get("total_cost"), "total_cost"),
        currency=_text(record.get("currency")),
        reason=_text(record.get("reason")),
        reason_note=_text(record.get("reason_note")),
        offset_account_code=_text(record.get("offset_account_code")),
        reverses_adjustment_id=_text(record.get("reverses_adjustment_id")),
        gl_entry_id=_text(record.get("gl_entry_id")),
    )


def decode_inventory_level(record: Mapping[str, Any]) -> InventoryLevel:
    if not isinstance(record, Mapping):
        raise MappingFailed("a TIMS stock level must be a JSON object")

    def stock(name: str, data: Mapping[str, Any] = record) -> Decimal:
        return parse_decimal(data.get(name), name)

    return InventoryLevel(
        sku=_text(_required(record, "sku", "stock level")),
        product_id=_text(record.get("product_id")),
        unit=_text(record.get("unit")),
        on_hand=stock("on_hand"),
        allocated=stock("allocated"),
        available=stock("available"),
        on_order=stock("on_order"),
        average_unit_cost=stock("average_unit_cost"),
        inventory_value=stock("inventory_value"),
        currency=_text(record.get("currency")),
        updated_at=parse_datetime(record.get("updated_at"), "updated_at"),
        warehouses=_each(
            record.get("warehouses"),
            lambda w: WarehouseStock(
                warehouse=_text(w.get("warehouse")),
                on_hand=stock("on_hand", w),
                allocated=stock("allocated", w),
                available=stock("available", w),
                on_order=stock("on_order", w),
            ),
            "warehouses",
        ),
    )


# --- General ledger ------------------------------------------------------------------------------


def decode_gl_entry(record: Mapping[str, Any]) -> GLEntry:
    source_document = record.get("source_document")
    return GLEntry(
        **_meta(record, "journal entry"),
        number=_text(_required(record, "entry_number", "journal entry")),
        entry_date=parse_date(record.get("entry_date"), "entry_date"),
        period=_text(record.get("period")),
        source=_text(record.get("source")),
        currency=_text(record.get("currency")),
        status=_text(record.get("status")),
        posted_at=parse_datetime(record.get("posted_at"), "posted_at"),
        lines=_each(
            record.get("lines"),
            lambda line: GLEntryLine(
                line_number=int(_required(line, "line_number", "journal line")),
                account_code=_text(line.get("account_code")),
                debit=parse_decimal(line.get("debit"), "debit"),
                credit=parse_decimal(line.get("credit"), "credit"),
                account_id=_text(line.get("account_id")),
                account_name=_text(line.get("account_name")),
                memo=_text(line.get("memo")),
                tax_code=_text(line.get("tax_code")),
                dimensions=_dimensions(line.get("dimensions")),
            ),
            "lines",
        ),
        total_debit=parse_decimal(record.get("total_debit"), "total_debit"),
        total_credit=parse_decimal(record.get("total_credit"), "total_credit"),
        memo=_text(record.get("memo")),
        source_document=(
            SourceDocument(
                kind=_text(source_document.get("type")),
                id=_text(source_document.get("id")),
                number=_text(source_document.get("number")),
            )
            if source_document
            else None
        ),
        reverses_entry_id=_text(record.get("reverses_entry_id")),
        reversed_by_entry_id=_text(record.get("reversed_by_entry_id")),
    )


def decode_gl_account(record: Mapping[str, Any]) -> GLAccount:
    return GLAccount(
        **_meta(record, "GL account"),
        code=_text(_required(record, "code", "GL account")),
        name=_text(record.get("name")),
        type=_text(record.get("type")),
        subtype=_text(record.get("subtype")),
        status=_text(record.get("status")),
        is_control_account=bool(record.get("is_control_account")),
        description=_text(record.get("description")),
        currency=_text(record.get("currency")),
    )


def decode_tax_code(record: Mapping[str, Any]) -> TaxCode:
    return TaxCode(
        **_meta(record, "tax code"),
        code=_text(_required(record, "code", "tax code")),
        name=_text(record.get("name")),
        rate=parse_decimal(record.get("rate"), "rate"),
        status=_text(record.get("status")),
        applies_to=_text(record.get("applies_to")),
        is_exempt=record.get("is_exempt"),
        components=_each(
            record.get("components"),
            lambda c: TaxComponent(name=_text(c.get("name")), rate=parse_decimal(c.get("rate"), "component rate")),
            "components",
        ),
    )


# --- Dimensions ----------------------------------------------------------------------------------


def decode_dimension(record: Mapping[str, Any]) -> Dimension:
    return Dimension(
        **_meta(record, "dimension"),
        code=_text(_required(record, "code", "dimension")),
        name=_text(record.get("name")),
        status=_text(record.get("status")),
        applies_to=[str(a) for a in record.get("applies_to") or []],
        value_count=int(record.get("value_count") or 0),
    )


def decode_dimension_value(record: Mapping[str, Any]) -> DimensionValue:
    return DimensionValue(
        **_meta(record, "dimension value"),
        dimension_id=_text(_required(record, "dimension_id", "dimension value")),
        dimension_code=_text(record.get("dimension_code")),
        code=_text(_required(record, "code", "dimension value")),
        name=_text(record.get("name")),
        status=_text(record.get("status")),
        parent_value_id=_text(record.get("parent_value_id")),
    )
