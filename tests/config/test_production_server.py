"""The site under gunicorn, as README's production section and the backfill benchmark run it."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, gunicorn_command, kill_group, production_settings, start, wait_http

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="gunicorn does not run on Windows: it needs fcntl and os.fork, which Windows lacks")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_gunicorn_serves_the_site_from_its_threaded_workers():
    folder = Path(tempfile.mkdtemp(prefix="ledgerbridge-gunicorn-"))
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
           "LOG_LEVEL": "WARNING", **production_settings()}
    env.pop("REDIS_URL", None)
    server = start(gunicorn_command(port, workers=2), env, folder / "server.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/admin/login/")
        answer = httpx.get(f"http://127.0.0.1:{port}/admin/login/")
        assert answer.status_code == 200, (folder / "server.log").read_text()[-2000:]
        assert 'name="password"' in answer.text
        assert answer.headers["server"].startswith("gunicorn")  # not the development server
        if sys.platform.startswith("linux"):  # the process tree is read from /proc
            assert len(_children(server.pid)) == 2  # the master forked the two workers asked for
    finally:
        kill_group(server, signal.SIGTERM)
    assert server.returncode is not None
