"""The matcher's side of the match ledger: load what is open, run the engine, write matches.

``match_payments`` loads a connection's undecided paying documents (payments, bank lines,
credit notes) and its open invoices and bills, runs :mod:`reconciliation.engine` and writes
the outcome:

- automatic: one ``Match`` (status confirmed, band auto, no person, not posted) with active
  allocations; the database triggers still guard the amounts, and a refusal falls back to a
  suggestion;
- suggested: up to three ``Match`` rows (status suggested, rank 1..3, score, reasons) with
  inactive allocations, replacing the payment's earlier suggestions;
- none: the earlier suggestions are removed.

A run for a few new payments reads only the documents blocking lets them reach (amounts,
contact, invoice numbers, links: the engine's own blocking, as a query), with every contact's
name, so a printed name resolves to a contact only when it stands for one in the whole ledger.

Confirmed, rejected and undone matches are never touched. A rejected (payment, document) pair
is never proposed again, and an undone pair is never settled automatically again.

The engine reads two optional keys of ``LedgerDocument.raw``: on a payment, ``invoice_id`` or
``invoice_ids`` (external ids of the documents the source links it to); on a foreign-currency
invoice, ``base_currency`` and ``base_amount`` (its value in the organisation's currency).
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone

from integrations.models import AuditSource, Connection
from integrations.services.audit import audit_event_record, operation
from reconciliation.engine import Band, Decision, Invoice, MatchConfig, Payment, Proposal, Reconciler
from reconciliation.engine.blocking import InvoiceIndex
from reconciliation.engine.normalise import has_gateway, normalise_name, reference_keys
from reconciliation.models import (
    PAYABLE_KINDS,
    PAYING_KINDS,
    DocumentKind,
    LedgerDocument,
    Match,
    MatchAllocation,
    MatchBand,
    MatchStatus,
)

logger = logging.getLogger(__name__)

# Source statuses of documents that can no longer be paid or pay anything.
CLOSED_STATUSES = ("DELETED", "VOIDED", "VOID", "DRAFT", "PAID", "deleted", "voided", "void", "draft", "paid")
FOUR_PLACES = Decimal("0.0001")
LAST_DIGITS = re.compile(r"\d+(?=\D*$)")
WRITE_CHUNK = 500
BLOCKING_MAX_PAYMENTS = 40  # beyond, read everything open (a query of that many ORs is slower)


@dataclass
class MatchingSummary:
    connections: int = 0
    payments: int = 0
    auto: int = 0
    suggested: int = 0
    none: int = 0
    refused: int = 0  # automatic matches the database refused (kept as suggestions)
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.payments} payments over {self.connections} connection(s): {self.auto} matched automatically, "
            f"{self.suggested} with suggestions, {self.none} without ({self.seconds:.1f} s)"
        )


@dataclass(frozen=True)
class Candidate:
    """One document a payment may settle, as the matcher ranks it on demand. ``group`` lists
    every document of the proposal when it is a group of several."""

    document: LedgerDocument
    score: Decimal
    reasons: list[dict[str, Any]]
    amount: Decimal  # to allocate, in the document's currency
    payment_amount: Decimal  # the same, in the payment's currency
    settlement: str
    group: tuple[int, ...] = field(default=())


# -- loading ----------------------------------------------------------------------------------


def _open_documents(connection: Connection, *, blocking: Q | None = None) -> list[LedgerDocument]:
    """Invoices and bills with something left to pay: the source's amount due, less what our
    own active allocations already took (whichever leaves less)."""
    queryset = (
        LedgerDocument.objects.filter(connection=connection, kind__in=PAYABLE_KINDS)
        .filter(blocking if blocking is not None else Q())
        .exclude(status__in=CLOSED_STATUSES)
        .annotate(allocated=Sum("allocations__amount", filter=Q(allocations__active=True)))
        .only(
            "id", "kind", "direction", "external_id", "number", "contact_name", "contact_key", "currency", "amount",
            "amount_due", "issue_date", "due_date", "raw",
        )
    )
    documents = []
    for document in queryset:
        left = document.amount - (document.allocated or Decimal("0"))
        if document.amount_due is not None:
            left = min(left, document.amount_due)
        if left > 0:
            document.open_amount = left
            documents.append(document)
    return documents


def _directory(connection: Connection, payments: Sequence[LedgerDocument] | None = None) -> list[tuple[str, str, str]]:
    """Contacts with an invoice or bill here: (direction, contact key, name). For ``payments``,
    only the contacts sharing a word with a printed payer's name: every contact a name could
    resolve to (equal, a prefix, or close enough) shares one, so the resolution is the same."""
    queryset = LedgerDocument.objects.filter(connection=connection, kind__in=PAYABLE_KINDS).exclude(contact_key="")
    if payments is not None:
        words = {word for p in payments if not p.contact_key for word in normalise_name(p.contact_name).split() if len(word) >= 3}
        if not words:
            return []
        query = Q(pk__in=[])
        for word in sorted(words)[:BLOCKING_MAX_PAYMENTS]:
            query |= Q(contact_name__icontains=word)
        queryset = queryset.filter(query)
    return list(queryset.values_list("direction", "contact_key", "contact_name").distinct())


def _blocking(payments: Sequence[LedgerDocument], directory: list[tuple[str, str, str]], config: MatchConfig | None) -> Q | None:
    """The same blocking as the engine's, as a query, for a few payments: the amounts they
    could settle, their contact (recorded, or the one their name stands for in the whole
    directory), the invoice numbers their references hold, the documents they link. None (no
    blocking) for many payments: one read of everything open is then cheaper."""
    if len(payments) > BLOCKING_MAX_PAYMENTS:
        return None
    config = config or MatchConfig()
    rules = config.rules
    names = InvoiceIndex([], config, directory)
    formats = _number_formats(payments[0].connection_id) if payments else []
    query = Q(pk__in=[])
    for payment in payments:
        tolerance = rules.tolerance_for(payment.currency)
        fee = (payment.amount + rules.bank_fee_fixed) / (1 - rules.bank_fee_max_ratio) - payment.amount
        low, high = payment.amount - tolerance, payment.amount + max(tolerance, rules.write_off_max, fee)
        # On the document's total (indexed with currency and direction): one part-paid in its
        # source is still reached through its contact or its number.
        query |= Q(currency=payment.currency, direction=payment.direction, amount__range=(low, high))
        contact = payment.contact_key
        if not contact and payment.contact_name and not has_gateway(f"{payment.contact_name} {payment.reference}", config.gateway_keywords):
            code, _ = names.resolve_name(payment.direction, normalise_name(payment.contact_name))
            contact = names.contact_ids.get(code, "")
        if contact:
            query |= Q(contact_key=contact)
        keys = reference_keys(payment.reference)
        for digits in sorted({d for _, d in keys.numbered} | set(keys.digits)):
            if formats:
                query |= Q(number__in=[head + digits.zfill(width) for head, width in formats if len(digits) <= width])
            else:
                query |= Q(number__iregex=rf"(^|[^0-9])0*{digits}$")
        if links := _links(payment):
            query |= Q(external_id__in=links)
    return query


def _number_formats(connection_id: int, sample: int = 200) -> list[tuple[str, int]]:
    """How this ledger writes invoice numbers, from its latest ones: the text before the last
    run of digits, and that run's width ("INV-000042" -> ("INV-", 6)). A number a reference
    holds ("42") is then looked up exactly, through the index, in every such format."""
    numbers = (
        LedgerDocument.objects.filter(connection_id=connection_id, kind__in=PAYABLE_KINDS)
        .exclude(number="")
        .order_by("-pk")
        .values_list("number", flat=True)[:sample]
    )
    formats = set()
    for number in numbers:
        match = LAST_DIGITS.search(number)
        if match:
            formats.add((number[: match.start()], len(match.group())))
    return sorted(formats)


def _pending_payments(connection: Connection) -> Any:
    confirmed = Match.objects.filter(payment=OuterRef("pk"), status=MatchStatus.CONFIRMED)
    return (
        LedgerDocument.objects.filter(connection=connection, kind__in=PAYING_KINDS, amount__gt=0)
        .exclude(status__in=CLOSED_STATUSES)
        .exclude(Exists(confirmed))
    )


def _as_invoice(document: LedgerDocument) -> Invoice:
    raw = document.raw if isinstance(document.raw, dict) else {}
    base_amount = raw.get("base_amount")
    return Invoice(
        id=str(document.pk), number=document.number, currency=document.currency, amount=document.amount,
        issue_date=document.issue_date, due_date=document.due_date, contact_id=document.contact_key,
        contact_name=document.contact_name, open_amount=getattr(document, "open_amount", None), direction=document.direction,
        base_currency=str(raw.get("base_currency") or "").upper(),
        base_amount=Decimal(str(base_amount)) if base_amount not in (None, "") else None,
    )


def _links(document: LedgerDocument) -> list[str]:
    raw = document.raw if isinstance(document.raw, dict) else {}
    links = [raw.get("invoice_id")] + list(raw.get("invoice_ids") or [])
    return [str(link) for link in links if link]


def _as_payment(document: LedgerDocument, by_external_id: dict[str, int]) -> Payment:
    amount = document.amount
    if document.kind == DocumentKind.CREDIT_NOTE and document.amount_due is not None:
        amount = min(amount, document.amount_due)  # the credit still left
    return Payment(
        id=str(document.pk), currency=document.currency, amount=amount, date=document.issue_date,
        reference=document.reference, contact_id=document.contact_key, contact_name=document.contact_name,
        direction=document.direction, kind=document.kind,
        invoice_ids=tuple(str(by_external_id[link]) for link in _links(document) if link in by_external_id),
    )


def _pairs(connection: Connection, payment_ids: Iterable[int] | None, status: str) -> set[tuple[str, str]]:
    """(payment, document) pairs of matches in ``status``: of the payments given, or of the
    whole connection (no list of ids too long for one query)."""
    rows = MatchAllocation.objects.filter(match__status=status, match__payment__connection=connection)
    if payment_ids is not None:
        rows = rows.filter(match__payment_id__in=list(payment_ids))
    return {(str(p), str(d)) for p, d in rows.values_list("match__payment_id", "document_id")}


# -- matching ---------------------------------------------------------------------------------


def match_payments(
    *,
    connection: Connection | None = None,
    payments: Sequence[LedgerDocument] | None = None,
    full: bool = False,
    config: MatchConfig | None = None,
) -> MatchingSummary:
    """Match undecided payments and write the matches (see the module docstring).

    ``full`` (or no ``payments``): every undecided payment of ``connection`` (of every
    connection when none is given). With ``payments``: those payments and the undecided
    payments competing with them for the same invoices (same contact, or a suggestion on a
    document they could settle); the rest of the ledger is left as it is.
    """
    started = time.perf_counter()
    summary = MatchingSummary()
    with operation():  # one correlation id for the whole run
        _match_all(connection, payments, full, summary, config)
    summary.seconds = time.perf_counter() - started
    return summary


def _match_all(
    connection: Connection | None, payments: Sequence[LedgerDocument] | None, full: bool, summary: MatchingSummary, config: MatchConfig | None
) -> None:
    if payments is not None and not full:
        by_connection: dict[int, list[LedgerDocument]] = defaultdict(list)
        for payment in payments:
            if connection is None or payment.connection_id == connection.pk:
                by_connection[payment.connection_id].append(payment)
        for connection_id, group in sorted(by_connection.items()):
            _match_connection(Connection.objects.get(pk=connection_id), [p.pk for p in group], summary, config)
    else:
        connections = [connection] if connection is not None else list(
            Connection.objects.filter(pk__in=LedgerDocument.objects.filter(kind__in=PAYING_KINDS).values("connection_id"))
        )
        for each in connections:
            _match_connection(each, None, summary, config)


def _match_connection(connection: Connection, payment_ids: list[int] | None, summary: MatchingSummary, config: MatchConfig | None) -> None:
    pending = _pending_payments(connection)
    if payment_ids is not None:
        new = list(pending.filter(pk__in=payment_ids))
        if not new:
            return
        directory = _directory(connection, new)
        blocking = _blocking(new, directory, config)
        documents = _open_documents(connection, blocking=blocking)
        competitors = _competitors(new, documents, directory, pending, config)
        chosen = new + [p for p in competitors if p.pk not in set(payment_ids)]
        if blocking is not None and competitors:
            directory = list(dict.fromkeys(directory + _directory(connection, competitors)))
            theirs = _blocking(competitors, directory, config)
            documents = _open_documents(connection, blocking=None if theirs is None else blocking | theirs)
    else:
        chosen = list(pending)
        if not chosen:
            return
        directory = _directory(connection)
        documents = _open_documents(connection)
    summary.connections += 1
    by_external_id = {d.external_id: d.pk for d in documents}
    ids = [p.pk for p in chosen] if payment_ids is not None else None
    engine = Reconciler(
        [_as_invoice(d) for d in documents], config, contacts=directory,
        excluded_pairs=_pairs(connection, ids, MatchStatus.REJECTED), no_auto_pairs=_pairs(connection, ids, MatchStatus.UNDONE),
    )
    decisions = engine.run([_as_payment(p, by_external_id) for p in chosen])
    by_document = {d.pk: d for d in documents}
    # One transaction per chunk: locks are held briefly, and no query lists too many ids.
    for start in range(0, len(chosen), WRITE_CHUNK):
        _write(connection, chosen[start : start + WRITE_CHUNK], decisions[start : start + WRITE_CHUNK], by_document, summary)


def _competitors(
    new: list[LedgerDocument], documents: list[LedgerDocument], directory: list[tuple[str, str, str]], pending: Any,
    config: MatchConfig | None,
) -> list[LedgerDocument]:
    """Undecided payments that may want the same invoices as ``new``: those of the same
    contacts, and those with a current suggestion on a document blocking gives ``new``."""
    index = InvoiceIndex([_as_invoice(d) for d in documents], config or MatchConfig(), directory)
    by_external_id = {d.external_id: d.pk for d in documents}
    edges = index.candidates([index.facts(_as_payment(p, by_external_id)) for p in new])
    wanted = sorted({documents[i].pk for i in edges.invoice.tolist()})
    query = Q(pk__in=MatchAllocation.objects.filter(document_id__in=wanted, match__status=MatchStatus.SUGGESTED).values("match__payment_id"))
    contacts = {p.contact_key for p in new if p.contact_key}
    if contacts:
        query |= Q(contact_key__in=contacts)
    return list(pending.filter(query, currency__in={p.currency for p in new}).exclude(pk__in=[p.pk for p in new])[:500])


# -- writing ----------------------------------------------------------------------------------


def _score(value: float) -> Decimal:
    return min(max(Decimal(str(round(value, 4))), Decimal("0")), Decimal("1"))


def _reasons(proposal: Proposal) -> list[dict[str, Any]]:
    return [reason.as_dict() for reason in proposal.reasons]


def _label(payment: LedgerDocument, proposal: Proposal, documents: dict[int, LedgerDocument]) -> str:
    numbers = ", ".join(documents[int(i)].number or documents[int(i)].external_id for i in proposal.invoice_ids if int(i) in documents)
    head = payment.reference or payment.number or payment.external_id
    return f"{payment.get_kind_display()} {head} ({payment.currency} {payment.amount}) to {numbers}"[:200]


def _write(
    connection: Connection,
    payments: list[LedgerDocument],
    decisions: list[Decision],
    documents: dict[int, LedgerDocument],
    summary: MatchingSummary,
) -> None:
    now = timezone.now()
    by_id = {str(p.pk): p for p in payments}
    with transaction.atomic(), operation():
        ids = [p.pk for p in payments]
        # Lock the payments, then skip any a person (or another run) decided meanwhile.
        list(LedgerDocument.objects.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
        decided = set(Match.objects.filter(payment_id__in=ids, status=MatchStatus.CONFIRMED).values_list("payment_id", flat=True))
        Match.objects.filter(payment_id__in=[i for i in ids if i not in decided], status=MatchStatus.SUGGESTED).delete()
        autos: list[tuple[LedgerDocument, Decision]] = []
        others: list[tuple[LedgerDocument, Decision]] = []
        for decision in decisions:
            payment = by_id[decision.payment_id]
            if payment.pk not in decided:
                (autos if decision.band is Band.AUTO else others).append((payment, decision))
        summary.payments += len(autos) + len(others)
        refused = _write_autos(connection, autos, documents, now)
        summary.auto += len(autos) - len(refused)
        summary.refused += len(refused)
        suggestions = [(p, d) for p, d in refused + others if d.proposals]
        summary.suggested += len(suggestions)
        summary.none += len(refused) + len(others) - len(suggestions)
        _write_suggestions(connection, suggestions, documents)


def _allocations(match: Match, proposal: Proposal, *, active: bool) -> list[MatchAllocation]:
    return [
        MatchAllocation(
            match=match, document_id=int(a.invoice_id), amount=a.amount.quantize(FOUR_PLACES),
            payment_amount=a.payment_amount.quantize(FOUR_PLACES), active=active,
        )
        for a in proposal.allocations
        if a.amount > 0 and a.payment_amount > 0
    ]


def _write_autos(
    connection: Connection, autos: list[tuple[LedgerDocument, Decision]], documents: dict[int, LedgerDocument], now: Any
) -> list[tuple[LedgerDocument, Decision]]:
    """The confirmed matches and their active allocations, all in one savepoint; if the
    database refuses any (an allocation beyond an amount, a confirmation by someone else), one
    savepoint each, so only the refused ones are left out. Returns the refused ones."""
    if not autos:
        return []
    try:
        with transaction.atomic():
            _insert_autos(connection, autos, documents, now)
        return []
    except IntegrityError:
        pass
    refused = []
    for pair in autos:
        try:
            with transaction.atomic():
                _insert_autos(connection, [pair], documents, now)
        except IntegrityError as error:
            logger.info("Automatic match of payment %s refused by the database: %s", pair[0].pk, error)
            refused.append(pair)
    return refused


def _insert_autos(connection: Connection, autos: list[tuple[LedgerDocument, Decision]], documents: dict[int, LedgerDocument], now: Any) -> None:
    matches = [
        Match(
            payment=payment, status=MatchStatus.CONFIRMED, band=MatchBand.AUTO, rank=1, score=_score(decision.proposals[0].score),
            reasons=_reasons(decision.proposals[0]), confirmed_by=None, confirmed_at=now,
        )
        for payment, decision in autos
    ]
    Match.objects.bulk_create(matches)
    allocations = []
    for match, (_, decision) in zip(matches, autos, strict=True):
        allocations.extend(_allocations(match, decision.proposals[0], active=True))
    MatchAllocation.objects.bulk_create(allocations)
    for match, (payment, decision) in zip(matches, autos, strict=True):
        proposal = decision.proposals[0]
        audit_event_record(
            action="match.auto_confirmed", source=AuditSource.WORKER, object_system=connection.system,
            object_type="match", object_id=match.pk, object_ref=_label(payment, proposal, documents),
            after={"documents": list(proposal.invoice_ids), "settlement": proposal.settlement.value},
            data={"score": f"{proposal.score:.2f}"},
        )


def _write_suggestions(connection: Connection, suggestions: list[tuple[LedgerDocument, Decision]], documents: dict[int, LedgerDocument]) -> None:
    matches: list[Match] = []
    proposals: list[Proposal] = []
    for payment, decision in suggestions:
        for rank, proposal in enumerate(decision.proposals[:3], start=1):
            matches.append(Match(
                payment=payment, status=MatchStatus.SUGGESTED, band=MatchBand.SUGGESTED, rank=rank,
                score=_score(proposal.score), reasons=_reasons(proposal),
            ))
            proposals.append(proposal)
    Match.objects.bulk_create(matches, batch_size=500)
    allocations = []
    for match, proposal in zip(matches, proposals, strict=True):
        allocations.extend(_allocations(match, proposal, active=False))
    MatchAllocation.objects.bulk_create(allocations, batch_size=1000)
    for match, proposal in zip(matches, proposals, strict=True):
        if match.rank == 1:
            audit_event_record(
                action="match.suggested", source=AuditSource.WORKER, object_system=connection.system,
                object_type="match", object_id=match.pk, object_ref=_label(match.payment, proposal, documents),
                data={"score": f"{proposal.score:.2f}", "suggestions": sum(1 for m in matches if m.payment_id == match.payment_id)},
            )


# -- on demand --------------------------------------------------------------------------------


def candidates_for(payment: LedgerDocument, limit: int = 10, *, config: MatchConfig | None = None) -> list[Candidate]:
    """The documents the matcher would propose for ``payment`` now, best first (nothing is
    written). Rejected pairs are left out; a group proposal yields one candidate per document,
    each carrying the whole ``group``."""
    directory = _directory(payment.connection, [payment])
    documents = _open_documents(payment.connection, blocking=_blocking([payment], directory, config))
    by_pk = {d.pk: d for d in documents}
    engine = Reconciler(
        [_as_invoice(d) for d in documents], config, contacts=directory,
        excluded_pairs=_pairs(payment.connection, [payment.pk], MatchStatus.REJECTED),
    )
    by_external_id = {d.external_id: d.pk for d in documents}
    result: list[Candidate] = []
    seen: set[int] = set()
    for proposal in engine.candidates(_as_payment(payment, by_external_id), limit=limit):
        group = tuple(int(i) for i in proposal.invoice_ids)
        for allocation in proposal.allocations:
            pk = int(allocation.invoice_id)
            if pk in seen or pk not in by_pk:
                continue
            seen.add(pk)
            result.append(Candidate(
                document=by_pk[pk], score=_score(proposal.score), reasons=_reasons(proposal), amount=allocation.amount,
                payment_amount=allocation.payment_amount, settlement=proposal.settlement.value,
                group=group if len(group) > 1 else (),
            ))
    return result[:limit]
