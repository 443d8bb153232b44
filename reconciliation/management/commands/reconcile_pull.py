"""``python manage.py reconcile_pull [--connection ID] [--full]``: pull ledger documents from
the connected systems now, then match what came in."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from reconciliation.services.ingest import reconciliation_pull


class Command(BaseCommand):
    help = "Pull invoices, bills, credit notes, payments and bank lines from Xero and TIMS for reconciliation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connection", type=int, help="Only this connection (its id).")
        parser.add_argument("--full", action="store_true", help="Read everything, not only what changed since the last pull.")

    def handle(self, *args: Any, connection: int | None = None, full: bool = False, **options: Any) -> None:
        reports = reconciliation_pull(connection_id=connection, full=full)
        if not reports:
            self.stdout.write("No Xero or TIMS connection to pull from.")
        failed = False
        for report in reports:
            self.stdout.write(str(report))
            for problem in report.problems[:10]:
                failed = failed or report.read == 0
                self.stdout.write(self.style.WARNING(f"  {problem}"))
        if failed:
            raise SystemExit(1)
