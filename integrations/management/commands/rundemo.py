"""``make demo``: migrate, seed the demo, run the web server and a worker until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.demo import TIMS_SITE, demo_connect


class Command(BaseCommand):
    help = "Run the demo portal: migrate, create demo users, start the web server and a qcluster worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("DEMO_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("The demo runs in development mode only (DEBUG is false).")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        call_command("demo_users", stdout=self.stdout)
        settings.SANDBOX_BASE_URL = f"http://{host}:{port}/sandbox"
        call_command("seed_demo", stdout=self.stdout)

        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "SANDBOX_BASE_URL": f"http://{host}:{port}/sandbox"}
        children = {
            "web server": subprocess.Popen([*manage, "runserver", f"{host}:{port}", "--noreload"], env=env),
            "worker": subprocess.Popen([*manage, "qcluster"], env=env),
        }
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        failed = None
        try:
            if settings.SANDBOX_ENABLED:
                self._wait_for(f"http://{host}:{port}/admin/login/")
                for line in demo_connect():
                    self.stdout.write(line)
                # A living ERP: new orders, shipments, payments, cancellations every 20 seconds.
                children["TIMS activity"] = subprocess.Popen(
                    [*manage, "sandbox_tims_activity", "--site", TIMS_SITE, "--seed", "1", "--ticks", "1000000",
                     "--interval", "20", "--deliver-webhooks", "-v", "0"], env=env)
            self.stdout.write(self.style.SUCCESS(f"\nLedgerbridge is running at http://{host}:{port}/admin/  (Ctrl-C stops it)\n"))
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        failed = f"The {name} exited with code {child.returncode}."
                        stopping = True
                time.sleep(0.3)
        except Exception as exc:  # never leave the children running
            failed = f"The demo could not start: {exc}"
        self.stdout.write("Stopping the web server and the worker\u2026")
        for child in children.values():
            if child.poll() is None:
                child.terminate()  # SIGTERM: qcluster finishes its tasks, runserver exits
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if failed:
            raise CommandError(failed)
        self.stdout.write("Stopped.")

    @staticmethod
    def _wait_for(url: str, seconds: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.5)
        raise CommandError(f"The web server did not answer at {url} within {seconds:.0f} s.")
