"""Posting confirmed matches to the connected systems, exactly once.

Xero cannot reconcile through its API ("reconciliation is not an activity that is possible
through our API", api-notes/reconciliation.md §2), so a confirmed allocation becomes:

- a **Xero Payment** against the Xero invoice or bill it settles, into a bank account;
- the **TIMS AR invoice marked paid** (``updateReceivableInvoiceStatus``), when the allocation
  settles what is due on it;
- nothing, when that system holds the money already: a Xero payment, bank transaction or credit
  note matched to a Xero invoice, a TIMS receipt matched to a TIMS invoice. (A Xero bank
  transaction already put the cash in the bank account; a Payment on top would count it twice,
  and the API cannot turn one into the other, so such a match stays in our ledger.)

Exactly once, as the flows do it (integrations/engine/pipeline.py, DESIGN §4):

1. an ``AllocationPosting`` is committed *pending*, with a claim lease, before any call;
2. the posting's key is stable per match and allocation (``LB-<match>-<allocation>``) and starts
   the Xero payment's Reference; the Idempotency-Key is that key plus the attempt number, so a
   request resent after a lost answer is replayed by the remote, while a new attempt after a
   definite error is not answered with that error again (Xero and TIMS keep a key's answer,
   errors included, for minutes to hours: api-notes/xero.md §5.5);
3. a lost answer (``UnknownOutcome``) is settled by looking the payment up by its reference;
   so is every later attempt, before anything is sent again: found → posted, not found → sent;
4. refusals and outages leave a *failed* posting with the message, retried on a schedule by
   ``postings_retry_due`` (a person can also retry at once from the screen).

Undoing a posted match reverses its postings the same way: a Xero payment is deleted (POST
``Payments/{id}`` with Status DELETED, the only way the API removes one), a TIMS invoice
reopened; the *reversing* state is committed before the call and a lost answer is settled by
reading the record back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.base import ConnectorError, ElementResult, ErrorClass, UnknownOutcome
from connectors.canonical import Payment
from integrations.mapping_templates import GL_ACCOUNTS
from integrations.models import AuditSource, System, ValueMapEntry
from integrations.services.audit import audit_event_record, operation
from integrations.services.connectors import connector_for
from reconciliation.models import (
    AllocationPosting,
    AllocationPostingStatus as Status,
    DocumentKind,
    Match,
    MatchAllocation,
    MatchStatus,
    PostingKind,
    PostingStatus,
)
from reconciliation.selectors import document_label

logger = logging.getLogger(__name__)

# A claim lasts less than Xero's 6-minute idempotency window (api-notes/xero.md §5.5): a
# worker that takes over an expired claim is still answered from Xero's cache if the first
# one's request is only now arriving, and it looks the payment up first anyway.
CLAIM_LEASE = timedelta(minutes=5)
# Seconds between automatic retries of a failed posting; then it waits for a person.
RETRY_SCHEDULE = (60, 300, 900, 3600, 10800)
DEFAULT_TIMS_DEPOSIT_ACCOUNT = "1200"
OPEN_STATES = (Status.PENDING, Status.UNKNOWN_OUTCOME, Status.FAILED)


class PostingRefused(Exception):
    """What a match cannot be posted as: said to people as it is."""


@dataclass(frozen=True)
class Plan:
    connection_id: int
    kind: str


def posting_key(allocation: MatchAllocation) -> str:
    """Stable per match and allocation: the same on every attempt and every worker."""
    return f"LB-{allocation.match_id}-{allocation.pk}"


def posting_plan(allocation: MatchAllocation) -> Plan:
    """Which system records this allocation, and how."""
    document, payer = allocation.document, allocation.match.payment
    system = document.connection.system
    if system == System.XERO and document.kind in (DocumentKind.INVOICE, DocumentKind.BILL):
        # Money recorded in the same Xero books (a payment, a bank transaction, a credit note)
        # is there already: another Payment would count it twice.
        same_books = payer.connection_id == document.connection_id
        return Plan(document.connection_id, PostingKind.NOTHING if same_books else PostingKind.XERO_PAYMENT)
    if system == System.TIMS and document.kind == DocumentKind.INVOICE:
        if payer.connection_id == document.connection_id:
            return Plan(document.connection_id, PostingKind.NOTHING)  # TIMS holds the receipt already
        return Plan(document.connection_id, PostingKind.TIMS_MARK_PAID)
    return Plan(document.connection_id, PostingKind.NOTHING)


def _request_key(posting: AllocationPosting) -> str:
    """The Idempotency-Key of this attempt's request (see the module's docstring)."""
    return posting.idempotency_key if posting.attempts <= 1 else f"{posting.idempotency_key}-{posting.attempts}"


def _reference(posting: AllocationPosting) -> str:
    payer = posting.allocation.match.payment
    words = payer.reference or payer.number
    return f"{posting.idempotency_key} {words}"[:255].strip()


def _retry_at(attempts: int) -> Any:
    if attempts > len(RETRY_SCHEDULE):
        return None  # the schedule is spent: a person retries from the screen
    return timezone.now() + timedelta(seconds=RETRY_SCHEDULE[attempts - 1])


# --- Claiming ------------------------------------------------------------------------------------


def _postings_prepare(match: Match) -> None:
    """One posting row per active allocation (idempotent)."""
    for allocation in match.allocations.filter(active=True).select_related("document__connection", "match__payment"):
        if hasattr(allocation, "posting"):
            continue
        plan = posting_plan(allocation)
        AllocationPosting.objects.get_or_create(
            allocation=allocation,
            defaults={"connection_id": plan.connection_id, "kind": plan.kind, "idempotency_key": posting_key(allocation)},
        )


def _claim(match_id: int, *, force: bool) -> tuple[Match | None, list[AllocationPosting]]:
    """Lock the match, make its postings, and claim the ones to send now. Committed before
    any call: a crash after this leaves a pending posting that the next attempt looks up."""
    now = timezone.now()
    with transaction.atomic():
        match = Match.objects.select_for_update().filter(pk=match_id, status=MatchStatus.CONFIRMED).first()
        if match is None:
            return None, []
        _postings_prepare(match)
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        open_postings = AllocationPosting.objects.select_for_update().filter(
            allocation__match=match, status__in=OPEN_STATES).filter(free)
        if not force:
            open_postings = open_postings.filter(
                Q(attempts=0) | Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        postings = list(open_postings)
        for posting in postings:
            posting.attempts += 1
            posting.claimed_until = now + CLAIM_LEASE
            posting.save(update_fields=["attempts", "claimed_until", "updated_at"])
        if postings and match.posting_status != PostingStatus.PENDING:
            match.posting_status = PostingStatus.PENDING
            match.save(update_fields=["posting_status", "updated_at"])
    return match, postings


def _settle(posting: AllocationPosting, status: str, *, remote_id: str = "", error: str = "") -> None:
    """Commit one posting's outcome and release its claim."""
    now = timezone.now()
    posting.status = status
    posting.claimed_until = None
    if remote_id:
        posting.remote_id = remote_id
    if status == Status.POSTED:
        posting.posted_at, posting.last_error, posting.next_attempt_at = now, "", None
    elif status in (Status.FAILED, Status.UNKNOWN_OUTCOME):
        posting.last_error = error
        posting.next_attempt_at = _retry_at(posting.attempts)
    AllocationPosting.objects.filter(pk=posting.pk).update(
        status=posting.status, claimed_until=None, remote_id=posting.remote_id, posted_at=posting.posted_at,
        last_error=posting.last_error, next_attempt_at=posting.next_attempt_at, updated_at=now,
    )


def _summarise(match: Match) -> Match:
    """The match's posting status from its postings."""
    statuses = set(AllocationPosting.objects.filter(allocation__match=match, allocation__active=True)
                   .values_list("status", flat=True))
    if not statuses:
        summary = PostingStatus.NOT_POSTED
    elif statuses == {Status.POSTED}:
        summary = PostingStatus.POSTED
    elif Status.UNKNOWN_OUTCOME in statuses:
        summary = PostingStatus.UNKNOWN_OUTCOME
    elif Status.FAILED in statuses:
        summary = PostingStatus.FAILED
    else:
        summary = PostingStatus.PENDING
    fields = {"posting_status": summary, "updated_at": timezone.now()}
    if summary == PostingStatus.POSTED and match.posted_at is None:
        fields["posted_at"] = timezone.now()
    Match.objects.filter(pk=match.pk).update(**fields)
    match.refresh_from_db()
    return match


# --- Xero ------------------------------------------------------------------------------------------


def _xero_bank_account(client: Any, posting: AllocationPosting) -> dict[str, str]:
    """The bank account the payment goes into, chosen as the payment flows choose it: the
    payer's own account when it is a Xero record; a TIMS receipt's deposit account through
    the GL account value map (as "TIMS AR payments → Xero payments" does); else the
    organisation's first active bank account."""
    payer = posting.allocation.match.payment
    raw = payer.raw or {}
    if payer.connection_id == posting.connection_id:
        if raw.get("account_id") or raw.get("account_code"):
            return {"account_id": raw.get("account_id", ""), "account_code": raw.get("account_code", "")}
        if raw.get("bank_account_id") or raw.get("bank_account_code"):
            return {"account_id": raw.get("bank_account_id", ""), "account_code": raw.get("bank_account_code", "")}
    if payer.connection.system == System.TIMS:
        deposit = raw.get("deposit_account_code") or DEFAULT_TIMS_DEPOSIT_ACCOUNT
        mapped = ValueMapEntry.objects.filter(value_map__name=GL_ACCOUNTS, source_value=deposit).values_list(
            "target_value", flat=True).first()
        if mapped:
            return {"account_id": "", "account_code": mapped}
    banks = [a for a in client.accounts() if a.type == "BANK" and a.status in ("", "ACTIVE")]
    if not banks:
        raise PostingRefused("The Xero organisation has no active bank account to receive the payment into.")
    return {"account_id": banks[0].remote_id, "account_code": banks[0].code}


def _xero_find(client: Any, posting: AllocationPosting) -> Payment | None:
    """Our payment for this allocation, if Xero has it: by the reference it carries."""
    key = posting.idempotency_key
    invoice_id = posting.allocation.document.external_id
    for payment in client.list_payments(where=f'Reference.StartsWith("{key}")'):
        if (payment.reference == key or payment.reference.startswith(key + " ")) and (
                not payment.invoice_id or payment.invoice_id == invoice_id):
            return payment
    return None


def _xero_post(client: Any, posting: AllocationPosting) -> ElementResult:
    allocation = posting.allocation
    if posting.attempts > 1:
        found = _xero_find(client, posting)
        if found is not None:
            return ElementResult(source_ref=posting.idempotency_key, ok=True, remote_id=found.remote_id, record=found)
    account = _xero_bank_account(client, posting)
    payment = Payment(
        amount=allocation.amount.quantize(Decimal("0.01")), date=allocation.match.payment.issue_date,
        invoice_id=allocation.document.external_id, account_id=account["account_id"],
        account_code=account["account_code"], reference=_reference(posting),
    )
    batch = {posting.idempotency_key: payment}
    try:
        [result] = client.create_payments(batch, idempotency_key=_request_key(posting))
    except UnknownOutcome:
        _settle(posting, Status.UNKNOWN_OUTCOME, error="Xero's answer was lost; looking the payment up.")
        found = _xero_find(client, posting)
        if found is not None:
            return ElementResult(source_ref=posting.idempotency_key, ok=True, remote_id=found.remote_id, record=found)
        # Not there: sending again is safe, with the same key.
        [result] = client.create_payments(batch, idempotency_key=_request_key(posting))
    return result


def _xero_reverse(client: Any, posting: AllocationPosting) -> None:
    remote_id = posting.remote_id
    if not remote_id:
        found = _xero_find(client, posting)
        if found is None:
            return  # it never landed: nothing to reverse
        remote_id = found.remote_id
    try:
        client.delete_payment(remote_id)
    except (UnknownOutcome, ConnectorError) as exc:
        current = client.get_records("payment", [remote_id])
        if current and current[0].status == "DELETED":
            return
        if isinstance(exc, UnknownOutcome):
            client.delete_payment(remote_id)
            return
        raise


# --- TIMS ------------------------------------------------------------------------------------------


def _tims_post(client: Any, posting: AllocationPosting) -> ElementResult:
    allocation = posting.allocation
    document = allocation.document
    due = document.amount_due if document.amount_due is not None else document.amount
    covered = sum(a.amount for a in document.allocations.filter(active=True))
    if covered < due:
        raise PostingRefused(
            f"TIMS marks an AR invoice paid only in full: {document.currency} {covered:.2f} of "
            f"{due:.2f} due is matched. Match the rest, or record the part payment in TIMS.")
    payer = allocation.match.payment
    reason = f"Paid in {payer.connection.get_system_display()}: {payer.reference or payer.number or payer.external_id} ({posting.idempotency_key})"
    try:
        return client.mark_invoice_paid(document.external_id, reason[:500], settled_on=payer.issue_date,
                                        idempotency_key=_request_key(posting))
    except UnknownOutcome:
        # Marking paid is a no-op on a paid invoice, so reading it back settles the outcome.
        current = client.get_record("receivable_invoice", document.external_id)
        if current.status == "paid":
            return ElementResult(source_ref=posting.idempotency_key, ok=True, remote_id=document.external_id)
        return client.mark_invoice_paid(document.external_id, reason[:500], settled_on=payer.issue_date,
                                        idempotency_key=_request_key(posting))


def _tims_reverse(client: Any, posting: AllocationPosting) -> None:
    document = posting.allocation.document
    try:
        result = client.reopen_invoice(document.external_id, f"Match undone ({posting.idempotency_key})",
                                       idempotency_key=f"{posting.idempotency_key}-reopen")
    except UnknownOutcome:
        current = client.get_record("receivable_invoice", document.external_id)
        if current.status != "paid":
            return
        result = client.reopen_invoice(document.external_id, f"Match undone ({posting.idempotency_key})",
                                       idempotency_key=f"{posting.idempotency_key}-reopen")
    if not result.ok:
        raise PostingRefused(" ".join(result.errors) or "TIMS refused to reopen the invoice.")


# --- Posting ---------------------------------------------------------------------------------------


def _post_one(posting: AllocationPosting) -> None:
    match = posting.allocation.match
    system = posting.connection.system
    if posting.kind == PostingKind.NOTHING:
        _settle(posting, Status.POSTED)
        return
    try:
        client = connector_for(posting.connection)
        result = _xero_post(client, posting) if posting.kind == PostingKind.XERO_PAYMENT else _tims_post(client, posting)
    except PostingRefused as exc:
        result = ElementResult(source_ref=posting.idempotency_key, ok=False, errors=(str(exc),),
                               error_class=ErrorClass.VALIDATION)
    except UnknownOutcome as exc:
        _settle(posting, Status.UNKNOWN_OUTCOME, error=f"{exc.message}: it will be looked up before any retry.")
        _audit_failure(match, posting, system, exc.message)
        return
    except ConnectorError as exc:
        # An outage or a refusal of the whole request. Whether it landed is settled by the
        # lookup every later attempt starts with.
        _settle(posting, Status.FAILED, error=exc.message)
        _audit_failure(match, posting, system, exc.message)
        return
    if result.ok:
        _settle(posting, Status.POSTED, remote_id=result.remote_id)
        audit_event_record(
            action="match.posted", source=AuditSource.WORKER, object_system=system,
            object_type="payment" if posting.kind == PostingKind.XERO_PAYMENT else "receivable_invoice",
            object_id=result.remote_id, object_ref=document_label(match.payment),
            data={"system": posting.connection.get_system_display(), "match": match.pk,
                  "allocation": posting.allocation_id, "amount": str(posting.allocation.amount),
                  "key": posting.idempotency_key},
        )
        return
    message = " ".join(result.errors) or "The remote refused the posting."
    _settle(posting, Status.FAILED, error=message)
    _audit_failure(match, posting, system, message)


def _audit_failure(match: Match, posting: AllocationPosting, system: str, message: str) -> None:
    audit_event_record(
        action="match.post_failed", source=AuditSource.WORKER, object_system=system, object_type="match",
        object_id=match.pk, object_ref=document_label(match.payment),
        data={"system": posting.connection.get_system_display(), "message": message, "attempts": posting.attempts,
              "key": posting.idempotency_key},
    )


def match_post(*, match_id: int, force: bool = False) -> Match | None:
    """Post a confirmed match's allocations that are not posted yet; ``force`` ignores the
    retry schedule (a person's "retry now"), never a claim another worker holds."""
    with operation():
        match, postings = _claim(match_id, force=force)
        if match is None:
            return None
        for posting in postings:
            posting = AllocationPosting.objects.select_related(
                "connection", "allocation__document__connection", "allocation__match__payment__connection",
            ).get(pk=posting.pk)
            try:
                _post_one(posting)
            except Exception as exc:
                # Not planned for: leave a clear failed state (looked up before the next try).
                logger.exception("Posting %s failed unexpectedly", posting.idempotency_key)
                _settle(posting, Status.FAILED, error=f"Unexpected error: {type(exc).__name__}: {exc}")
        return _summarise(match)


def postings_retry_due() -> int:
    """The retry sweep: matches with a posting due again, or one whose worker's claim ran out
    while pending. Returns how many matches were tried."""
    now = timezone.now()
    stale_pending = Q(status=Status.PENDING, claimed_until__lt=now)
    due = Q(status__in=[Status.FAILED, Status.UNKNOWN_OUTCOME], next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    never_claimed = Q(status=Status.PENDING, claimed_until__isnull=True)
    match_ids = set(AllocationPosting.objects.filter(
        stale_pending | due | never_claimed, allocation__match__status=MatchStatus.CONFIRMED
    ).values_list("allocation__match_id", flat=True))
    # Confirmed matches that never reached the poster (a task lost before it ran).
    match_ids |= set(Match.objects.filter(
        status=MatchStatus.CONFIRMED, posting_status=PostingStatus.NOT_POSTED,
    ).values_list("pk", flat=True)[:500])
    for match_id in sorted(match_ids):
        match_post(match_id=match_id)
    return len(match_ids)


def match_postings_reverse(*, match: Match) -> None:
    """Reverse every posting of a match (undo). Each reversal commits *reversing* before its
    call; a refusal raises ``PostingRefused`` with the remote's words and leaves the rest for
    a second try, so the match stays confirmed until everything it wrote is gone."""
    now = timezone.now()
    with transaction.atomic():
        postings = list(AllocationPosting.objects.select_for_update().filter(allocation__match=match)
                        .exclude(status=Status.REVERSED))
        busy = [p for p in postings if p.status == Status.PENDING and p.claimed_until and p.claimed_until > now]
        if busy:
            raise PostingRefused("This match is being posted right now; undo it again in a minute.")
        for posting in postings:
            posting.status = Status.REVERSING
            posting.claimed_until = now + CLAIM_LEASE
            posting.save(update_fields=["status", "claimed_until", "updated_at"])
    for posting in postings:
        posting = AllocationPosting.objects.select_related("connection", "allocation__document").get(pk=posting.pk)
        try:
            if posting.kind == PostingKind.XERO_PAYMENT and (posting.remote_id or posting.attempts):
                _xero_reverse(connector_for(posting.connection), posting)
            elif posting.kind == PostingKind.TIMS_MARK_PAID and (posting.remote_id or posting.attempts):
                _tims_reverse(connector_for(posting.connection), posting)
        except (ConnectorError, PostingRefused) as exc:
            message = getattr(exc, "message", None) or str(exc)
            AllocationPosting.objects.filter(pk=posting.pk).update(
                status=Status.REVERSAL_FAILED, claimed_until=None, last_error=message, updated_at=timezone.now())
            raise PostingRefused(
                f"{posting.connection.get_system_display()} refused to reverse the posting: {message}") from exc
        AllocationPosting.objects.filter(pk=posting.pk).update(
            status=Status.REVERSED, claimed_until=None, reversed_at=timezone.now(), updated_at=timezone.now())
        if posting.kind != PostingKind.NOTHING:
            audit_event_record(
                action="match.reversed", source=AuditSource.UI, object_system=posting.connection.system,
                object_type="match", object_id=match.pk, object_ref=document_label(match.payment),
                data={"system": posting.connection.get_system_display(), "key": posting.idempotency_key,
                      "remote_id": posting.remote_id},
            )
