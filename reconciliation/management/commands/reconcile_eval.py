"""Evaluate the matcher on CSV files, without a connection or the database."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

HELP = """Match payments to invoices from CSV files and write one row per decision.

Invoices CSV: id, contact, currency, amount, issue_date, due_date, number (dates YYYY-MM-DD);
optional contact_id, open_amount, direction, base_currency, base_amount.
Payments CSV: id, contact, currency, amount, date, reference; optional contact_id, kind
(payment, bank_line, credit_note), direction, invoice_ids, truth, scenario.

Truth: payments.truth holds the semicolon-separated ids of the invoices the payment really
pays ("I1;I2"), empty when it pays none. When the column is present the command prints
precision (correct automatic decisions / automatic decisions; a decision is correct when its
invoice set equals the truth set), coverage (payments with a counterpart decided
automatically / payments with a counterpart), the share of the others whose truth is among the
three suggestions, automatic decisions on payments of scenario "tie", and speed.

The output has one row per (payment, proposal, invoice): payment_id, invoice_id, allocated
(invoice currency), payment_allocated, band (auto, suggested, none), rank, score, settlement,
reasons. --generate N writes a generated set (python -m reconciliation.generator) and
evaluates it."""


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any):  # keep the help's line breaks
        from argparse import RawDescriptionHelpFormatter

        return super().create_parser(prog_name, subcommand, formatter_class=RawDescriptionHelpFormatter, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--invoices", type=Path, help="Invoices CSV.")
        parser.add_argument("--payments", type=Path, help="Payments CSV.")
        parser.add_argument("--out", type=Path, help="Decisions CSV to write.")
        parser.add_argument("--generate", type=int, metavar="N", help="Generate N invoices (and their payments) first.")
        parser.add_argument("--seed", type=int, default=0, help="Seed of --generate.")
        parser.add_argument("--dir", type=Path, help="Where --generate writes its CSVs (default: a temporary folder).")

    def handle(self, *args: Any, **options: Any) -> None:
        from reconciliation.engine.evaluation import InputError, evaluate, read_dataset, write_decisions
        from reconciliation.generator import generate

        invoices, payments = options["invoices"], options["payments"]
        if options["generate"]:
            folder = options["dir"] or Path(tempfile.mkdtemp(prefix="reconcile-eval-"))
            invoices, payments = generate(options["generate"], seed=options["seed"]).write_csv(folder)
            self.stdout.write(f"Generated {invoices} and {payments}")
        if not invoices or not payments:
            raise CommandError("Give --invoices and --payments, or --generate N.")
        try:
            data = read_dataset(invoices, payments)
        except (InputError, OSError) as error:
            raise CommandError(str(error)) from None
        decisions, metrics = evaluate(data)
        if options["out"]:
            write_decisions(decisions, options["out"])
            self.stdout.write(f"Wrote {len(decisions)} decisions to {options['out']}")
        self.stdout.write(f"{len(data.invoices)} invoices, {len(data.payments)} payments")
        lines = metrics.lines() if data.truth is not None else [line for line in metrics.lines()[:2] + metrics.lines()[6:7]]
        for line in lines:
            self.stdout.write(line)
