"""The generic handlers of the Accounting API: list, get, batch write, delete.

Batch writes follow Xero (api-notes §5.4): every element is saved or refused on its own (a
savepoint each); with ``summarizeErrors=false`` the answer is 200 with each element's
``StatusAttributeString``; otherwise any failure gives a 400 ValidationException that lists
only the failed elements, while the valid ones stay created.
"""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpResponse

from sandbox.models import XeroItem
from sandbox.xero.dates import parse_if_modified_since
from sandbox.xero.errors import (
    QueryParseError,
    ValidationFailed,
    envelope,
    json_response,
    not_found,
    simple_error,
    validation_exception,
)
from sandbox.xero.resources.base import ApiContext, Resource
from sandbox.xero.resources.tracking import IN_USE, TrackingCategories, TrackingOptionWriter
from sandbox.xero.where import order_to_fields, where_to_q

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # api-notes §5.3: pageSize above 1,000 is clamped to 1,000
READ_BACK_CHUNK = 500  # primary keys per query when a batch is read back


def _query_error(exc: QueryParseError) -> HttpResponse:
    return simple_error(400, 16, "QueryParseException", str(exc))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def list_records(ctx: ApiContext, *, resource: Resource) -> HttpResponse:
    params = ctx.request.GET
    qs = resource.queryset(ctx)
    if resource.supports_if_modified_since:
        header = ctx.request.headers.get("If-Modified-Since")
        since = parse_if_modified_since(header) if header else None
        if since is not None:
            qs = qs.filter(updated_at__gt=since)
    try:
        if params.get("where"):
            qs = qs.filter(where_to_q(params["where"], resource.where_fields, resource.type_name))
        ordering = (
            order_to_fields(params["order"], resource.where_fields, resource.type_name) if params.get("order") else []
        )
        qs = resource.filter_list(ctx, qs, params)
    except QueryParseError as exc:
        return _query_error(exc)
    except ValidationFailed as exc:
        return simple_error(400, 10, "ValidationException", "; ".join(exc.messages))
    qs = qs.order_by(*ordering, *resource.default_order).distinct()

    pagination = None
    page_param = params.get("page")
    forced = resource.paged and (params.get("Statuses") or params.get("summaryOnly", "").lower() == "true")
    if resource.paged and (page_param is not None or forced):
        page = max(1, _int(page_param, 1))
        page_size = min(MAX_PAGE_SIZE, max(1, _int(params.get("pageSize"), DEFAULT_PAGE_SIZE)))
        item_count = qs.count()
        start = (page - 1) * page_size
        rows = list(qs[start : start + page_size])
        pagination = {
            "page": page,
            "pageSize": page_size,
            "pageCount": (item_count + page_size - 1) // page_size,
            "itemCount": item_count,
        }
        full = True
    else:
        rows = list(qs)
        # Without page, multi-record GETs return summaries without line items (§5.3).
        full = not resource.paged
    summary_only = params.get("summaryOnly", "").lower() == "true"
    items = [resource.serialize(ctx, row, full=full and not summary_only) for row in rows]
    return json_response(envelope(resource.plural, items, pagination=pagination))


def get_record(ctx: ApiContext, *, resource: Resource, ident: str) -> HttpResponse:
    obj = resource.get(ctx, ident)
    if obj is None:
        return not_found()
    return json_response(envelope(resource.plural, [resource.serialize(ctx, obj, full=True)]))


def _elements(body: object, plural: str) -> list | None:
    if isinstance(body, dict):
        for key, value in body.items():
            if key.lower() == plural.lower():
                return value if isinstance(value, list) else None
        return [body]
    if isinstance(body, list):
        return body
    return None


def _bad_body(message: str = "The request body could not be read") -> HttpResponse:
    return simple_error(400, 14, "PostDataInvalidException", message)


def _echo(element: object, messages: list[str]) -> dict:
    echoed = dict(element) if isinstance(element, dict) else {}
    echoed["ValidationErrors"] = [{"Message": m} for m in messages]
    echoed["StatusAttributeString"] = "ERROR"
    echoed["HasErrors"] = True
    return echoed


def write_records(ctx: ApiContext, *, resource: Resource, target_id: str | None) -> HttpResponse:
    try:
        body = json.loads(ctx.request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _bad_body()
    elements = _elements(body, resource.plural)
    if not elements:
        return _bad_body("The request body must contain at least one element")
    target = None
    if target_id is not None:
        target = resource.get(ctx, target_id)
        if target is None:
            return not_found()
        elements = elements[:1]
    if resource.one_element_per_request:
        elements = elements[:1]
    summarize = ctx.request.GET.get("summarizeErrors", "true").lower() != "false"
    method = ctx.request.method
    creates_only = method == "PUT" and target is None
    # A PUT only creates: no element can change a record an earlier one created, so all of them
    # are read back at the end in a few queries rather than a few per element, and their line
    # rows may wait to be inserted together (unless prefetch_for_write says otherwise).
    read_back_later = creates_only and resource.read_back_in_bulk
    ctx.pending.lines = [] if read_back_later else None
    ctx.pending.contact_flags = []
    resource.prefetch_for_write(ctx, elements, creates_only=creates_only)
    _lock_tracked_items(ctx, elements)
    written: dict[int, object] = {}  # position in results → record, read back at the end
    results: list[dict] = []
    failures: list[dict] = []
    for element in elements:
        mark = ctx.pending.mark()
        try:
            if not isinstance(element, dict):
                raise ValidationFailed(f"Each element must be a {resource.type_name} object.")
            events_before = len(ctx.events)
            try:
                if resource.writes_nothing_yet(ctx, element):
                    obj = resource.write(ctx, element, method=method, target=target)
                else:
                    with transaction.atomic():
                        obj = resource.write(ctx, element, method=method, target=target)
            except ValidationFailed:
                del ctx.events[events_before:]
                raise
            if read_back_later:
                written[len(results)] = obj  # its primary key may wait for ctx.pending.insert()
                results.append({})
                continue
            # Re-read: the record may carry prefetched lines from before the write.
            obj = resource.queryset(ctx).get(pk=obj.pk)
            saved = resource.serialize(ctx, obj, full=True)
            saved["StatusAttributeString"] = "OK"
            results.append(saved)
        except ValidationFailed as exc:
            # The element's savepoint is gone, and with it any change to rows read for it and
            # what it collected. The batch now checks against the database: the documents
            # collected so far go there, and later ones are saved at once.
            ctx.lookups.forget_rows()
            ctx.pending.drop_since(mark)
            if ctx.pending.documents is not None:
                ctx.pending.insert()
                ctx.pending.documents = None
            echoed = _echo(element, exc.messages)
            results.append(echoed)
            failures.append(echoed)
    ctx.pending.insert()
    ctx.pending.lines = ctx.pending.documents = ctx.pending.contact_flags = None
    if failures and summarize:
        return validation_exception(failures)  # the created records are not shown
    unread: dict[int, object] = {}
    for position, obj in written.items():
        saved = resource.serialize_written(ctx, obj)
        if saved is None:
            unread[position] = obj
            continue
        saved["StatusAttributeString"] = "OK"
        results[position] = saved
    if unread:
        saved_rows = _read_back(ctx, resource, [obj.pk for obj in unread.values()])
        for position, obj in unread.items():
            saved = resource.serialize(ctx, saved_rows[obj.pk], full=True)
            saved["StatusAttributeString"] = "OK"
            results[position] = saved
    if failures and summarize:
        return validation_exception(failures)
    return json_response(envelope(resource.plural, results))


def _read_back(ctx: ApiContext, resource: Resource, pks: list[int]) -> dict[int, object]:
    rows: dict[int, object] = {}
    for start in range(0, len(pks), READ_BACK_CHUNK):
        rows.update((row.pk, row) for row in resource.queryset(ctx).filter(pk__in=pks[start : start + READ_BACK_CHUNK]))
    return rows


def delete_record(ctx: ApiContext, *, resource: Resource, ident: str) -> HttpResponse:
    obj = resource.get(ctx, ident)
    if obj is None:
        return not_found()
    try:
        result = resource.delete(ctx, obj)
    except ValidationFailed as exc:
        return validation_exception([_echo({resource.id_key: ident}, exc.messages)])
    if result is None:
        return HttpResponse(status=204)
    return json_response(envelope(resource.plural, [result]))


def tracking_options_put(ctx: ApiContext, *, category_id: str) -> HttpResponse:
    category = TrackingCategories().get(ctx, category_id)
    if category is None:
        return not_found()
    try:
        body = json.loads(ctx.request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _bad_body()
    elements = _elements(body, "Options")
    if not elements:
        return _bad_body()
    writer = TrackingOptionWriter()
    results, failures = [], []
    for element in elements:
        try:
            with transaction.atomic():
                option = writer.create(ctx, category, element)
            results.append(writer.serialize(option))
        except ValidationFailed as exc:
            failures.append(_echo(element, exc.messages))
    if failures:
        return validation_exception(failures)
    return json_response(envelope("Options", results))


def tracking_option_post(ctx: ApiContext, *, category_id: str, option_id: str) -> HttpResponse:
    writer = TrackingOptionWriter()
    option = writer.get(ctx, category_id, option_id)
    if option is None:
        return not_found()
    try:
        body = json.loads(ctx.request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _bad_body()
    elements = _elements(body, "Options") or [{}]
    try:
        with transaction.atomic():
            option = writer.update(ctx, option, elements[0])
    except ValidationFailed as exc:
        return validation_exception([_echo(elements[0], exc.messages)])
    return json_response(envelope("Options", [writer.serialize(option)]))


def tracking_option_delete(ctx: ApiContext, *, category_id: str, option_id: str) -> HttpResponse:
    writer = TrackingOptionWriter()
    option = writer.get(ctx, category_id, option_id)
    if option is None:
        return not_found()
    if writer.in_use(option):
        return validation_exception([_echo(writer.serialize(option), [IN_USE])])
    serialized = writer.serialize(option)
    serialized["Status"] = "DELETED"
    option.delete()
    return json_response(envelope("Options", [serialized]))


def organisation_get(ctx: ApiContext) -> HttpResponse:
    from sandbox.xero.resources import ORGANISATION

    return json_response(envelope("Organisations", [ORGANISATION.serialize(ctx)]))


def _lock_tracked_items(ctx, elements: list) -> None:
    """Lock the tracked items the batch's lines name, all at once and in one order, before any
    element moves their stock: two batches selling the same items side by side then wait for
    each other instead of deadlocking (each element would otherwise lock in its lines' order)."""
    codes = {
        str(line["ItemCode"])
        for element in elements if isinstance(element, dict)
        for line in (element.get("LineItems") or []) if isinstance(line, dict) and line.get("ItemCode")
    }
    # Only tracked items have stock to move; untracked ones (the usual case when the ERP owns
    # stock) are not locked, so batches that only name them never wait on each other, and a
    # batch naming none tracked (the request's items, as read for it, say which) costs no query.
    ctx.lookups.prefetch_items(codes)  # one query for those prefetch_for_write did not read
    codes = ctx.lookups.tracked_item_codes(codes)
    if codes:
        list(XeroItem.objects.select_for_update().filter(tenant=ctx.tenant, code__in=codes)
             .exclude(inventory_asset_account_code="").exclude(purchase_cogs_account_code="")
             .order_by("pk").values_list("pk", flat=True))
