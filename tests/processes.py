"""Real processes for the chaos test and the benchmarks: a dedicated database, the site served
on a free port (by ``manage.py runserver``, or by gunicorn as in production), process groups
killed whole."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from connectors.rate import RateLimits, Window

ROOT = Path(__file__).resolve().parents[1]


def database_create(label: str) -> tuple[str, str, Callable[[], None]]:
    """(DATABASE_URL of a fresh, empty database, vendor, a function that drops it). On
    PostgreSQL (DATABASE_URL set) a new database beside the one named; else a temp SQLite file."""
    given = os.environ.get("DATABASE_URL", "")
    if given.startswith(("postgres://", "postgresql://")):
        import psycopg

        name = f"ledgerbridge_{label}_{os.getpid()}"

        def run(sql: str) -> None:
            with psycopg.connect(given, autocommit=True) as conn:
                conn.execute(sql)

        run(f'DROP DATABASE IF EXISTS "{name}"')
        run(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            try:
                run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001 - best effort, at the end
                print(f"could not drop the database {name}: {exc}")

        return urlunsplit(urlsplit(given)._replace(path=f"/{name}")), "postgresql", drop
    folder = tempfile.mkdtemp(prefix=f"ledgerbridge-{label}-")

    def remove() -> None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    return f"sqlite:///{folder}/{label}.sqlite3", "sqlite", remove


def production_settings(host: str = "127.0.0.1") -> dict[str, str]:
    """Environment for running the site as in production (DEBUG off, so no query log or debug
    cursor), with fresh secrets and plain HTTP on loopback: what a benchmark should measure."""
    import secrets

    from cryptography.fernet import Fernet

    return {
        "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50), "CREDENTIALS_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": f"{host},localhost", "SECURE_SSL_REDIRECT": "false",
    }


def gunicorn_command(port: int, workers: int, host: str = "127.0.0.1") -> list[str]:
    """The site served as in production: gunicorn's threaded workers (Xero takes five calls at
    once per tenant, so four threads each), no request timeout shorter than a slow answer."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return [str(gunicorn if gunicorn.exists() else "gunicorn"), "config.wsgi", "--bind", f"{host}:{port}",
            "--workers", str(workers), "--worker-class", "gthread", "--threads", "4", "--timeout", "120"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], env: dict[str, str], logfile: Path) -> subprocess.Popen:
    """A process in its own session (so its whole group can be killed), output to ``logfile``."""
    handle = open(logfile, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """The process and every child it forked (qcluster's sentinel, pusher, workers, monitor)."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


def wait_http(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"the web server did not answer at {url}")


# Budgets generous enough that a run whose subject is not pacing never waits for one.
LIFTED_XERO = RateLimits(windows=(Window("minute", 60_000, 60.0), Window("day", 1_000_000, 86_400.0)), concurrency=5)
LIFTED_TIMS = RateLimits(windows=(Window("minute", 120_000, 60.0),), concurrency=10)
LIFTED_RATE_LIMITS = "xero=tests.processes.LIFTED_XERO,tims=tests.processes.LIFTED_TIMS"


def lift_rate_budgets() -> None:
    """The product's own per-tenant budgets (Xero 60 calls a minute, TIMS 120) made generous,
    for runs whose subject is not pacing: in this process's settings and, through the
    environment, in every process it starts later (a run's lane processes)."""
    from django.conf import settings

    os.environ["CONNECTOR_RATE_LIMITS"] = LIFTED_RATE_LIMITS
    settings.CONNECTOR_RATE_LIMITS = dict(item.split("=") for item in LIFTED_RATE_LIMITS.split(","))
