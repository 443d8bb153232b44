"""``reconcile_eval`` end to end on a small generated set: the figures it prints are the ones
its own output and the truth give."""

from __future__ import annotations

import csv
import re
from collections import defaultdict

import pytest
from django.core.management import CommandError, call_command

from reconciliation import generator


def _read(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_eval_prints_precision_coverage_and_top3_computed_from_the_truth(tmp_path, capsys):
    generator.main(["--invoices", "400", "--out-dir", str(tmp_path), "--seed", "9"])
    capsys.readouterr()
    out = tmp_path / "decisions.csv"
    call_command("reconcile_eval", "--invoices", str(tmp_path / "invoices.csv"), "--payments", str(tmp_path / "payments.csv"), "--out", str(out))
    printed = capsys.readouterr().out

    truth = {row["id"]: frozenset(filter(None, row["truth"].split(";"))) for row in _read(tmp_path / "payments.csv")}
    proposals: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    band = {}
    for row in _read(out):
        band[row["payment_id"]] = row["band"]
        if row["invoice_id"]:
            proposals[row["payment_id"]][int(row["rank"])].add(row["invoice_id"])
    assert set(band) == set(truth)
    autos = [p for p, b in band.items() if b == "auto"]
    correct = sum(frozenset(proposals[p][1]) == truth[p] for p in autos)
    matchable = [p for p, t in truth.items() if t]
    covered = sum(band[p] == "auto" for p in matchable)
    rest = [p for p in matchable if band[p] != "auto"]
    in_top3 = sum(truth[p] in [frozenset(proposals[p][r]) for r in (1, 2, 3)] for p in rest)

    assert f"precision (auto)    {correct / len(autos):.2%} ({correct}/{len(autos)})" in printed
    assert f"coverage (auto)     {covered / len(matchable):.2%} ({covered}/{len(matchable)})" in printed
    assert f"truth in top 3      {in_top3 / len(rest):.2%} ({in_top3}/{len(rest)} not automatic)" in printed
    ties = re.search(r"automatic on ties\s+(\d+) of (\d+)", printed)
    assert ties and int(ties.group(2)) > 0
    # The figures are the matcher's, not the truth's: some payments are left to people.
    assert 0 < len(autos) < len(truth) and len(rest) > 0


def test_eval_without_truth_prints_no_precision(tmp_path, capsys):
    (tmp_path / "i.csv").write_text("id,contact,currency,amount,issue_date,due_date,number\nI1,Acme Ltd,GBP,10.00,2026-01-01,2026-01-31,INV-1001\n")
    (tmp_path / "p.csv").write_text("id,contact,currency,amount,date,reference\nP1,ACME,GBP,10.00,2026-01-20,INV 1001\n")
    out = tmp_path / "o.csv"
    call_command("reconcile_eval", "--invoices", str(tmp_path / "i.csv"), "--payments", str(tmp_path / "p.csv"), "--out", str(out))
    printed = capsys.readouterr().out
    assert "precision" not in printed and "automatic           1" in printed
    assert _read(out)[0]["invoice_id"] == "I1" and _read(out)[0]["band"] == "auto"


def test_eval_names_the_bad_cell(tmp_path):
    (tmp_path / "i.csv").write_text("id,contact,currency,amount,issue_date,due_date,number\nI1,Acme,GBP,ten,2026-01-01,,INV-1\n")
    (tmp_path / "p.csv").write_text("id,contact,currency,amount,date,reference\n")
    with pytest.raises(CommandError, match=r"i.csv:2: 'ten' is not an amount"):
        call_command("reconcile_eval", "--invoices", str(tmp_path / "i.csv"), "--payments", str(tmp_path / "p.csv"))
