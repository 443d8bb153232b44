"""Pulling ledger documents from the connected systems into ``LedgerDocument``.

Xero: invoices and bills, credit notes, payments and bank transactions. TIMS: AR invoices and
AR payments. Each kind is read incrementally (the connector's modified-since, from the
``DocumentCursor`` minus a lookback), streamed page by page and upserted by
``(connection, kind, external_id)`` one chunk per transaction; the cursor advances only
after its chunk is committed, so a pull that dies resumes where it stopped and reads the
boundary again without harm.

The contact of a document is resolved across systems through the record links: a Xero
contact and the TIMS customer linked to it get the same ``contact_key`` (the smaller of their
two keys), so the matcher can compare a TIMS receipt with a Xero invoice by contact.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

from django.db import transaction
from django.db.models import Q

from connectors.base import Undecodable
from connectors.canonical import BankTransaction, CreditNote, Invoice, Payment, ReceivableInvoice, ReceivablePayment
from integrations.engine.records import record_data
from integrations.mapping.engine import to_jsonable
from integrations.models import AuditSource, Connection, ConnectionStatus, LinkState, RecordLink, System
from integrations.services.audit import audit_event_record, operation
from integrations.services.connectors import connector_for
from reconciliation.models import PAYING_KINDS, AllocationPosting, Direction, DocumentCursor, DocumentKind, LedgerDocument

logger = logging.getLogger(__name__)

CHUNK_SIZE = 200
# Re-read this much before the cursor: a change committed late under an earlier time is not lost.
LOOKBACK = timedelta(minutes=5)
FOUR_PLACES = Decimal("0.0001")
UPDATED_FIELDS = [
    "direction", "number", "reference", "contact_name", "contact_key", "currency", "amount", "amount_due",
    "issue_date", "due_date", "status", "raw", "fetched_at",
]


@dataclass
class DocumentRow:
    """What one remote record becomes, before its contact is resolved."""

    kind: str
    direction: str
    external_id: str
    currency: str
    amount: Decimal
    issue_date: date
    number: str = ""
    reference: str = ""
    contact_type: str = ""
    contact_id: str = ""
    contact_name: str = ""
    amount_due: Decimal | None = None
    due_date: date | None = None
    status: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    # A Xero payment knows its invoice, not its contact or currency: both come from the invoice.
    invoice_id: str = ""
    contact_key: str = ""


@dataclass(frozen=True)
class Source:
    """One kind of record pulled from one system."""

    entity: str  # the connector's entity name
    to_row: Callable[[Any], DocumentRow | None]


@dataclass
class PullReport:
    connection: Connection
    read: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    new_paying_ids: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.connection}: read {self.read}, new {self.created}, updated {self.updated}, "
                f"unreadable {self.failed}")


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(FOUR_PLACES)


def _direction(receivable: bool) -> str:
    return Direction.RECEIVABLE if receivable else Direction.PAYABLE


def _raw(record: Any) -> dict[str, Any]:
    return to_jsonable(record_data(record))


def xero_invoice_row(record: Invoice) -> DocumentRow | None:
    if record.total is None or record.date is None:
        return None  # a draft without lines has nothing to match yet
    receivable = record.type == "ACCREC"
    return DocumentRow(
        kind=DocumentKind.INVOICE if receivable else DocumentKind.BILL, direction=_direction(receivable),
        external_id=record.remote_id, number=record.number, reference=record.reference,
        contact_type="contact", contact_id=record.contact.remote_id, contact_name=record.contact.name,
        currency=record.currency_code, amount=record.total, amount_due=record.amount_due, issue_date=record.date,
        due_date=record.due_date, status=record.status, raw=_raw(record),
    )


def xero_credit_note_row(record: CreditNote) -> DocumentRow | None:
    if record.total is None or record.date is None:
        return None
    return DocumentRow(
        kind=DocumentKind.CREDIT_NOTE, direction=_direction(record.type == "ACCRECCREDIT"),
        external_id=record.remote_id, number=record.number, reference=record.reference,
        contact_type="contact", contact_id=record.contact.remote_id, contact_name=record.contact.name,
        currency=record.currency_code, amount=record.total, amount_due=record.remaining_credit,
        issue_date=record.date, status=record.status, raw=_raw(record),
    )


def xero_payment_row(record: Payment) -> DocumentRow:
    payable = record.payment_type.startswith(("ACCPAY", "AP"))
    return DocumentRow(
        kind=DocumentKind.PAYMENT, direction=_direction(not payable), external_id=record.remote_id,
        reference=record.reference, currency="", amount=record.amount, issue_date=record.date,
        status=record.status, raw=_raw(record), invoice_id=record.invoice_id or record.credit_note_id,
    )


def xero_bank_line_row(record: BankTransaction) -> DocumentRow | None:
    if record.total is None or record.date is None:
        return None
    contact = record.contact
    return DocumentRow(
        kind=DocumentKind.BANK_LINE, direction=_direction(record.type.startswith("RECEIVE")),
        external_id=record.remote_id, reference=record.reference,
        contact_type="contact" if contact else "", contact_id=contact.remote_id if contact else "",
        contact_name=contact.name if contact else "", currency=record.currency_code, amount=record.total,
        issue_date=record.date, status=record.status, raw=_raw(record),
    )


def tims_invoice_row(record: ReceivableInvoice) -> DocumentRow:
    return DocumentRow(
        kind=DocumentKind.INVOICE, direction=Direction.RECEIVABLE, external_id=record.remote_id,
        number=record.number, reference=record.customer_reference or record.order_number,
        contact_type="customer", contact_id=record.customer_id, contact_name=record.customer_code,
        currency=record.currency, amount=record.total, amount_due=record.amount_due, issue_date=record.invoice_date,
        due_date=record.due_date, status=record.status, raw=_raw(record),
    )


def tims_payment_row(record: ReceivablePayment) -> DocumentRow:
    return DocumentRow(
        kind=DocumentKind.PAYMENT, direction=Direction.RECEIVABLE, external_id=record.remote_id,
        number=record.number, reference=record.reference or record.memo, contact_type="customer",
        contact_id=record.customer_id, contact_name=record.customer_code, currency=record.currency,
        amount=record.amount, amount_due=record.unallocated_amount, issue_date=record.payment_date,
        status=record.status, raw=_raw(record),
    )


# Payable documents first: a Xero payment takes its contact and currency from its invoice.
SOURCES: dict[str, tuple[Source, ...]] = {
    System.XERO: (
        Source("invoice", xero_invoice_row),
        Source("credit_note", xero_credit_note_row),
        Source("payment", xero_payment_row),
        Source("bank_transaction", xero_bank_line_row),
    ),
    System.TIMS: (
        Source("receivable_invoice", tims_invoice_row),
        Source("payment", tims_payment_row),
    ),
}


def contact_keys(*, connection: Connection, contact_type: str, ids: Iterable[str]) -> dict[str, str]:
    """The cross-system key of each contact: its own key, or the smaller of its key and the
    key of the record linked to it (either direction of the link), so both sides agree."""
    wanted = {i for i in ids if i}
    keys = {i: f"{connection.pk}:{contact_type}:{i}" for i in wanted}
    if not wanted:
        return keys
    links = RecordLink.objects.filter(state=LinkState.LINKED).filter(
        Q(source_connection=connection, source_type=contact_type, source_id__in=wanted)
        | Q(target_connection=connection, target_type=contact_type, target_id__in=wanted)
    ).values_list("source_connection_id", "source_type", "source_id", "target_connection_id", "target_type", "target_id")
    for source_conn, source_type, source_id, target_conn, target_type, target_id in links:
        if source_conn == connection.pk and source_type == contact_type and source_id in wanted:
            own, other = source_id, f"{target_conn}:{target_type}:{target_id}"
        else:
            own, other = target_id, f"{source_conn}:{source_type}:{source_id}"
        keys[own] = min(keys[own], other)
    return keys


def _chunks(records: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _fill_from_invoices(connection: Connection, rows: list[DocumentRow]) -> None:
    """Xero payments: contact, contact name and currency from the invoice they pay."""
    wanted = {row.invoice_id for row in rows if row.invoice_id}
    if not wanted:
        return
    invoices = {
        doc.external_id: doc for doc in LedgerDocument.objects.filter(
            connection=connection, external_id__in=wanted,
            kind__in=[DocumentKind.INVOICE, DocumentKind.BILL, DocumentKind.CREDIT_NOTE])
    }
    for row in rows:
        invoice = invoices.get(row.invoice_id)
        if invoice is not None:
            row.currency = row.currency or invoice.currency
            row.contact_name = row.contact_name or invoice.contact_name
            row.contact_key = invoice.contact_key
            row.raw.setdefault("invoice_number", invoice.number)


# The Reference Ledgerbridge gives the payments it posts (reconciliation.services.posting).
OUR_POSTING = re.compile(r"^LB-\d+-\d+(\s|$)")


def _ours(connection: Connection, rows: list[DocumentRow]) -> set[str]:
    """Payments Ledgerbridge itself posted for a match: the match is their record already;
    pulled back as payments to match, the invoice would be counted twice."""
    payments = [row for row in rows if row.kind == DocumentKind.PAYMENT]
    if not payments:
        return set()
    posted = set(AllocationPosting.objects.filter(
        connection=connection, remote_id__in=[row.external_id for row in payments]).values_list("remote_id", flat=True))
    return posted | {row.external_id for row in payments if OUR_POSTING.match(row.reference)}


def _upsert(connection: Connection, rows: list[DocumentRow], report: PullReport, base_currency: str) -> None:
    ours = _ours(connection, rows)
    rows = [row for row in rows if not (row.kind == DocumentKind.PAYMENT and row.external_id in ours)]
    if not rows:
        return
    _fill_from_invoices(connection, rows)
    by_type: dict[str, set[str]] = {}
    for row in rows:
        if row.contact_id:
            by_type.setdefault(row.contact_type, set()).add(row.contact_id)
    keys = {
        (contact_type, contact_id): key
        for contact_type, ids in by_type.items()
        for contact_id, key in contact_keys(connection=connection, contact_type=contact_type, ids=ids).items()
    }
    documents = []
    for row in rows:
        contact_key = keys.get((row.contact_type, row.contact_id), "") or row.contact_key
        documents.append(LedgerDocument(
            connection=connection, kind=row.kind, direction=row.direction, external_id=row.external_id[:100],
            number=row.number[:100], reference=row.reference[:255], contact_name=row.contact_name[:255],
            contact_key=contact_key[:100], currency=(row.currency or base_currency).upper()[:3],
            amount=_money(abs(row.amount)), amount_due=_money(row.amount_due), issue_date=row.issue_date,
            due_date=row.due_date, status=row.status[:30], raw=row.raw,
        ))
    identities = {(d.kind, d.external_id) for d in documents}
    with transaction.atomic():
        existing = set(LedgerDocument.objects.filter(
            connection=connection, external_id__in={e for _, e in identities}
        ).values_list("kind", "external_id"))
        LedgerDocument.objects.bulk_create(
            documents, update_conflicts=True, unique_fields=["connection", "kind", "external_id"],
            update_fields=UPDATED_FIELDS,
        )
    new = identities - existing
    report.created += len(new)
    report.updated += len(identities) - len(new)
    paying_new = {e for k, e in new if k in PAYING_KINDS}
    if paying_new:
        report.new_paying_ids += list(LedgerDocument.objects.filter(
            connection=connection, kind__in=PAYING_KINDS, external_id__in=paying_new).values_list("pk", flat=True))


def _base_currency(client: Any, connection: Connection) -> str:
    """Xero payments whose invoice is unknown fall back to the organisation's currency."""
    if connection.system != System.XERO:
        return ""
    try:
        return str(client.check().get("base_currency") or "")
    except Exception:  # the pull goes on; such a payment is then skipped below
        logger.warning("Could not read the base currency of %s", connection)
        return ""


def documents_pull(*, connection: Connection, full: bool = False) -> PullReport:
    """Pull every document kind of one connection; incremental unless ``full``."""
    report = PullReport(connection=connection)
    sources = SOURCES.get(connection.system, ())
    if not sources:
        return report
    with operation():
        client = connector_for(connection)
        base_currency = ""
        for source in sources:
            cursor, _ = DocumentCursor.objects.get_or_create(connection=connection, entity=source.entity)
            since = None if full or cursor.high_water is None else cursor.high_water - LOOKBACK
            high_water = cursor.high_water
            for chunk in _chunks(client.list_records(source.entity, modified_since=since), CHUNK_SIZE):
                rows = []
                for record in chunk:
                    report.read += 1
                    if isinstance(record, Undecodable):
                        report.failed += 1
                        report.problems.append(f"{record.entity} {record.remote_id}: {record.message}")
                        continue
                    row = source.to_row(record)
                    if row is not None:
                        rows.append(row)
                if any(not row.currency for row in rows) and not base_currency:
                    base_currency = _base_currency(client, connection)
                rows = [row for row in rows if row.currency or base_currency]
                if rows:
                    _upsert(connection, rows, report, base_currency)
                stamps = [r.updated_at for r in chunk if isinstance(getattr(r, "updated_at", None), datetime)]
                if stamps:
                    newest = max(stamps)
                    high_water = max(high_water, newest) if high_water else newest
                    DocumentCursor.objects.filter(pk=cursor.pk).update(high_water=high_water)
        audit_event_record(
            action="documents.pulled", source=AuditSource.WORKER, object_system=connection.system,
            object_type="ledger_document", object_ref=connection.name,
            data={"read": report.read, "created": report.created, "updated": report.updated, "failed": report.failed,
                  "full": full},
        )
    for problem in report.problems[:20]:
        logger.warning("Unreadable record from %s: %s", connection, problem)
    return report


def match_new_payments(*, connection: Connection, payment_ids: list[int]) -> int:
    """Ask the matcher about the paying documents a pull brought in (when the matcher is
    installed); returns how many were handed over."""
    if not payment_ids:
        return 0
    try:
        from reconciliation.services.matching import match_payments
    except ImportError:
        return 0
    payments = list(LedgerDocument.objects.filter(pk__in=payment_ids))
    match_payments(connection=connection, payments=payments)
    return len(payments)


def connections_to_pull(*, connection_id: int | None = None) -> list[Connection]:
    """Xero and TIMS connections in use (or the one asked for, whatever its status)."""
    if connection_id is not None:
        return list(Connection.objects.filter(pk=connection_id))
    return list(Connection.objects.filter(system__in=list(SOURCES)).exclude(
        status__in=[ConnectionStatus.DISABLED, ConnectionStatus.NEEDS_REAUTH]))


def reconciliation_pull(*, connection_id: int | None = None, full: bool = False) -> list[PullReport]:
    """Pull each connection, then match what came in. One connection failing (an outage, a
    refused token) does not stop the others: its report says why."""
    reports = []
    for connection in connections_to_pull(connection_id=connection_id):
        try:
            report = documents_pull(connection=connection, full=full)
        except Exception as exc:  # noqa: BLE001 - reported per connection, the rest go on
            logger.exception("Pulling documents from %s failed", connection)
            report = PullReport(connection=connection, problems=[f"{type(exc).__name__}: {exc}"])
        else:
            match_new_payments(connection=connection, payment_ids=report.new_paying_ids)
        reports.append(report)
    return reports
