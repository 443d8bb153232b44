"""Install the default Xero ↔ TIMS mapping sets and value maps (adds, never overwrites)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from integrations.mapping_templates import templates_install


class Command(BaseCommand):
    help = "Install the default Xero <-> TIMS mapping sets and value maps; existing ones are left as they are."

    def handle(self, *args: Any, **options: Any) -> None:
        done = templates_install()
        for line in done:
            self.stdout.write(f"Installed {line}")
        if not done:
            self.stdout.write("Every template is already installed (edit them in the admin).")
