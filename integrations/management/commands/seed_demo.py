"""Demo data for ``make demo``: idempotent, safe to run on every start."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from integrations.demo import demo_seed


class Command(BaseCommand):
    help = "Seed the demo: sandbox systems, connections, flows (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        for line in demo_seed():
            self.stdout.write(line)
