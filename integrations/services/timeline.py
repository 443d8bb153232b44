"""The record timeline: everything that touched one record, in both systems, newest first.

A record is named by its system, type and external id (a TIMS sales order, a Xero invoice). The
record links are followed from source to target and back, so the TIMS order and the Xero
invoice it became tell one story: their audit events, the runs that moved them, the API calls
that named them, their review-queue exceptions and the reconciliation matches of their ledger
documents.

Built for millions of audit events: each stream is read through its own index
(``(object_system, object_type, object_id, created_at)`` and ``(record_link, created_at)``
for audit events, ``(record_type, record_id)`` for exceptions, ``(run, started_at)`` for API
calls) with a limit, and merged here. Pages are cut on the audit events (keyset on
``created_at, id``), and the smaller streams are cut to the same time window, so every item
shows on exactly one page.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime

from integrations.models import (
    ApiCall, AuditEvent, Connection, Environment, Flow, RecordLink, SyncException, SyncRun, System,
)
from reconciliation.models import DocumentKind, LedgerDocument, Match

PAGE_SIZE = 50
# Linked records followed from the one asked for (an order, its invoice, a contact's twin...).
MAX_RECORDS = 12
# Runs and API calls looked at per record: a record re-read by every run of a busy flow would
# otherwise drag thousands of runs into one page.
MAX_RUNS = 500
MAX_SIDE_ITEMS = 200
# Ids shorter than this are not looked for inside API call paths ("7" is in too many paths).
MIN_PATH_ID_LENGTH = 6
MAX_CHANGES = 60


@dataclass(frozen=True)
class RecordKey:
    system: str
    type: str
    id: str

    @property
    def system_label(self) -> str:
        return System(self.system).label if self.system in System.values else self.system

    @property
    def type_label(self) -> str:
        return self.type.replace("_", " ")


@dataclass
class TimelineRecord:
    """One record of the story, with where to see it in its own system."""

    key: RecordKey
    ref: str = ""
    connection: Connection | None = None
    external_url: str = ""
    external_label: str = ""
    is_subject: bool = False

    @property
    def timeline_url(self) -> str:
        return timeline_url(system=self.key.system, object_type=self.key.type, object_id=self.key.id)


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass
class TimelineEntry:
    at: datetime
    sort_id: int
    kind: str  # audit, run, api_call, exception, match
    title: str
    tone: str = "info"  # info, ok, warn, error
    system: str = ""
    detail: str = ""
    actor: str = ""
    url: str = ""
    run_id: int | None = None
    changes: list[Change] = field(default_factory=list)
    changes_truncated: bool = False

    @property
    def kind_label(self) -> str:
        return {"audit": "Audit", "run": "Run", "api_call": "API call", "exception": "Exception",
                "match": "Match"}.get(self.kind, self.kind)


@dataclass
class Timeline:
    subject: TimelineRecord
    records: list[TimelineRecord]
    links: list[RecordLink]
    entries: list[TimelineEntry]
    next_cursor: str = ""
    hidden_kinds: frozenset[str] = frozenset()

    @property
    def hidden_labels(self) -> list[str]:
        labels = {"run": "runs", "api_call": "API calls", "exception": "exceptions", "match": "matches"}
        return [labels[kind] for kind in sorted(self.hidden_kinds) if kind in labels]

    @property
    def linked_records(self) -> list[TimelineRecord]:
        return [record for record in self.records if not record.is_subject]


def timeline_url(*, system: str, object_type: str, object_id: str) -> str:
    """The portal's timeline of one record (``integrations:timeline``)."""
    return reverse("integrations:timeline") + "?" + urlencode({"system": system, "type": object_type, "id": object_id})


# --- Where a record lives -----------------------------------------------------------------------

# The sandbox admin's pages of the emulated records: (changelist model, lookup field), or for
# TIMS, whose API ids are the primary keys, the change page itself (lookup None).
SANDBOX_PAGES: dict[tuple[str, str], tuple[str, str | None]] = {
    ("xero", "invoice"): ("xeroinvoice", "invoice_id"),
    ("xero", "contact"): ("xerocontact", "contact_id"),
    ("xero", "item"): ("xeroitem", "item_id"),
    ("xero", "payment"): ("xeropayment", "payment_id"),
    ("tims", "customer"): ("timscustomer", None),
    ("tims", "vendor"): ("timsvendor", None),
    ("tims", "product"): ("timsproduct", None),
    ("tims", "sales_order"): ("timssalesorder", None),
    ("tims", "salesorder"): ("timssalesorder", None),
    ("tims", "payment"): ("timspayment", None),
    ("tims", "receivable_invoice"): ("timsreceivableinvoice", None),
    ("tims", "gl_entry"): ("timsglentry", None),
}

# Xero's own pages (https://developer.xero.com/documentation/guides/how-to-guides/deep-link-xero/).
XERO_PAGES = {
    "invoice": "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={id}",
    "contact": "https://go.xero.com/Contacts/View/{id}",
    "credit_note": "https://go.xero.com/AccountsReceivable/ViewCreditNote.aspx?creditNoteID={id}",
    "manual_journal": "https://go.xero.com/Journal/View.aspx?invoiceID={id}",
}


def record_external_url(*, key: RecordKey, connection: Connection | None) -> tuple[str, str]:
    """(url, label) of the record's page in its system: the sandbox's admin page for a sandbox
    connection served by this site, the real system's web page otherwise; ('', '') if none."""
    served_here = connection is not None and connection.environment == Environment.SANDBOX and \
        settings.SANDBOX_ENABLED and (not connection.base_url or connection.base_url.startswith(settings.SANDBOX_BASE_URL))
    if served_here:
        page = SANDBOX_PAGES.get((key.system, key.type))
        if page is None:
            return "", ""
        model, lookup = page
        try:
            if lookup is None:
                return reverse(f"admin:sandbox_{model}_change", args=[key.id]), f"Open in the {key.system_label} sandbox"
            url = reverse(f"admin:sandbox_{model}_changelist") + "?" + urlencode({lookup: key.id})
        except NoReverseMatch:
            return "", ""
        return url, f"Open in the {key.system_label} sandbox"
    if key.system == System.XERO and key.type in XERO_PAGES:
        return XERO_PAGES[key.type].format(id=key.id), "Open in Xero"
    return "", ""


def _connections_by_system() -> dict[str, list[Connection]]:
    result: dict[str, list[Connection]] = {}
    for connection in Connection.objects.only("id", "name", "system", "environment", "base_url"):
        result.setdefault(connection.system, []).append(connection)
    return result


def timeline_records(*, key: RecordKey) -> tuple[list[TimelineRecord], list[RecordLink]]:
    """The record and every record linked to it, directly or through a twin (breadth first,
    at most ``MAX_RECORDS``), with the links that join them."""
    by_system = _connections_by_system()
    records: dict[RecordKey, TimelineRecord] = {key: TimelineRecord(key=key, is_subject=True)}
    links: dict[int, RecordLink] = {}
    queue = [key]
    while queue and len(records) < MAX_RECORDS:
        current = queue.pop(0)
        ids = [c.pk for c in by_system.get(current.system, [])]
        if not ids:
            continue
        found = RecordLink.objects.select_related("source_connection", "target_connection").filter(
            Q(source_connection_id__in=ids, source_type=current.type, source_id=current.id)
            | Q(target_connection_id__in=ids, target_type=current.type, target_id=current.id)
        )[:MAX_RECORDS]
        for link in found:
            links.setdefault(link.pk, link)
            sides = [(link.source_connection, link.source_type, link.source_id, link.source_ref)]
            if link.target_id:
                sides.append((link.target_connection, link.target_type, link.target_id, link.target_ref))
            for connection, object_type, object_id, ref in sides:
                side_key = RecordKey(connection.system, object_type, object_id)
                record = records.get(side_key)
                if record is None:
                    if len(records) >= MAX_RECORDS:
                        continue
                    record = records[side_key] = TimelineRecord(key=side_key)
                    queue.append(side_key)
                record.connection = record.connection or connection
                record.ref = record.ref or ref
    for record in records.values():
        if record.connection is None and len(by_system.get(record.key.system, [])) == 1:
            record.connection = by_system[record.key.system][0]
        record.external_url, record.external_label = record_external_url(key=record.key, connection=record.connection)
    return list(records.values()), list(links.values())


# --- Cursor -------------------------------------------------------------------------------------


def _cursor(event: AuditEvent) -> str:
    return f"{event.created_at.isoformat()}|{event.pk}"


def _parse_cursor(value: str) -> tuple[datetime, int] | None:
    at, _, pk = value.partition("|")
    parsed = parse_datetime(at) if at else None
    if parsed is None or not pk.isdigit():
        return None
    return parsed, int(pk)


# --- Streams ------------------------------------------------------------------------------------


def _before(queryset: QuerySet, field_name: str, cursor: tuple[datetime, int] | None) -> QuerySet:
    if cursor is None:
        return queryset
    at, pk = cursor
    return queryset.filter(Q(**{f"{field_name}__lt": at}) | Q(**{field_name: at, "pk__lt": pk}))


def _audit_events(records: list[TimelineRecord], links: list[RecordLink], cursor: tuple[datetime, int] | None,
                  limit: int) -> list[AuditEvent]:
    """The newest ``limit`` events of the records and links: one indexed, limited query per
    record and per link, merged (an OR of them all would let the planner walk the whole
    ``created_at`` index backwards)."""
    streams: list[list[AuditEvent]] = []
    base = AuditEvent.objects.order_by("-created_at", "-id")
    for record in records:
        queryset = base.filter(object_system=record.key.system, object_type=record.key.type, object_id=record.key.id)
        streams.append(list(_before(queryset, "created_at", cursor)[:limit]))
    for link in links:
        streams.append(list(_before(base.filter(record_link_id=link.pk), "created_at", cursor)[:limit]))
    merged: list[AuditEvent] = []
    seen: set[int] = set()
    for event in heapq.merge(*streams, key=lambda e: (e.created_at, e.pk), reverse=True):
        if event.pk in seen:
            continue
        seen.add(event.pk)
        merged.append(event)
        if len(merged) == limit:
            break
    return merged


def _in_window(queryset: QuerySet, field_name: str, upper: datetime | None, lower: datetime | None) -> QuerySet:
    if upper is not None:
        queryset = queryset.filter(**{f"{field_name}__lt": upper})
    if lower is not None:
        queryset = queryset.filter(**{f"{field_name}__gte": lower})
    return queryset


def _exceptions_q(records: list[TimelineRecord], links: list[RecordLink]) -> Q:
    """Exceptions name their source record (type and id, for flows out of that system) or its
    link: plain columns only, so PostgreSQL ORs the (record_type, record_id) and record_link
    indexes instead of joining every exception to its flow."""
    q = Q(record_link_id__in=[link.pk for link in links]) if links else Q(pk__in=[])
    flows_by_system: dict[str, list[int]] = {}
    for flow_id, system in Flow.objects.values_list("pk", "source_connection__system"):
        flows_by_system.setdefault(system, []).append(flow_id)
    for record in records:
        flow_ids = flows_by_system.get(record.key.system)
        if flow_ids:
            q |= Q(record_type=record.key.type, record_id=record.key.id, flow_id__in=flow_ids)
    return q


def _run_ids(records: list[TimelineRecord], links: list[RecordLink], exceptions: Iterable[SyncException]) -> set[int]:
    run_ids: set[int] = set()
    for record in records:
        run_ids.update(AuditEvent.objects.filter(
            object_system=record.key.system, object_type=record.key.type, object_id=record.key.id, run__isnull=False,
        ).order_by().values_list("run_id", flat=True).distinct()[:MAX_RUNS])
    for link in links:
        run_ids.update(AuditEvent.objects.filter(record_link_id=link.pk, run__isnull=False)
                       .order_by().values_list("run_id", flat=True).distinct()[:MAX_RUNS])
        if link.last_run_id:
            run_ids.add(link.last_run_id)
    run_ids.update(exception.run_id for exception in exceptions if exception.run_id)
    return set(sorted(run_ids, reverse=True)[:MAX_RUNS])


# --- Entries ------------------------------------------------------------------------------------


def _admin_url(name: str, *args: Any) -> str:
    try:
        return reverse(f"admin:{name}", args=args)
    except NoReverseMatch:
        return ""


def _show(value: Any) -> str:
    if value is None:
        return "\u2014"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def audit_changes(before: Any, after: Any) -> tuple[list[Change], bool]:
    """Old → new per field of an audit event's before/after JSON (only the fields that differ;
    a create shows its new values). Returns the changes and whether the list was cut."""
    if before is None and after is None:
        return [], False
    if before is None and isinstance(after, dict):
        before = {}
    if after is None and isinstance(before, dict):
        after = {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        if before == after:
            return [], False
        return [Change(field="value", before=_show(before), after=_show(after))], False
    changes = [
        Change(field=name, before=_show(before.get(name)), after=_show(after.get(name)))
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]
    return changes[:MAX_CHANGES], len(changes) > MAX_CHANGES


AUDIT_TONES = {"failed": "error", "opened": "error", "crashed": "error", "needs_reauth": "error", "skipped": "warn",
               "voided": "warn", "retried": "warn", "created": "ok", "updated": "ok", "linked": "ok",
               "resolved": "ok", "auto_resolved": "ok", "confirmed": "ok", "auto_confirmed": "ok", "posted": "ok"}
RUN_TONES = {"succeeded": "ok", "partial": "warn", "failed": "error", "crashed": "error", "running": "info",
             "queued": "info", "cancelled": "warn"}


def _audit_entry(event: AuditEvent) -> TimelineEntry:
    changes, truncated = audit_changes(event.before, event.after)
    verb = event.action.rsplit(".", 1)[-1]
    return TimelineEntry(
        at=event.created_at, sort_id=event.pk, kind="audit", title=event.description,
        tone=AUDIT_TONES.get(verb, "info"), system=event.object_system,
        detail=f"{event.object_type.replace('_', ' ')} {event.object_ref or event.object_id}".strip(),
        actor=event.actor_label or f"the system ({event.get_source_display().lower()})",
        url=_admin_url("integrations_auditevent_change", event.pk), run_id=event.run_id,
        changes=changes, changes_truncated=truncated,
    )


def _run_entry(run: SyncRun) -> TimelineEntry:
    counts = (f"read {run.read_count}, created {run.created_count}, updated {run.updated_count}, "
              f"unchanged {run.unchanged_count}, failed {run.failed_count}")
    return TimelineEntry(
        at=run.created_at, sort_id=run.pk, kind="run",
        title=f"Run #{run.pk} of {run.flow.name} ({run.get_trigger_display().lower()}): {run.get_status_display().lower()}",
        tone=RUN_TONES.get(run.status, "info"), detail=counts, run_id=run.pk,
        actor=run.triggered_by.get_username() if run.triggered_by_id and run.triggered_by else "",
        url=reverse("integrations:monitor_run", args=[run.pk]),
    )


def _api_call_entry(call: ApiCall) -> TimelineEntry:
    failed = call.status_code is None or call.status_code >= 400
    return TimelineEntry(
        at=call.started_at, sort_id=call.pk, kind="api_call",
        title=f"{call.method} {call.path} \u2192 {call.status_code or 'no answer'}",
        tone="error" if failed else "info", system=call.connection.system,
        detail=f"{call.connection.name}, {call.duration_ms} ms, attempt {call.attempt}"
               + (f": {call.error}" if call.error else ""),
        url=_admin_url("integrations_apicall_change", call.pk), run_id=call.run_id,
    )


def _exception_entry(exception: SyncException) -> TimelineEntry:
    admin_name = "integrations_openexception_change" if exception.is_open else "integrations_resolvedexception_change"
    return TimelineEntry(
        at=exception.created_at, sort_id=exception.pk, kind="exception",
        title=f"Exception at {exception.get_stage_display().lower()}: {exception.message}",
        tone="error" if exception.is_open else "warn", system=exception.flow.source_connection.system,
        detail=(f"{exception.get_error_class_display()} \u00b7 {exception.code} \u00b7 {exception.get_status_display()}"
                f" \u00b7 {exception.attempts} attempt{'s' if exception.attempts != 1 else ''}"),
        actor=exception.assignee.get_username() if exception.assignee_id and exception.assignee else "",
        url=_admin_url(admin_name, exception.pk), run_id=exception.run_id,
    )


def _match_entry(match: Match) -> TimelineEntry:
    allocations = ", ".join(
        f"{allocation.document.number or allocation.document.external_id} {allocation.document.currency} {allocation.amount:.2f}"
        for allocation in match.allocations.all()
    )
    payment = match.payment
    return TimelineEntry(
        at=match.created_at, sort_id=match.pk, kind="match",
        title=(f"Match {match.get_status_display().lower()}: {payment.get_kind_display().lower()} "
               f"{payment.reference or payment.number or payment.external_id} ({payment.currency} {payment.amount:.2f})"),
        tone={"confirmed": "ok", "rejected": "warn", "undone": "warn"}.get(match.status, "info"),
        detail=(f"{match.get_band_display()}, score {match.score:.2f}, {match.get_posting_status_display().lower()}"
                + (f"; allocated to {allocations}" if allocations else "")),
        actor=match.confirmed_by.get_username() if match.confirmed_by_id and match.confirmed_by else "",
        url=_admin_url("reconciliation_match_change", match.pk),
    )


# --- The timeline -------------------------------------------------------------------------------


# What a person must be allowed to view to see each kind of entry (the audit events themselves
# are the page's own permission).
KIND_PERMISSIONS = {
    "run": "integrations.view_syncrun",
    "api_call": "integrations.view_apicall",
    "exception": "integrations.view_syncexception",
    "match": "reconciliation.view_match",
}
ALL_KINDS = frozenset({"audit", *KIND_PERMISSIONS})


def timeline_kinds_for(user: Any) -> frozenset[str]:
    """The kinds of entries ``user`` may see (integration admins see no matches, finance no
    API calls: the roles' own view permissions)."""
    return frozenset({"audit"} | {kind for kind, permission in KIND_PERMISSIONS.items() if user.has_perm(permission)})


def record_timeline(*, system: str, object_type: str, object_id: str, cursor: str = "",
                    page_size: int = PAGE_SIZE, kinds: frozenset[str] = ALL_KINDS) -> Timeline:
    """One page of the record's story (newest first); ``cursor`` is a page's ``next_cursor``;
    ``kinds`` leaves out (and does not read) the kinds of entries not named."""
    key = RecordKey(system=system, type=object_type, id=object_id)
    records, links = timeline_records(key=key)
    position = _parse_cursor(cursor) if cursor else None
    events = _audit_events(records, links, position, page_size + 1)
    has_more = len(events) > page_size
    events = events[:page_size]
    # The window of this page: newer than the next page's first event, older than the cursor.
    upper = position[0] if position else None
    lower = events[-1].created_at if has_more else None

    exceptions = list(_in_window(
        SyncException.objects.filter(_exceptions_q(records, links)).select_related(
            "flow__source_connection", "assignee"), "created_at", upper, lower,
    ).order_by("-created_at")[:MAX_SIDE_ITEMS])
    run_ids = _run_ids(records, links, exceptions) if kinds & {"run", "api_call"} else set()
    runs = list(_in_window(SyncRun.objects.filter(pk__in=run_ids), "created_at", upper, lower)
                .select_related("flow", "triggered_by").order_by("-created_at")[:MAX_SIDE_ITEMS]) \
        if "run" in kinds else []

    call_q = Q(pk__in=[event.api_call_id for event in events if event.api_call_id])
    path_ids = {record.key.id for record in records if len(record.key.id) >= MIN_PATH_ID_LENGTH}
    if run_ids and path_ids:
        path_q = Q()
        for path_id in path_ids:
            path_q |= Q(path__contains=path_id)
        call_q |= Q(run_id__in=run_ids) & path_q
    calls = list(_in_window(ApiCall.objects.filter(call_q), "started_at", upper, lower)
                 .select_related("connection").order_by("-started_at")[:MAX_SIDE_ITEMS]) if "api_call" in kinds else []

    matches: list[Match] = []
    by_system = _connections_by_system()
    document_q = Q(pk__in=[])
    for record in records:
        connection_ids = [c.pk for c in by_system.get(record.key.system, [])]
        if connection_ids:
            document_q |= Q(connection_id__in=connection_ids, kind__in=DocumentKind.values, external_id=record.key.id)
    documents = list(LedgerDocument.objects.filter(document_q).values_list("pk", flat=True)[:MAX_SIDE_ITEMS]) \
        if "match" in kinds else []
    if documents:
        match_ids = set(Match.objects.filter(payment_id__in=documents).values_list("pk", flat=True)[:MAX_SIDE_ITEMS])
        match_ids |= set(Match.objects.filter(allocations__document_id__in=documents)
                         .values_list("pk", flat=True)[:MAX_SIDE_ITEMS])
        matches = list(_in_window(Match.objects.filter(pk__in=match_ids), "created_at", upper, lower)
                       .select_related("payment", "confirmed_by")
                       .prefetch_related("allocations__document").order_by("-created_at"))

    entries = [_audit_entry(event) for event in events]
    entries += [_exception_entry(exception) for exception in exceptions if "exception" in kinds]
    entries += [_run_entry(run) for run in runs]
    entries += [_api_call_entry(call) for call in calls]
    entries += [_match_entry(match) for match in matches]
    order = {"run": 0, "api_call": 1, "audit": 2, "exception": 3, "match": 4}
    entries.sort(key=lambda entry: (entry.at, order.get(entry.kind, 9), entry.sort_id), reverse=True)

    subject = next(record for record in records if record.is_subject)
    if not subject.ref:
        subject.ref = next((event.object_ref for event in events
                            if event.object_system == system and event.object_id == object_id and event.object_ref), "")
    return Timeline(subject=subject, records=records, links=links, entries=entries,
                    next_cursor=_cursor(events[-1]) if has_more else "", hidden_kinds=ALL_KINDS - kinds)


def timeline_find(*, query: str, limit: int = 20) -> list[TimelineRecord]:
    """Records whose human reference is ``query`` exactly (an order number, an invoice number),
    through the record links' indexed reference columns."""
    query = query.strip()
    if not query:
        return []
    found: dict[RecordKey, TimelineRecord] = {}
    links = RecordLink.objects.select_related("source_connection", "target_connection").filter(
        Q(source_ref=query) | Q(target_ref=query)
    )[:limit]
    for link in links:
        if link.source_ref == query:
            key = RecordKey(link.source_connection.system, link.source_type, link.source_id)
            found.setdefault(key, TimelineRecord(key=key, ref=link.source_ref, connection=link.source_connection))
        if link.target_id and link.target_ref == query:
            key = RecordKey(link.target_connection.system, link.target_type, link.target_id)
            found.setdefault(key, TimelineRecord(key=key, ref=link.target_ref, connection=link.target_connection))
    return list(found.values())
