"""Evaluating the matcher on CSV files with ground truth (``manage.py reconcile_eval``).

Inputs (header row, comma-separated, UTF-8):

- invoices: ``id, contact, currency, amount, issue_date, due_date, number`` and optionally
  ``contact_id`` (the contact's key; without it contacts are compared by name),
  ``open_amount``, ``direction`` (receivable/payable), ``base_currency`` and ``base_amount``
  (a foreign-currency invoice's value in the organisation's currency);
- payments: ``id, contact, currency, amount, date, reference`` and optionally ``contact_id``,
  ``kind`` (payment, bank_line, credit_note), ``direction``, ``invoice_ids`` (semicolon-separated
  invoice ids the source links the payment to), ``truth`` and ``scenario``.

**Truth**: ``truth`` holds the semicolon-separated ids of the invoices the payment really pays,
empty when it pays none. A decision is *correct* when its invoice set equals the truth set.
When the column is there, the evaluation reports:

- precision: correct automatic decisions / automatic decisions (an automatic decision for a
  payment with no counterpart is wrong);
- coverage: payments with a counterpart decided automatically / payments with a counterpart;
- top-3: payments with a counterpart, not decided automatically, whose truth is one of the
  (up to three) proposals;
- ties: automatic decisions among payments of scenario ``tie`` (should be none);
- speed: payments per second of the engine (reading and writing files excluded).
"""

from __future__ import annotations

import csv
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from reconciliation.engine.config import MatchConfig
from reconciliation.engine.documents import Band, Decision, Invoice, Payment
from reconciliation.engine.reconciler import Reconciler


class InputError(ValueError):
    """A CSV the evaluation cannot read; the message names the file, line and column."""


@dataclass
class Dataset:
    invoices: list[Invoice]
    payments: list[Payment]
    truth: dict[str, tuple[str, ...]] | None = None
    scenario: dict[str, str] = field(default_factory=dict)


@dataclass
class Metrics:
    payments: int = 0
    matchable: int = 0
    auto: int = 0
    auto_correct: int = 0
    auto_on_matchable: int = 0
    suggested: int = 0
    none: int = 0
    top3_pool: int = 0
    top3_hits: int = 0
    tie_cases: int = 0
    tie_autos: int = 0
    seconds: float = 0.0
    by_scenario: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    @property
    def precision(self) -> float:
        return self.auto_correct / self.auto if self.auto else 1.0

    @property
    def coverage(self) -> float:
        return self.auto_on_matchable / self.matchable if self.matchable else 0.0

    @property
    def top3(self) -> float:
        return self.top3_hits / self.top3_pool if self.top3_pool else 1.0

    @property
    def per_second(self) -> float:
        return self.payments / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        out = [
            f"payments            {self.payments} ({self.matchable} with a counterpart)",
            f"automatic           {self.auto}, suggested {self.suggested}, none {self.none}",
            f"precision (auto)    {self.precision:.2%} ({self.auto_correct}/{self.auto})",
            f"coverage (auto)     {self.coverage:.2%} ({self.auto_on_matchable}/{self.matchable})",
            f"truth in top 3      {self.top3:.2%} ({self.top3_hits}/{self.top3_pool} not automatic)",
            f"automatic on ties   {self.tie_autos} of {self.tie_cases} tie cases",
            f"speed               {self.seconds:.2f} s, {self.per_second:,.0f} payments/s",
        ]
        if self.by_scenario:
            out.append("by scenario         cases  auto  wrong-auto  top3-miss")
            for name in sorted(self.by_scenario):
                c = self.by_scenario[name]
                out.append(f"  {name:<18}{c['cases']:>6}{c['auto']:>6}{c['wrong']:>12}{c['miss']:>11}")
        return out


def _decimal(value: str, where: str) -> Decimal:
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        raise InputError(f"{where}: {value!r} is not an amount") from None


def _date(value: str, where: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _rows(path: Path, required: Iterable[str]) -> Iterable[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            yield line, row


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(";") if part.strip())


def read_dataset(invoices_path: Path, payments_path: Path) -> Dataset:
    invoices = []
    for line, row in _rows(invoices_path, ["id", "contact", "currency", "amount", "issue_date", "due_date", "number"]):
        where = f"{invoices_path}:{line}"
        invoices.append(Invoice(
            id=row["id"], number=row["number"], currency=row["currency"].strip().upper(),
            amount=_decimal(row["amount"], where), issue_date=_date(row["issue_date"], where),
            due_date=_date(row["due_date"], where) if row["due_date"].strip() else None,
            contact_id=(row.get("contact_id") or "").strip(), contact_name=row["contact"],
            open_amount=_decimal(row["open_amount"], where) if (row.get("open_amount") or "").strip() else None,
            direction=(row.get("direction") or "receivable").strip() or "receivable",
            base_currency=(row.get("base_currency") or "").strip().upper(),
            base_amount=_decimal(row["base_amount"], where) if (row.get("base_amount") or "").strip() else None,
        ))
    payments, truth, scenario, has_truth = [], {}, {}, False
    for line, row in _rows(payments_path, ["id", "contact", "currency", "amount", "date", "reference"]):
        where = f"{payments_path}:{line}"
        payments.append(Payment(
            id=row["id"], currency=row["currency"].strip().upper(), amount=_decimal(row["amount"], where),
            date=_date(row["date"], where), reference=row["reference"], contact_id=(row.get("contact_id") or "").strip(),
            contact_name=row["contact"], direction=(row.get("direction") or "receivable").strip() or "receivable",
            kind=(row.get("kind") or "payment").strip() or "payment", invoice_ids=_ids(row.get("invoice_ids")),
        ))
        if "truth" in row:
            has_truth = True
            truth[row["id"]] = _ids(row["truth"])
        if row.get("scenario"):
            scenario[row["id"]] = row["scenario"]
    return Dataset(invoices, payments, truth if has_truth else None, scenario)


def evaluate(data: Dataset, config: MatchConfig | None = None) -> tuple[list[Decision], Metrics]:
    started = time.perf_counter()
    decisions = Reconciler(data.invoices, config).run(data.payments)
    metrics = Metrics(seconds=time.perf_counter() - started)
    count_bands(decisions, metrics)
    if data.truth is not None:
        score(decisions, data, metrics)
    return decisions, metrics


def count_bands(decisions: list[Decision], metrics: Metrics) -> None:
    metrics.payments += len(decisions)
    for decision in decisions:
        metrics.auto += decision.band is Band.AUTO
        metrics.suggested += decision.band is Band.SUGGESTED
        metrics.none += decision.band is Band.NONE


def score(decisions: list[Decision], data: Dataset, metrics: Metrics) -> None:
    assert data.truth is not None
    for decision in decisions:
        expected = frozenset(data.truth.get(decision.payment_id, ()))
        scenario = data.scenario.get(decision.payment_id, "")
        counts = metrics.by_scenario[scenario] if scenario else Counter()
        counts["cases"] += 1
        proposed = [frozenset(p.invoice_ids) for p in decision.proposals]
        if expected:
            metrics.matchable += 1
        if decision.band is Band.AUTO:
            counts["auto"] += 1
            correct = bool(expected) and proposed[0] == expected
            metrics.auto_correct += correct
            counts["wrong"] += not correct
            metrics.auto_on_matchable += bool(expected)
        elif expected:
            metrics.top3_pool += 1
            hit = expected in proposed[:3]
            metrics.top3_hits += hit
            counts["miss"] += not hit
        if scenario == "tie":
            metrics.tie_cases += 1
            metrics.tie_autos += decision.band is Band.AUTO


OUTPUT_COLUMNS = ["payment_id", "invoice_id", "allocated", "payment_allocated", "band", "rank", "score", "settlement", "reasons"]


def write_decisions(decisions: list[Decision], path: Path) -> None:
    """One row per (decision, proposal, invoice); a payment with no proposal gets one row with
    an empty invoice."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(OUTPUT_COLUMNS)
        for decision in decisions:
            if not decision.proposals:
                writer.writerow([decision.payment_id, "", "", "", decision.band.value, "", "", "", ""])
            for rank, proposal in enumerate(decision.proposals, start=1):
                reasons = "; ".join(f"{r.feature}: {r.detail} ({r.weight:+.1f})" for r in proposal.reasons)
                for allocation in proposal.allocations:
                    writer.writerow([
                        decision.payment_id, allocation.invoice_id, allocation.amount, allocation.payment_amount,
                        decision.band.value, rank, f"{proposal.score:.4f}", proposal.settlement.value, reasons,
                    ])
