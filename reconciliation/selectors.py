"""Reads of the reconciliation screen: unmatched payments with their ranked suggestions, the
open documents a payment can be split across, and what was matched lately."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count, DecimalField, Exists, Max, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value, prefetch_related_objects,
)
from django.db.models.functions import Coalesce

from reconciliation.models import (
    PAYABLE_KINDS,
    PAYING_KINDS,
    AllocationPosting,
    LedgerDocument,
    Match,
    MatchAllocation,
    MatchStatus,
    PostingStatus,
)

# Statuses in which a document is gone or settled in its system: never offered.
CLOSED_STATUSES = ("DELETED", "VOIDED", "void", "DRAFT", "PAID", "paid")
PAGE_SIZE = 20
ZERO = Value(Decimal("0"), output_field=DecimalField(max_digits=19, decimal_places=4))


@dataclass
class ScreenFilters:
    connection: int | None = None
    kind: str = ""
    search: str = ""
    min_score: Decimal | None = None


@dataclass
class SplitOption:
    document: LedgerDocument
    open_amount: Decimal
    suggested_amount: Decimal | None = None
    score: Decimal | None = None


@dataclass
class PaymentRow:
    payment: LedgerDocument
    suggestions: list[Match] = field(default_factory=list)
    split_options: list[SplitOption] = field(default_factory=list)


def document_label(document: LedgerDocument) -> str:
    """A document as people name it: kind, number or reference, and amount to the penny."""
    name = document.number or document.reference or document.external_id
    return f"{document.get_kind_display()} {name} of {document.currency} {document.amount:,.2f}"


def _allocated_to(document_field: str = "pk") -> Subquery:
    return Subquery(
        MatchAllocation.objects.filter(document=OuterRef(document_field), active=True)
        .values("document").annotate(total=Sum("amount")).values("total")[:1]
    )


def payments_unmatched(*, filters: ScreenFilters) -> QuerySet[LedgerDocument]:
    """Payments, bank lines and credit notes without a confirmed match, best suggestion first."""
    confirmed = Match.objects.filter(payment=OuterRef("pk"), status=MatchStatus.CONFIRMED)
    queryset = (
        LedgerDocument.objects.filter(kind__in=PAYING_KINDS)
        .exclude(status__in=CLOSED_STATUSES[:3])
        .exclude(Exists(confirmed))
        .annotate(top_score=Max("matches__score", filter=Q(matches__status=MatchStatus.SUGGESTED)))
        .select_related("connection")
    )
    if filters.connection:
        queryset = queryset.filter(connection_id=filters.connection)
    if filters.kind:
        queryset = queryset.filter(kind=filters.kind)
    if filters.search:
        term = filters.search
        queryset = queryset.filter(Q(reference__icontains=term) | Q(number__icontains=term)
                                   | Q(contact_name__icontains=term) | Q(matches__allocations__document__number__icontains=term)).distinct()
    if filters.min_score is not None:
        queryset = queryset.filter(top_score__gte=filters.min_score)
    return queryset.order_by(Coalesce("top_score", ZERO).desc(), "-issue_date", "-pk")


def open_documents(*, payment: LedgerDocument, limit: int = 8, ask_matcher: bool = True) -> list[SplitOption]:
    """Invoices or bills a payment may settle: same currency and direction, something left to
    allocate (what the source still calls due, less our own active allocations), the matcher's
    candidates first (when asked: it reads the connection's open documents), then the
    payment's contact's, in any connected system."""
    options: dict[int, SplitOption] = {}
    try:
        from reconciliation.services.matching import candidates_for
    except ImportError:
        candidates_for = None
    if candidates_for is not None and ask_matcher:
        for candidate in candidates_for(payment, limit=limit):
            document = candidate.document
            suggested = next((getattr(candidate, name) for name in ("amount", "allocation_amount", "suggested_amount")
                              if getattr(candidate, name, None) is not None), None)
            options[document.pk] = SplitOption(document=document, open_amount=Decimal("0"), suggested_amount=suggested,
                                               score=getattr(candidate, "score", None))
    queryset = (
        LedgerDocument.objects.filter(kind__in=PAYABLE_KINDS, currency=payment.currency, direction=payment.direction)
        .exclude(status__in=CLOSED_STATUSES)
        .select_related("connection")
    )
    if payment.contact_key and len(options) < limit:
        for document in queryset.filter(contact_key=payment.contact_key).exclude(pk__in=list(options)).order_by(
                "issue_date", "pk")[:limit]:
            options[document.pk] = SplitOption(document=document, open_amount=Decimal("0"))
    allocated = dict(
        LedgerDocument.objects.filter(pk__in=list(options)).annotate(allocated=Coalesce(_allocated_to(), ZERO))
        .values_list("pk", "allocated")
    )
    result = []
    for option in options.values():
        document = option.document
        option.open_amount = document.amount - (allocated.get(document.pk) or Decimal("0"))
        if document.amount_due is not None:
            option.open_amount = min(option.open_amount, document.amount_due)
        if option.open_amount > 0:
            result.append(option)
    return result[:limit]


def screen_rows(*, payments: list[LedgerDocument]) -> list[PaymentRow]:
    """The page's payments with their suggestions (ranked, with documents) and split options."""
    suggestions = Prefetch(
        "matches",
        queryset=Match.objects.filter(status=MatchStatus.SUGGESTED).order_by("rank", "-score").prefetch_related(
            Prefetch("allocations", queryset=MatchAllocation.objects.select_related("document__connection"))),
        to_attr="suggestions",
    )
    prefetch_related_objects(payments, suggestions)
    rows = []
    for payment in payments:
        suggestions = list(payment.suggestions)[:3]
        # The matcher is asked only about payments it has nothing to say on yet (it is not free).
        rows.append(PaymentRow(payment=payment, suggestions=suggestions,
                               split_options=open_documents(payment=payment, ask_matcher=not suggestions)))
    return rows


def matches_recent(*, limit: int = 15) -> list[Match]:
    """Confirmed matches, the unposted and failed ones first: what may still be undone or needs
    a look."""
    failed_first = Q(posting_status__in=[PostingStatus.FAILED, PostingStatus.UNKNOWN_OUTCOME])
    return list(
        Match.objects.filter(status=MatchStatus.CONFIRMED)
        .select_related("payment__connection", "confirmed_by")
        .prefetch_related(Prefetch("allocations", queryset=MatchAllocation.objects.select_related(
            "document__connection", "posting")))
        .annotate(failing=Count("pk", filter=failed_first))
        .order_by("-failing", "-confirmed_at", "-pk")[:limit]
    )


def screen_counts() -> dict[str, Any]:
    confirmed = Match.objects.filter(status=MatchStatus.CONFIRMED)
    unmatched = payments_unmatched(filters=ScreenFilters())
    return {
        "unmatched": unmatched.count(),
        "with_suggestions": unmatched.filter(top_score__isnull=False).count(),
        "confirmed": confirmed.count(),
        "posted": confirmed.filter(posting_status=PostingStatus.POSTED).count(),
        "failing": confirmed.filter(posting_status__in=[PostingStatus.FAILED, PostingStatus.UNKNOWN_OUTCOME]).count(),
    }


def posting_errors(match: Match) -> list[str]:
    return [e for e in AllocationPosting.objects.filter(allocation__match=match).exclude(last_error="")
            .values_list("last_error", flat=True)]
