"""The general ledger: balanced entries in the base currency, and reversals.

Sub-ledgers post here (sales, cash receipts, purchases, inventory); an entry is immutable once
posted, and a reversal is a new entry that swaps debits and credits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils import timezone

from sandbox.models import TimsGlAccount, TimsGlEntry, TimsGlEntryLine, TimsSite
from sandbox.tims import webhooks
from sandbox.tims.numbers import ZERO, round_money
from sandbox.tims.problems import ApiProblem
from sandbox.tims.records import next_number, stamp_new, touch
from sandbox.tims.serializers import gl_entry_json

# The accounts each sub-ledger posts to (codes of the seeded chart).
AR_CONTROL = "1100"
BANK = "1200"
INVENTORY = "1300"
AP_CONTROL = "2100"
GRNI = "2150"
VAT_OUTPUT = "2200"
VAT_INPUT = "2210"
COST_OF_SALES = "5000"
SHRINKAGE = "5400"


@dataclass
class Posting:
    account_code: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    memo: str | None = None
    tax_code: str | None = None
    dimensions: list = field(default_factory=list)


def site_rate(site: TimsSite, currency: str) -> Decimal:
    """The site's rate for a currency (document units per base unit); 1 for the base currency."""
    return Decimal(1) if currency == site.base_currency else Decimal(site.exchange_rates.get(currency, "1"))


def to_base(amount: Decimal, rate: Decimal, site: TimsSite) -> Decimal:
    """A document amount in the base currency (rate = document units per base unit)."""
    return round_money(Decimal(amount) / Decimal(rate or 1), site.base_currency)


def post_entry(
    *,
    site: TimsSite,
    postings: list[Posting],
    source: str,
    entry_date: date,
    memo: str | None,
    actor: dict,
    source_document: dict | None = None,
    reverses: TimsGlEntry | None = None,
) -> TimsGlEntry | None:
    """Post a balanced entry (amounts rounded to the base currency); None when every line is zero."""
    cur = site.base_currency
    lines = []
    for p in postings:
        debit, credit = round_money(p.debit, cur), round_money(p.credit, cur)
        net = debit - credit
        if net == 0:
            continue
        lines.append(Posting(p.account_code, max(net, ZERO), max(-net, ZERO), p.memo, p.tax_code, list(p.dimensions)))
    if not lines:
        return None
    total_debit = sum((p.debit for p in lines), ZERO)
    total_credit = sum((p.credit for p in lines), ZERO)
    if total_debit != total_credit:
        raise ApiProblem(500, "internal-error", f"Unbalanced journal ({total_debit} ≠ {total_credit}).")
    if len(lines) < 2:
        raise ApiProblem(500, "internal-error", "A journal needs at least two lines.")
    now = timezone.now()
    entry = TimsGlEntry(
        site=site,
        entry_number=next_number(site, "journal"),
        entry_date=entry_date,
        period=f"{entry_date:%Y-%m}",
        source=source,
        source_document=source_document,
        memo=memo,
        currency=cur,
        total_debit=total_debit,
        total_credit=total_credit,
        posted_at=now,
        reverses=reverses,
    )
    stamp_new(entry, actor, now)
    entry.save()
    accounts = {a.code: a for a in TimsGlAccount.objects.filter(site=site, code__in=[p.account_code for p in lines])}
    TimsGlEntryLine.objects.bulk_create(
        [
            TimsGlEntryLine(
                entry=entry,
                line_number=number,
                account=accounts.get(p.account_code),
                account_code=p.account_code,
                account_name=accounts[p.account_code].name if p.account_code in accounts else "",
                debit=p.debit,
                credit=p.credit,
                memo=p.memo,
                tax_code=p.tax_code,
                dimensions=p.dimensions,
            )
            for number, p in enumerate(lines, start=1)
        ]
    )
    _emit_posted(entry, actor)
    return entry


def _emit_posted(entry: TimsGlEntry, actor: dict) -> None:
    webhooks.emit(site=entry.site, event_type="gl.entry.posted", data={"gl_entry": gl_entry_json(entry)}, actor=actor)


def reverse_entry(entry: TimsGlEntry, *, actor: dict, entry_date: date | None = None, memo: str | None = None) -> TimsGlEntry:
    """A new entry with debits and credits swapped; the original becomes ``reversed``."""
    if entry.status == "reversed":
        raise ApiProblem(409, "invalid-state", f"{entry.entry_number} is already reversed.", current_status=entry.status)
    postings = [
        Posting(line.account_code, line.credit, line.debit, line.memo, line.tax_code, list(line.dimensions or []))
        for line in entry.lines.all()
    ]
    reversal = post_entry(
        site=entry.site,
        postings=postings,
        source=entry.source,
        entry_date=entry_date or timezone.localdate(),
        memo=memo or f"Reversal of {entry.entry_number}",
        actor=actor,
        source_document=entry.source_document,
        reverses=entry,
    )
    entry.status = "reversed"
    entry.reversed_by = reversal
    touch(entry, actor)
    entry.save()
    return reversal


def entries_for(site: TimsSite, document_id: str):
    return TimsGlEntry.objects.filter(site=site, source_document__id=document_id, status="posted", reverses__isnull=True)
