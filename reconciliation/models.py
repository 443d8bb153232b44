"""Ledger documents pulled from the connected systems, and our own match ledger.

Xero cannot reconcile through its API, so matches live here and are posted as payments.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Length, Upper
from django.db.models.lookups import Exact

MONEY = {"max_digits": 19, "decimal_places": 4}


class DocumentKind(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    BILL = "bill", "Bill"
    CREDIT_NOTE = "credit_note", "Credit note"
    PAYMENT = "payment", "Payment"
    BANK_LINE = "bank_line", "Bank line"


PAYING_KINDS = (DocumentKind.PAYMENT, DocumentKind.BANK_LINE, DocumentKind.CREDIT_NOTE)
PAYABLE_KINDS = (DocumentKind.INVOICE, DocumentKind.BILL)


class Direction(models.TextChoices):
    RECEIVABLE = "receivable", "Receivable (money in)"
    PAYABLE = "payable", "Payable (money out)"


class LedgerDocument(models.Model):
    """An invoice, bill, credit note, payment or bank line as the source system holds it.

    ``amount`` is the document's total, never negative; the kind and direction give the sign.
    """

    connection = models.ForeignKey("integrations.Connection", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    direction = models.CharField(max_length=20, choices=Direction.choices)
    external_id = models.CharField(max_length=100)
    number = models.CharField(max_length=100, blank=True, help_text="Invoice number, as printed.")
    reference = models.CharField(max_length=255, blank=True, help_text="Payment or bank reference.")
    contact_name = models.CharField(max_length=255, blank=True)
    contact_key = models.CharField(
        max_length=100, blank=True, help_text="The contact, resolved across systems through the record links."
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0"))])
    amount_due = models.DecimalField(**MONEY, null=True, blank=True)
    issue_date = models.DateField()
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=30, blank=True, help_text="The status in the source system.")
    record_link = models.ForeignKey(
        "integrations.RecordLink", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    raw = models.JSONField(default=dict, blank=True)
    fetched_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "kind", "external_id"], name="one_document_per_remote_id"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="document_amount_not_negative"),
            models.CheckConstraint(
                condition=models.Q(Exact(Length("currency"), 3), currency=Upper("currency")),
                name="document_currency_iso_code",
            ),
        ]
        indexes = [
            models.Index(fields=["connection", "currency", "kind", "issue_date"]),
            models.Index(fields=["currency", "direction", "amount"]),
            models.Index(fields=["number"]),
            models.Index(fields=["contact_key", "currency"]),
        ]

    def __str__(self) -> str:
        label = self.number or self.reference or self.external_id
        return f"{self.get_kind_display()} {label} ({self.currency} {self.amount})"


class MatchStatus(models.TextChoices):
    SUGGESTED = "suggested", "Suggested"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"
    UNDONE = "undone", "Undone"


class MatchBand(models.TextChoices):
    AUTO = "auto", "Automatic"
    SUGGESTED = "suggested", "Suggested"
    MANUAL = "manual", "Made by a person"


class PostingStatus(models.TextChoices):
    NOT_POSTED = "not_posted", "Not posted"
    PENDING = "pending", "Posting"
    POSTED = "posted", "Posted"
    UNKNOWN_OUTCOME = "unknown_outcome", "Unknown outcome (to verify)"
    FAILED = "failed", "Failed"


class Match(models.Model):
    """A payment (or bank line, or credit note) matched to one or more documents."""

    payment = models.ForeignKey(LedgerDocument, on_delete=models.PROTECT, related_name="matches")
    status = models.CharField(max_length=20, choices=MatchStatus.choices, default=MatchStatus.SUGGESTED)
    band = models.CharField(max_length=20, choices=MatchBand.choices)
    rank = models.PositiveSmallIntegerField(default=1, help_text="1 = the best suggestion.")
    score = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0"))
    reasons = models.JSONField(default=list, blank=True, help_text="Which features matched, and how well.")
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    posting_status = models.CharField(
        max_length=20, choices=PostingStatus.choices, default=PostingStatus.NOT_POSTED
    )
    posted_at = models.DateTimeField(null=True, blank=True)
    correlation_id = models.UUIDField(default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "matches"
        constraints = [
            models.UniqueConstraint(
                fields=["payment"],
                condition=models.Q(status=MatchStatus.CONFIRMED),
                name="one_confirmed_match_per_payment",
            ),
            models.CheckConstraint(
                condition=models.Q(score__gte=0, score__lte=1), name="match_score_between_0_and_1"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "band", "-score"]),
            models.Index(fields=["payment", "status"]),
            models.Index(fields=["posting_status"]),
        ]

    def __str__(self) -> str:
        return f"Match of {self.payment} ({self.get_status_display()})"


class MatchAllocation(models.Model):
    """The part of a payment applied to one document.

    ``amount`` is in the document's currency, ``payment_amount`` in the payment's (they
    differ only across currencies). Only allocations of confirmed matches are ``active``; the
    database refuses active allocations that add up to more than the document's amount or the
    payment's amount (triggers in migration 0002).
    """

    match = models.ForeignKey(Match, on_delete=models.CASCADE, related_name="allocations")
    document = models.ForeignKey(LedgerDocument, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(**MONEY)
    payment_amount = models.DecimalField(**MONEY)
    active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["match", "id"]
        constraints = [
            models.UniqueConstraint(fields=["match", "document"], name="one_allocation_per_document_per_match"),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0, payment_amount__gt=0), name="allocation_amount_positive"
            ),
        ]
        indexes = [models.Index(fields=["document"], condition=models.Q(active=True), name="allocation_active_idx")]

    def __str__(self) -> str:
        return f"{self.amount} to {self.document}"


# --- The reconciliation screen: corrections kept for tuning, postings, ingest cursors ----------


class LabelKind(models.TextChoices):
    CONFIRMED_OTHER = "confirmed_other", "Confirmed a suggestion other than the first"
    REJECTED = "rejected", "Rejected a suggestion"
    SPLIT = "split", "Split across documents by hand"
    UNDONE = "undone", "Undid a confirmed match"


class MatchLabel(models.Model):
    """A person's correction of the matcher, kept as a labelled example to tune it with.

    ``documents`` holds what the person chose (``[{"document": id, "amount": "12.30"}]``) and
    ``suggested`` what the matcher had proposed at that moment (rank, score, documents), so
    the pair survives later changes to the matches themselves."""

    kind = models.CharField(max_length=20, choices=LabelKind.choices)
    payment = models.ForeignKey(LedgerDocument, on_delete=models.CASCADE, related_name="labels")
    match = models.ForeignKey(Match, null=True, blank=True, on_delete=models.SET_NULL, related_name="labels")
    documents = models.JSONField(default=list, blank=True)
    suggested = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.payment}"


class PostingKind(models.TextChoices):
    XERO_PAYMENT = "xero_payment", "Xero payment against the invoice"
    TIMS_MARK_PAID = "tims_mark_paid", "TIMS AR invoice marked paid"
    NOTHING = "nothing", "Nothing to post: the source system has it"


class AllocationPostingStatus(models.TextChoices):
    PENDING = "pending", "Posting"
    POSTED = "posted", "Posted"
    UNKNOWN_OUTCOME = "unknown_outcome", "Unknown outcome (to verify)"
    FAILED = "failed", "Failed"
    REVERSING = "reversing", "Reversing"
    REVERSED = "reversed", "Reversed"
    REVERSAL_FAILED = "reversal_failed", "Reversal failed"


class AllocationPosting(models.Model):
    """The write one allocation makes in a connected system, exactly once.

    The row is committed (pending) before the call; ``idempotency_key`` is stable per match and
    allocation, sent as the Idempotency-Key and carried in the remote record's reference, so an
    answer lost on the way back is settled by looking the record up, never by a second write."""

    allocation = models.OneToOneField(MatchAllocation, on_delete=models.CASCADE, related_name="posting")
    connection = models.ForeignKey("integrations.Connection", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=PostingKind.choices)
    idempotency_key = models.CharField(max_length=100, unique=True)
    status = models.CharField(
        max_length=20, choices=AllocationPostingStatus.choices, default=AllocationPostingStatus.PENDING
    )
    remote_id = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it until then; after that it is looked up first."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["allocation"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.allocation} ({self.get_status_display()})"


class DocumentCursor(models.Model):
    """How far the pull of one kind of record from one connection has read: the newest
    remote change time committed (re-read with a lookback, so late commits lose nothing)."""

    connection = models.ForeignKey("integrations.Connection", on_delete=models.CASCADE, related_name="+")
    entity = models.CharField(max_length=50)
    high_water = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "entity"], name="one_cursor_per_pulled_entity")]

    def __str__(self) -> str:
        return f"{self.connection} {self.entity} since {self.high_water}"


class ReconciliationScreen(LedgerDocument):
    """The reconciliation screen's entry in the admin index (no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "Reconciliation screen"
        verbose_name_plural = "Reconciliation screen"
