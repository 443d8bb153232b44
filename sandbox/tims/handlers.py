"""One function per operation of the contract. Thin: parse, check against the contract, call
one domain function, answer with the record's JSON and its ETag."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from django.http import HttpResponse
from django.utils import timezone

from sandbox import models as m
from sandbox.tims import masterdata, sales, webhooks
from sandbox.tims import resources as r
from sandbox.tims import serializers as s
from sandbox.tims.contract import validate_body
from sandbox.tims.masterdata import check_money
from sandbox.tims.paging import paginate
from sandbox.tims.problems import ApiProblem, bad_request, field_error, json_response, not_found, validation_failed
from sandbox.tims.records import check_external_refs, merge_external_refs, touch

ETAG_RE = re.compile(r'^(?:W/)?"(\d+)"$')


def _etag(record) -> dict:
    return {"ETag": f'W/"{record.version}"'}


def _record(ctx, resource: r.Resource, ident: str, *, for_update: bool = False):
    qs = resource.queryset(ctx.site, for_update=for_update)
    if resource is r.SUBSCRIPTIONS:
        qs = qs.filter(client=ctx.client, deleted_at__isnull=True)
    record = qs.filter(pk=ident).first()
    if record is None:
        raise not_found(f"No {resource.name} record {ident}.")
    return record


def _check_if_match(ctx, record) -> None:
    header = ctx.request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return
    versions = set()
    for tag in header.split(","):
        match = ETAG_RE.match(tag.strip())
        if match:
            versions.add(int(match.group(1)))
    if record.version not in versions:
        raise ApiProblem(412, "precondition-failed", f"The record is at version {record.version}; If-Match was {header}.")


def _record_response(record, to_json, status: int = 200, location: str | None = None) -> HttpResponse:
    headers = _etag(record)
    if location:
        headers["Location"] = location
    return json_response(to_json(record), status=status, headers=headers)


def _object_body(ctx) -> dict:
    if not isinstance(ctx.body, dict):
        raise bad_request("The body must be a JSON object.")
    return ctx.body


# ---------------------------------------------------------------- generic reads and external refs


def list_records(ctx, resource: r.Resource, *, filters: dict | None = None, **parent) -> HttpResponse:
    """A page of a resource; ``parent`` narrows a nested list (``/purchaseorders/{id}/bills``),
    whose only filter is ``updated_since``."""
    qs = resource.list_queryset(ctx.site)
    if resource is r.SUBSCRIPTIONS:
        qs = qs.filter(client=ctx.client, deleted_at__isnull=True)
    qs = qs.filter(**parent)
    page = paginate(qs, ctx.request.GET, filters if filters is not None else resource.list_filters())
    return json_response(page.with_data(resource.records_json(page.items, ctx.site)))


def get_record(ctx, resource: r.Resource, ident: str) -> HttpResponse:
    return _record_response(_record(ctx, resource, ident), resource.to_json)


def patch_external_refs(ctx, resource: r.Resource, ident: str, **parent) -> HttpResponse:
    """Only ``external_refs`` changes: no new version, no new ``updated_at``, no event."""
    body = _object_body(ctx)
    validate_body("ExternalRefsPatch", body)
    record = _record(ctx, resource, ident, for_update=True)
    for name, value in parent.items():
        if getattr(record, name) != value:
            raise not_found()
    if merge_external_refs(record, body):
        record.save(update_fields=["external_refs"])
    return _record_response(record, resource.to_json)


# ---------------------------------------------------------------- customers, vendors, products

CREATE = {
    "customers": ("CustomerCreate", masterdata.customer_create, r.CUSTOMERS),
    "vendors": ("VendorCreate", masterdata.vendor_create, r.VENDORS),
    "products": ("ProductCreate", masterdata.product_create, r.PRODUCTS),
}
UPDATE = {
    "customers": ("CustomerPatch", lambda rec, **kw: masterdata.customer_update(customer=rec, **kw), r.CUSTOMERS),
    "vendors": ("VendorPatch", lambda rec, **kw: masterdata.vendor_update(vendor=rec, **kw), r.VENDORS),
    "products": ("ProductPatch", lambda rec, **kw: masterdata.product_update(product=rec, **kw), r.PRODUCTS),
}


def create_party(ctx, kind: str) -> HttpResponse:
    schema, create, resource = CREATE[kind]
    body = _object_body(ctx)
    validate_body(schema, body)
    record = create(site=ctx.site, body=body, actor=ctx.actor)
    return _record_response(record, resource.to_json, 201, f"{ctx.base_path}/api/v1/{kind}/{record.id}")


def update_party(ctx, kind: str, ident: str) -> HttpResponse:
    schema, update, resource = UPDATE[kind]
    body = _object_body(ctx)
    validate_body(schema, body)
    record = _record(ctx, resource, ident, for_update=True)
    _check_if_match(ctx, record)
    update(record, body=body, actor=ctx.actor)
    return _record_response(record, resource.to_json)


# ---------------------------------------------------------------- receivables


def invoice_status(ctx, ident: str) -> HttpResponse:
    body = _object_body(ctx)
    validate_body("ReceivableInvoiceStatusChange", body)
    invoice = _record(ctx, r.INVOICES, ident, for_update=True)
    _check_if_match(ctx, invoice)
    settled_on = date.fromisoformat(body["settled_on"]) if body.get("settled_on") else None
    sales.invoice_status_set(invoice, status=body["status"], reason=body["reason"], settled_on=settled_on, actor=ctx.actor)
    return _record_response(invoice, s.invoice_json)


def _payment_response(ctx, payment) -> HttpResponse:
    payment = m.TimsPayment.objects.select_related("site", "customer").get(pk=payment.pk)
    return _record_response(payment, s.payment_json, 201, f"{ctx.base_path}/api/v1/payments/{payment.id}")


def _rate(body: dict) -> Decimal | None:
    return Decimal(body["exchange_rate"]) if body.get("exchange_rate") else None


def invoice_payment_create(ctx, ident: str) -> HttpResponse:
    body = _object_body(ctx)
    validate_body("InvoicePaymentCreate", body)
    invoice = _record(ctx, r.INVOICES, ident)
    if invoice.status not in ("open", "partially_paid"):
        raise ApiProblem(409, "invalid-state", f"{invoice.invoice_number} is {invoice.status}.", current_status=invoice.status)
    amount = check_money(body["amount"], body["currency"], "/amount")
    payment = sales.payment_create(
        customer=invoice.customer,
        payment_date=date.fromisoformat(body["payment_date"]),
        amount=amount,
        currency=body["currency"],
        method=body["method"],
        actor=ctx.actor,
        allocations=[sales.AllocationInput(invoice.id, amount)],
        exchange_rate=_rate(body),
        reference=body.get("reference"),
        memo=body.get("memo"),
        deposit_account_code=body.get("deposit_account_code"),
        external_refs=_new_refs(m.TimsPayment, ctx, body),
        single_invoice=True,
    )
    return _payment_response(ctx, payment)


def _new_refs(model, ctx, body: dict) -> dict:
    refs = body.get("external_refs") or {}
    check_external_refs(model, ctx.site, refs)
    return refs


def invoice_payments_list(ctx, ident: str) -> HttpResponse:
    _record(ctx, r.INVOICES, ident)
    return list_records(ctx, r.PAYMENTS, filters=r.NESTED_FILTERS, allocations__invoice_id=ident)


def purchase_order_bills(ctx, ident: str) -> HttpResponse:
    _record(ctx, r.PURCHASE_ORDERS, ident)
    return list_records(ctx, r.VENDOR_BILLS, filters=r.NESTED_FILTERS, purchase_order_id=ident)


def payment_create(ctx) -> HttpResponse:
    body = _object_body(ctx)
    validate_body("PaymentCreate", body)
    customer = m.TimsCustomer.objects.filter(site=ctx.site, pk=body["customer_id"]).first()
    if customer is None:
        raise validation_failed([field_error("/customer_id", "not_found", f"No customer {body['customer_id']}.")])
    currency = body["currency"]
    amount = check_money(body["amount"], currency, "/amount")
    allocations = []
    for index, item in enumerate(body.get("allocations") or []):
        allocations.append(sales.AllocationInput(item["invoice_id"], check_money(item["amount"], currency, f"/allocations/{index}/amount")))
    payment = sales.payment_create(
        customer=customer,
        payment_date=date.fromisoformat(body["payment_date"]),
        amount=amount,
        currency=currency,
        method=body["method"],
        actor=ctx.actor,
        allocations=allocations,
        exchange_rate=_rate(body),
        reference=body.get("reference"),
        memo=body.get("memo"),
        deposit_account_code=body.get("deposit_account_code"),
        external_refs=_new_refs(m.TimsPayment, ctx, body),
    )
    return _payment_response(ctx, payment)


def payment_update(ctx, ident: str) -> HttpResponse:
    body = _object_body(ctx)
    validate_body("PaymentPatch", body)
    payment = _record(ctx, r.PAYMENTS, ident, for_update=True)
    _check_if_match(ctx, payment)
    refs_changed = merge_external_refs(payment, body["external_refs"]) if "external_refs" in body else False
    if "memo" in body and body["memo"] != payment.memo:
        payment.memo = body["memo"]
        touch(payment, ctx.actor)
        payment.save()
    elif refs_changed:
        payment.save(update_fields=["external_refs"])
    return _record_response(payment, s.payment_json)


def payment_void(ctx, ident: str) -> HttpResponse:
    body = _object_body(ctx)
    validate_body("PaymentVoid", body)
    payment = _record(ctx, r.PAYMENTS, ident, for_update=True)
    sales.payment_void(payment, reason=body["reason"], actor=ctx.actor)
    return _record_response(payment, s.payment_json)


# ---------------------------------------------------------------- inventory


def _warehouse(ctx) -> str | None:
    warehouse = ctx.request.GET.get("warehouse")
    if warehouse is not None and not 1 <= len(warehouse) <= 30:
        raise bad_request("warehouse: 1 to 30 characters.", [field_error("warehouse", "too_long", "At most 30 characters.")])
    return warehouse


def inventory_list(ctx) -> HttpResponse:
    warehouse = _warehouse(ctx)
    qs = m.TimsProduct.objects.filter(site=ctx.site, tracked=True).select_related("site").prefetch_related("stock_levels")
    page = paginate(qs.distinct(), ctx.request.GET, r.INVENTORY_FILTERS, time_field="stock_updated_at", id_field="sku")
    return json_response(page.as_json(lambda p: s.inventory_level_json(p, warehouse)))


def inventory_quantity(ctx, sku: str) -> HttpResponse:
    warehouse = _warehouse(ctx)
    unknown = [name for name in ctx.request.GET if name != "warehouse"]
    if unknown:
        raise bad_request("Unknown query parameter.", [field_error(n, "unknown_field", f"Unknown query parameter {n!r}.") for n in unknown])
    product = m.TimsProduct.objects.filter(site=ctx.site, sku=sku).select_related("site").first()
    if product is None:
        raise not_found(f"No product with SKU {sku}.")
    if not product.tracked:
        raise ApiProblem(409, "not-tracked", f"{sku} is not stock-tracked.")
    return json_response(s.inventory_level_json(product, warehouse))


# ---------------------------------------------------------------- dimension values


def dimension_values_list(ctx, ident: str) -> HttpResponse:
    _record(ctx, r.DIMENSIONS, ident)
    return list_records(ctx, r.DIMENSION_VALUES, dimension_id=ident)


def dimension_value_external_refs(ctx, ident: str, value_id: str) -> HttpResponse:
    return patch_external_refs(ctx, r.DIMENSION_VALUES, value_id, dimension_id=ident)


def dimension_value_get(ctx, ident: str, value_id: str) -> HttpResponse:
    value = _record(ctx, r.DIMENSION_VALUES, value_id)
    if value.dimension_id != ident:
        raise not_found()
    return _record_response(value, s.dimension_value_json)


# ---------------------------------------------------------------- webhook subscriptions


def _check_url(ctx, body: dict) -> dict:
    """The contract wants https; a demo site may allow its local http receiver."""
    if ctx.site.allow_http_webhook_urls and str(body.get("url", "")).startswith("http://"):
        return {**body, "url": "https://" + body["url"][7:]}
    return body


def subscription_create(ctx) -> HttpResponse:
    body = _object_body(ctx)
    validate_body("WebhookSubscriptionCreate", _check_url(ctx, body))
    subscription = m.TimsWebhookSubscription(
        site=ctx.site,
        client=ctx.client,
        url=body["url"],
        events=list(body["events"]),
        description=body.get("description", ""),
        secret=webhooks.new_secret(),
        external_refs=dict(body.get("external_refs") or {}),
        last_modified_by=ctx.actor,
    )
    subscription.save()
    webhooks.queue_ping(subscription)
    return json_response(
        s.subscription_json(subscription, with_secret=True),
        status=201,
        headers=_etag(subscription) | {"Location": f"{ctx.base_path}/api/v1/webhooks/subscriptions/{subscription.id}"},
    )


def subscription_update(ctx, ident: str) -> HttpResponse:
    body = _object_body(ctx)
    validate_body("WebhookSubscriptionPatch", _check_url(ctx, body))
    subscription = _record(ctx, r.SUBSCRIPTIONS, ident, for_update=True)
    _check_if_match(ctx, subscription)
    refs_changed = merge_external_refs(subscription, body["external_refs"]) if "external_refs" in body else False
    changed = False
    for name in ("url", "events", "description"):
        if name in body and getattr(subscription, name) != body[name]:
            setattr(subscription, name, body[name])
            changed = True
    if "status" in body and body["status"] != subscription.status:
        subscription.status = body["status"]
        subscription.disabled_reason = None if body["status"] == "active" else "by_client"
        changed = True
    if changed:
        touch(subscription, ctx.actor)
    if changed or refs_changed:
        subscription.save()
    return _record_response(subscription, s.subscription_json)


def subscription_delete(ctx, ident: str) -> HttpResponse:
    subscription = _record(ctx, r.SUBSCRIPTIONS, ident, for_update=True)
    subscription.deleted_at = timezone.now()
    subscription.save(update_fields=["deleted_at"])
    subscription.events_sent.filter(status=m.TimsWebhookEvent.Status.PENDING).update(status=m.TimsWebhookEvent.Status.CANCELLED)
    return HttpResponse(status=204)


def subscription_rotate(ctx, ident: str) -> HttpResponse:
    """A new secret; the old one still signs (as a second ``v1=``) for 24 hours."""
    subscription = _record(ctx, r.SUBSCRIPTIONS, ident, for_update=True)
    now = timezone.now()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = now + timedelta(hours=24)
    subscription.secret = webhooks.new_secret()
    subscription.secret_rotated_at = now
    touch(subscription, ctx.actor, now)
    subscription.save()
    return json_response(s.subscription_json(subscription, with_secret=True), headers=_etag(subscription))


def subscription_ping(ctx, ident: str) -> HttpResponse:
    subscription = _record(ctx, r.SUBSCRIPTIONS, ident)
    if subscription.status != "active":
        raise ApiProblem(409, "invalid-state", "The subscription is disabled.", current_status=subscription.status)
    return json_response({"event_id": webhooks.queue_ping(subscription)}, status=202)
