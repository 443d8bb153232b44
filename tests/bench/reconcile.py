"""Matching benchmark: quality and speed of the reconciliation matcher on the generator's
default mix, printed beside the goals (it asserts nothing).

    python -m tests.bench.reconcile [--payments 100000] [--seed 11] [--incremental 300] [--service 3000]

1. Full run: about ``--payments`` payments against the invoices the generator draws for them
   (about 1.4 invoices per payment, so 100,000 payments meet about 141,000 invoices): precision
   and coverage of automatic matches, truth in the top three of the others, automatic
   decisions on ties, wall and CPU time, peak RSS of this process (generation included).
2. Incremental: ``--incremental`` payments held out of the full run are then added one at a
   time; p50/p95/max of the time each takes.
3. Service (``--service`` N invoices, 0 to skip): the same through the database, as
   ``match_payments`` runs it — a full run writing the matches, then new payments one at a
   time. A throwaway database: PostgreSQL when DATABASE_URL is set, else SQLite.

Goals: precision >= 99.5% at coverage >= 85%; truth in the top 3 >= 97%; no automatic match on
ties; 100,000 x 100,000 in <= 60 s and <= 4 GB; one new payment p95 <= 200 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from tests.bench.harness import peak_rss_mb, report

GOAL_PRECISION = 0.995
GOAL_COVERAGE = 0.85
GOAL_TOP3 = 0.97
GOAL_SECONDS = 60
GOAL_RSS_MB = 4096
GOAL_P95_MS = 200
INVOICES_PER_PAYMENT = 1.41  # of the default mix, unpaid backlog included


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def full_and_incremental(payments: int, seed: int, held_out: int) -> None:
    from reconciliation.engine import Reconciler
    from reconciliation.engine.evaluation import Dataset, Metrics, count_bands, score
    from reconciliation.generator import generate

    started = time.perf_counter()
    data = generate(int(payments * INVOICES_PER_PAYMENT), seed=seed)
    generated = time.perf_counter() - started
    rng = random.Random(seed)
    late = set(rng.sample(range(len(data.payments)), min(held_out, len(data.payments) // 10)))
    first = [p for k, p in enumerate(data.payments) if k not in late]
    later = [p for k, p in enumerate(data.payments) if k in late]

    wall, cpu = time.perf_counter(), time.process_time()
    reconciler = Reconciler(data.invoices)
    decisions = reconciler.run(data.payments)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    metrics = Metrics(seconds=wall)
    count_bands(decisions, metrics)
    score(decisions, Dataset(data.invoices, data.payments, data.truth, data.scenario), metrics)
    rss = peak_rss_mb()
    report(f"Full run: {len(data.payments):,} payments x {len(data.invoices):,} invoices (seed {seed}; generated in {generated:.1f} s)", [
        ("auto-match precision", f"{metrics.precision:.3%} ({metrics.auto_correct:,}/{metrics.auto:,})   goal >= {GOAL_PRECISION:.1%}"),
        ("auto-match coverage", f"{metrics.coverage:.2%} ({metrics.auto_on_matchable:,}/{metrics.matchable:,})   goal >= {GOAL_COVERAGE:.0%}"),
        ("truth in top 3 (not auto)", f"{metrics.top3:.2%} ({metrics.top3_hits:,}/{metrics.top3_pool:,})   goal >= {GOAL_TOP3:.0%}"),
        ("automatic on ties", f"{metrics.tie_autos} of {metrics.tie_cases:,} tie cases   goal 0"),
        ("wall time", f"{wall:.1f} s (CPU {cpu:.1f} s)   goal <= {GOAL_SECONDS} s"),
        ("peak RSS (process)", f"{rss:,.0f} MB   goal <= {GOAL_RSS_MB:,} MB"),
    ])
    print("\n  by scenario          cases   auto  wrong-auto  top3-miss")
    for name in sorted(metrics.by_scenario):
        c = metrics.by_scenario[name]
        print(f"    {name:<18}{c['cases']:>8}{c['auto']:>7}{c['wrong']:>12}{c['miss']:>11}")

    # Incremental: the held-out payments arrive one at a time after a full run of the rest.
    reconciler = Reconciler(data.invoices)
    reconciler.run(first)
    timings = []
    for payment in later:
        started = time.perf_counter()
        reconciler.add(payment)
        timings.append((time.perf_counter() - started) * 1000)
    if timings:
        report(f"Incremental: {len(timings)} new payments, one at a time, after {len(first):,}", [
            ("p50", f"{statistics.median(timings):.1f} ms"),
            ("p95", f"{_percentile(timings, 0.95):.1f} ms   goal <= {GOAL_P95_MS} ms"),
            ("max", f"{max(timings):.1f} ms"),
        ])


def service(invoices: int, seed: int, held_out: int) -> None:
    from tests.bench.harness import setup_django

    database = setup_django()
    from integrations.models import AuthKind, Connection, System
    from reconciliation.generator import generate
    from reconciliation.models import Direction, LedgerDocument, Match, MatchStatus
    from reconciliation.services.matching import match_payments

    data = generate(invoices, seed=seed)
    connection = Connection.objects.create(name=f"Bench {seed}", system=System.XERO, auth_kind=AuthKind.OAUTH2_AUTHORIZATION_CODE)
    rows = [
        LedgerDocument(
            connection=connection, kind="invoice", direction=Direction.RECEIVABLE, external_id=i.id, number=i.number,
            contact_name=i.contact_name, contact_key=i.contact_id, currency=i.currency, amount=i.amount, amount_due=i.amount,
            issue_date=i.issue_date, due_date=i.due_date,
            raw={"base_currency": i.base_currency, "base_amount": str(i.base_amount)} if i.base_amount is not None else {},
        )
        for i in data.invoices
    ]
    LedgerDocument.objects.bulk_create(rows, batch_size=2000)
    pk = dict(LedgerDocument.objects.filter(connection=connection).values_list("external_id", "pk"))

    def payment_row(p) -> LedgerDocument:
        kind = {"bank_line": "bank_line", "credit_note": "credit_note"}.get(p.kind, "payment")
        return LedgerDocument(
            connection=connection, kind=kind, direction=Direction.RECEIVABLE, external_id=p.id, reference=p.reference,
            contact_name=p.contact_name, contact_key=p.contact_id, currency=p.currency, amount=p.amount,
            issue_date=p.date, raw={"invoice_ids": [str(pk[i]) for i in p.invoice_ids]} if p.invoice_ids else {},
        )

    later = data.payments[-held_out:]
    LedgerDocument.objects.bulk_create([payment_row(p) for p in data.payments[:-held_out]], batch_size=2000)
    started = time.perf_counter()
    summary = match_payments(connection=connection, full=True)
    full = time.perf_counter() - started
    timings = []
    for p in later:
        document = payment_row(p)
        document.save()
        started = time.perf_counter()
        match_payments(payments=[document])
        timings.append((time.perf_counter() - started) * 1000)
    report(f"Service on {database}: {len(data.invoices):,} invoices, {len(data.payments):,} payments", [
        ("full run, matches written", f"{full:.1f} s ({summary})"),
        ("confirmed automatically", f"{Match.objects.filter(status=MatchStatus.CONFIRMED).count():,}"),
        ("new payment p50 / p95", f"{statistics.median(timings):.0f} ms / {_percentile(timings, 0.95):.0f} ms (database reads and writes included)"),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--incremental", type=int, default=300, help="payments added one at a time after the full run")
    parser.add_argument("--service", type=int, default=3000, help="invoices for the database run (0: skip it)")
    args = parser.parse_args()
    full_and_incremental(args.payments, args.seed, args.incremental)
    if args.service:
        service(args.service, args.seed, min(50, args.incremental))


if __name__ == "__main__":
    main()
