"""Run the matcher over the match ledger."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.models import Connection


class Command(BaseCommand):
    help = (
        "Match undecided payments, bank lines and credit notes to open invoices and bills, and write "
        "the matches (automatic ones confirmed, the others as up to three suggestions)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connection", help="Only this connection (its id or name); default: every connection.")
        parser.add_argument("--full", action="store_true", help="Every undecided payment (the default; kept for clarity).")

    def handle(self, *args: Any, connection: str | None, full: bool, **options: Any) -> None:
        from reconciliation.services.matching import match_payments

        chosen = None
        if connection:
            lookup = {"pk": int(connection)} if connection.isdigit() else {"name": connection}
            try:
                chosen = Connection.objects.get(**lookup)
            except Connection.DoesNotExist:
                raise CommandError(f"No connection {connection!r}.") from None
        summary = match_payments(connection=chosen, full=True)
        self.stdout.write(str(summary))
        if summary.refused:
            self.stdout.write(f"{summary.refused} automatic match(es) refused by the database were kept as suggestions.")
