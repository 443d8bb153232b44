"""The demo's seed and activity generator: deterministic per seed, consistent books."""

from __future__ import annotations

from decimal import Decimal

from django.core.management import call_command
from django.db.models import Sum

from sandbox.models import TimsApiClient, TimsGlEntry, TimsGlEntryLine, TimsSalesOrder, TimsSite
from sandbox.tims.services import tims_activity_run, tims_demo_seed, tims_site_create


def fingerprint(site: TimsSite) -> list:
    """What happened, without ids and clock times (those differ between runs by design)."""
    orders = [
        (o.order_number, o.customer.customer_code, o.status, str(o.total), [(l.sku, str(l.quantity)) for l in o.lines.all()])
        for o in TimsSalesOrder.objects.filter(site=site).order_by("order_number")
    ]
    entries = [(e.entry_number, e.source, e.status, str(e.total_debit)) for e in TimsGlEntry.objects.filter(site=site).order_by("entry_number")]
    return [orders, entries]


def run(code: str, seed: int, ticks: int = 8):
    site = tims_site_create(code=code, name=code)
    tims_demo_seed(site=site, seed=1)
    history = tims_activity_run(site=site, seed=seed, ticks=ticks)
    return site, history


def test_same_seed_same_activity(db):
    first, first_history = run("one", seed=7)
    second, second_history = run("two", seed=7)
    assert first_history == second_history and any(first_history)
    assert fingerprint(first) == fingerprint(second)
    third, third_history = run("three", seed=8)
    assert third_history != first_history


def test_activity_covers_the_lifecycle_and_keeps_the_books_balanced(db):
    site, history = run("busy", seed=4, ticks=30)
    happened = " ".join(" ".join(tick) for tick in history)
    for word in ("new order", "allocated", "shipped", "completed", "payment", "journal"):
        assert word in happened, word
    reached = {h["status"] for o in TimsSalesOrder.objects.filter(site=site) for h in o.status_history}
    assert reached == {"open", "allocated", "shipped", "completed", "cancelled"}
    for entry in TimsGlEntry.objects.filter(site=site):
        lines = entry.lines.aggregate(d=Sum("debit"), c=Sum("credit"))
        assert lines["d"] == lines["c"] == entry.total_debit == entry.total_credit
    totals = TimsGlEntryLine.objects.filter(entry__site=site).aggregate(d=Sum("debit"), c=Sum("credit"))
    assert totals["d"] == totals["c"] > Decimal(0)


def test_commands(db, capsys):
    call_command("sandbox_tims_seed", "--site", "cmd", "--seed", "3")
    printed = capsys.readouterr().out
    client = TimsApiClient.objects.get(site__code="cmd")
    assert client.client_id in printed and client.client_secret in printed and "/tims/cmd" in printed
    call_command("sandbox_tims_activity", "--site", "cmd", "--seed", "5", "--ticks", "3", "--interval", "0", "--deliver-webhooks")
    assert capsys.readouterr().out.count("tick ") == 3
    call_command("sandbox_tims_deliver_webhooks")
    assert "Delivered" in capsys.readouterr().out


def test_a_refused_step_does_not_stop_the_activity(db):
    from datetime import date

    from sandbox.tims.services import tims_site_close_period

    site = tims_site_create(code="closed", name="Closed books")
    tims_demo_seed(site=site, seed=1)
    tims_site_close_period(site=site, through=date(2999, 12, 31))  # every payment is refused
    history = tims_activity_run(site=site, seed=9, ticks=15)
    steps = [step for tick in history for step in tick]
    assert any(step.startswith("refused: ") for step in steps)
    assert any(step.startswith("new order") for step in steps)
