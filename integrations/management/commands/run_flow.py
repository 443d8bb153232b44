"""Run one flow in the foreground, with progress and a summary."""

from __future__ import annotations

import sys
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.models import Flow, RunTrigger, SyncRun


class Command(BaseCommand):
    help = "Run one flow now, in this process (no worker needed), and print what it did."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The flow's slug (see the Flows page).")
        parser.add_argument("--full", action="store_true", help="Ignore the cursor and read every record.")

    def handle(self, *args: Any, slug: str, full: bool, **options: Any) -> None:
        from config.heap import freeze_start_up
        from integrations.engine.pipeline import run_execute
        from integrations.services.runs import flow_run_request, run_claim

        freeze_start_up()  # what the run imported and set up stays out of the collector's walks

        try:
            flow = Flow.objects.get(slug=slug)
        except Flow.DoesNotExist:
            known = ", ".join(Flow.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No flow {slug!r}. Flows: {known}.") from None
        run = flow_run_request(flow=flow, trigger=RunTrigger.MANUAL, full=full, enqueue=False)
        if run is None:
            raise CommandError(f"{flow.name} already has a queued or running run; try again when it ends.")
        run = run_claim(run_id=run.pk)
        self.stdout.write(f"Running {flow.name} ({'full' if full else 'since the cursor'}), run #{run.pk}")

        done = threading.Event()
        interactive = sys.stdout.isatty()

        def progress() -> None:
            while not done.wait(1.0):
                current = SyncRun.objects.filter(pk=run.pk).values(
                    "read_count", "created_count", "updated_count", "unchanged_count", "failed_count").first()
                if current and interactive:
                    self.stdout.write("\r" + _line(current), ending="")
                    self.stdout.flush()

        watcher = threading.Thread(target=progress, daemon=True)
        watcher.start()
        try:
            run = run_execute(run)
        finally:
            done.set()
            watcher.join()
        if interactive:
            self.stdout.write("")
        counts = {f: getattr(run, f) for f in ("read_count", "created_count", "updated_count", "unchanged_count",
                                               "skipped_count", "failed_count")}
        self.stdout.write(f"{run.get_status_display()}: {_line(counts)}")
        if run.error_message:
            self.stdout.write(run.error_message)
        if run.status == "failed":
            raise CommandError(f"Run #{run.pk} failed.")


def _line(counts: dict[str, int]) -> str:
    labels = ("read", "created", "updated", "unchanged", "skipped", "failed")
    return ", ".join(f"{label} {counts[f'{label}_count']:,}" for label in labels if f"{label}_count" in counts)
