"""What a person does on the reconciliation screen: confirm, reject, split, undo, bulk-accept.

Each action locks the payment, writes its audit event in the same transaction and keeps a
``MatchLabel`` when it corrects the matcher (a suggestion other than the first confirmed, a
rejection, a split, an undo), so those corrections can tune it. The database triggers refuse
allocations beyond a document's or a payment's amount; that refusal comes back as an
``ActionRefused`` with a sentence for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from integrations.models import AuditSource
from integrations.services.audit import audit_event_record, operation
from reconciliation.models import (
    PAYABLE_KINDS,
    LabelKind,
    LedgerDocument,
    Match,
    MatchAllocation,
    MatchBand,
    MatchLabel,
    MatchStatus,
    PostingStatus,
)
from reconciliation.selectors import document_label
from reconciliation.services.posting import PostingRefused, match_postings_reverse


class ActionRefused(Exception):
    """Why an action cannot be done, in words for the person who asked."""


@dataclass(frozen=True)
class SplitLine:
    document: LedgerDocument
    amount: Decimal


def _lock_payment(payment_id: int) -> LedgerDocument:
    return LedgerDocument.objects.select_for_update().get(pk=payment_id)


def _snapshot(match: Match) -> dict[str, Any]:
    return {
        "match": match.pk, "rank": match.rank, "score": str(match.score), "band": match.band,
        "documents": [{"document": a.document_id, "amount": str(a.amount)} for a in match.allocations.all()],
    }


def _over_allocation_message(payment: LedgerDocument, lines: Sequence[tuple[LedgerDocument, Decimal]]) -> str:
    """Which limit an allocation ran into, from the amounts already allocated."""
    for document, amount in lines:
        taken = document.allocations.filter(active=True).aggregate(total=Sum("amount"))["total"] or Decimal("0")
        if taken + amount > document.amount:
            left = document.amount - taken
            return (f"{document.get_kind_display()} {document.number or document.external_id} has "
                    f"{document.currency} {left:,.2f} left to allocate; {amount:,.2f} is too much.")
    taken = MatchAllocation.objects.filter(match__payment=payment, active=True).aggregate(
        total=Sum("payment_amount"))["total"] or Decimal("0")
    total = sum((amount for _, amount in lines), Decimal("0"))
    return (f"The allocations add up to {payment.currency} {taken + total:,.2f}, more than the "
            f"{payment.get_kind_display().lower()}'s {payment.amount:,.2f}.")


def _activate(match: Match) -> None:
    allocations = list(match.allocations.select_related("document"))
    try:
        with transaction.atomic():
            MatchAllocation.objects.filter(match=match).update(active=True)
    except IntegrityError:
        raise ActionRefused(_over_allocation_message(
            match.payment, [(a.document, a.amount) for a in allocations])) from None


def _audit(action: str, match: Match, user: Any, **data: Any) -> None:
    audit_event_record(
        action=action, source=AuditSource.UI, actor=user, object_system=match.payment.connection.system,
        object_type="match", object_id=match.pk, object_ref=document_label(match.payment),
        data={"match": match.pk, "payment": match.payment_id, **data},
    )


def _enqueue_posting(match: Match) -> None:
    """Post after the commit, off the request: a task, retried by the sweep if it is lost."""
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(
        "reconciliation.tasks.match_post_task", match.pk, task_name=f"match-post-{match.pk}"))


def match_confirm(*, match: Match, user: Any, post: bool = True) -> Match:
    """Confirm a suggested match: its allocations become active (and count against the
    documents' amounts), it is queued for posting. A suggestion other than the first is kept as
    a label."""
    with operation(), transaction.atomic():
        payment = _lock_payment(match.payment_id)
        match = Match.objects.select_for_update().get(pk=match.pk)
        if match.status != MatchStatus.SUGGESTED:
            raise ActionRefused(f"This match is {match.get_status_display().lower()} already.")
        if Match.objects.filter(payment=payment, status=MatchStatus.CONFIRMED).exists():
            raise ActionRefused("This payment is matched already: undo that match first.")
        if not match.allocations.exists():
            raise ActionRefused("This suggestion names no document to allocate the payment to.")
        _activate(match)
        match.status = MatchStatus.CONFIRMED
        match.confirmed_by = user
        match.confirmed_at = timezone.now()
        match.save(update_fields=["status", "confirmed_by", "confirmed_at", "updated_at"])
        top = Match.objects.filter(payment=payment, status=MatchStatus.SUGGESTED).order_by("rank").first()
        if match.rank > 1 or (top is not None and top.rank < match.rank):
            MatchLabel.objects.create(kind=LabelKind.CONFIRMED_OTHER, payment=payment, match=match, created_by=user,
                                      documents=_snapshot(match)["documents"],
                                      suggested=_snapshot(top) if top else {})
        _audit("match.confirmed", match, user, rank=match.rank, score=str(match.score))
        if post:
            _enqueue_posting(match)
    return match


def match_reject(*, match: Match, user: Any) -> Match:
    """Reject a suggestion; the matcher never proposes a rejected match again."""
    with operation(), transaction.atomic():
        _lock_payment(match.payment_id)
        match = Match.objects.select_for_update().get(pk=match.pk)
        if match.status != MatchStatus.SUGGESTED:
            raise ActionRefused(f"Only a suggestion can be rejected; this match is {match.get_status_display().lower()}.")
        match.status = MatchStatus.REJECTED
        match.save(update_fields=["status", "updated_at"])
        MatchLabel.objects.create(kind=LabelKind.REJECTED, payment=match.payment, match=match, created_by=user,
                                  suggested=_snapshot(match))
        _audit("match.rejected", match, user, rank=match.rank, score=str(match.score))
    return match


def parse_split(*, payment: LedgerDocument, amounts: dict[int, str]) -> list[SplitLine]:
    """Validate a split as typed: positive amounts with at most 2 decimals, open documents of the
    same currency and direction, adding up to no more than the payment."""
    lines: list[SplitLine] = []
    documents = LedgerDocument.objects.in_bulk(list(amounts))
    for document_id, text in amounts.items():
        text = (text or "").replace(",", "").strip()
        if not text:
            continue
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ActionRefused(f"{text!r} is not an amount.") from None
        if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
            raise ActionRefused(f"{text} is not a positive amount in pounds and pence (two decimals at most).")
        document = documents.get(document_id)
        if document is None or document.kind not in PAYABLE_KINDS:
            raise ActionRefused("A payment can only be split across invoices and bills.")
        if document.currency != payment.currency:
            raise ActionRefused(f"{document.number} is in {document.currency}, the payment in {payment.currency}.")
        lines.append(SplitLine(document=document, amount=amount))
    if not lines:
        raise ActionRefused("Type an amount against at least one invoice.")
    total = sum((line.amount for line in lines), Decimal("0"))
    if total > payment.amount:
        raise ActionRefused(f"The amounts add up to {payment.currency} {total:,.2f}, more than the payment's "
                            f"{payment.amount:,.2f}.")
    return lines


def match_split(*, payment: LedgerDocument, lines: Sequence[SplitLine], user: Any, post: bool = True) -> Match:
    """Allocate a payment across several documents by hand: a confirmed manual match. The
    database refuses what would take a document beyond its amount."""
    with operation(), transaction.atomic():
        payment = _lock_payment(payment.pk)
        if Match.objects.filter(payment=payment, status=MatchStatus.CONFIRMED).exists():
            raise ActionRefused("This payment is matched already: undo that match first.")
        match = Match.objects.create(
            payment=payment, status=MatchStatus.CONFIRMED, band=MatchBand.MANUAL, rank=1, score=Decimal("1"),
            reasons=[{"feature": "manual", "detail": f"Split by {user.get_username()}", "weight": 1}],
            confirmed_by=user, confirmed_at=timezone.now(),
        )
        try:
            with transaction.atomic():
                for line in lines:
                    MatchAllocation.objects.create(match=match, document=line.document, amount=line.amount,
                                                   payment_amount=line.amount, active=True)
        except IntegrityError:
            raise ActionRefused(_over_allocation_message(payment, [(l.document, l.amount) for l in lines])) from None
        top = Match.objects.filter(payment=payment, status=MatchStatus.SUGGESTED).order_by("rank").first()
        MatchLabel.objects.create(
            kind=LabelKind.SPLIT, payment=payment, match=match, created_by=user,
            documents=[{"document": l.document.pk, "amount": str(l.amount)} for l in lines],
            suggested=_snapshot(top) if top else {},
        )
        _audit("match.split", match, user, count=len(lines),
               documents=[{"number": l.document.number, "amount": str(l.amount)} for l in lines])
        if post:
            _enqueue_posting(match)
    return match


def match_undo(*, match: Match, user: Any) -> Match:
    """Undo a confirmed match: what it posted is reversed first (the Xero payment deleted, the
    TIMS invoice reopened), then its allocations stop counting and its suggestions come back."""
    with operation():
        match = Match.objects.get(pk=match.pk)
        if match.status != MatchStatus.CONFIRMED:
            raise ActionRefused(f"Only a confirmed match can be undone; this one is {match.get_status_display().lower()}.")
        if match.posting_status != PostingStatus.NOT_POSTED or match.allocations.filter(posting__isnull=False).exists():
            try:
                match_postings_reverse(match=match)
            except PostingRefused as exc:
                raise ActionRefused(str(exc)) from None
        with transaction.atomic():
            _lock_payment(match.payment_id)
            match = Match.objects.select_for_update().get(pk=match.pk)
            if match.status != MatchStatus.CONFIRMED:
                raise ActionRefused("Someone else changed this match meanwhile.")
            MatchAllocation.objects.filter(match=match).update(active=False)
            match.status = MatchStatus.UNDONE
            match.posting_status = PostingStatus.NOT_POSTED
            match.save(update_fields=["status", "posting_status", "updated_at"])
            MatchLabel.objects.create(kind=LabelKind.UNDONE, payment=match.payment, match=match, created_by=user,
                                      suggested=_snapshot(match))
            _audit("match.undone", match, user)
    return match


def matches_bulk_accept(*, min_score: Decimal, user: Any, payment_ids: Sequence[int] | None = None) -> tuple[int, list[str]]:
    """Confirm the first suggestion of every unmatched payment scoring at least ``min_score``
    (one operation, one correlation id). Returns how many were confirmed, and why others were not."""
    if not Decimal("0") <= min_score <= Decimal("1"):
        raise ActionRefused("The confidence must be between 0 and 100%.")
    candidates = Match.objects.filter(status=MatchStatus.SUGGESTED, rank=1, score__gte=min_score).exclude(
        payment__matches__status=MatchStatus.CONFIRMED).select_related("payment")
    if payment_ids is not None:
        candidates = candidates.filter(payment_id__in=payment_ids)
    confirmed, problems = 0, []
    with operation():
        for match in candidates.order_by("-score", "pk"):
            try:
                match_confirm(match=match, user=user)
            except ActionRefused as exc:
                problems.append(f"{match.payment}: {exc}")
            else:
                confirmed += 1
    return confirmed, problems
