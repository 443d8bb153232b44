"""Shared set-up of the benchmarks: a throwaway database, the sandbox served over real HTTP
on a local port, and peak-memory reading. Benchmarks print figures; they assert nothing.

The server runs in its own process by default (``tests/bench/serve.py``: Django's threaded
development server, as ``manage.py runserver --noreload`` runs it, on the benchmark's
database), so that the connector being measured and the sandbox answering it do not take turns
on one interpreter lock; ``BENCH_SERVER=thread`` (or ``live_server(process=False)``) serves it
from a thread of the benchmark's process instead, as Django's ``LiveServerTestCase`` does.
Either way responses go out with TCP_NODELAY (see ``serve.py``: the development server would
otherwise add a delayed-ACK wait of about 40 ms to every call)."""

from __future__ import annotations

import atexit
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT = 60.0


def setup_django() -> str:
    """Use DATABASE_URL when given (PostgreSQL for the real figures), else a temporary SQLite
    file; never the development database. Returns a description of the database."""
    if not os.environ.get("DATABASE_URL"):
        folder = tempfile.mkdtemp(prefix="ledgerbridge-bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["SANDBOX_ENABLED"] = "true"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql" and not os.environ.get("BENCH_KEEP_DATABASE"):
        # A fresh throwaway database beside the one named, so figures start from empty tables;
        # dropped when the benchmark ends.
        original = connection.settings_dict["NAME"]
        name = f"{original}_bench_{os.getpid()}"
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        connection.settings_dict["NAME"] = name
        # A server started in another process (live_server) reads the same database.
        parts = urlsplit(os.environ["DATABASE_URL"])
        os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
        atexit.register(_drop_database, original, name)
    call_command("migrate", verbosity=0)
    return f"{connection.vendor} ({connection.settings_dict['NAME']})"


def _drop_database(original: str, name: str) -> None:
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = original
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # a leftover database is no reason to hide the figures
        print(f"could not drop the benchmark database {name}: {exc}", file=sys.stderr)
    finally:
        connection.close()


@contextmanager
def live_server(*, process: bool | None = None) -> Iterator[str]:
    """The whole site (portal and sandbox) served on 127.0.0.1; yields its base URL.

    ``process`` (default: true unless ``BENCH_SERVER=thread``): ``tests/bench/serve.py`` in a
    separate process on the same database, started here and stopped on exit; otherwise
    Django's threaded test server in a thread of this process."""
    if process is None:
        process = os.environ.get("BENCH_SERVER", "process").lower() != "thread"
    if process:
        with _server_process() as url:
            yield url
        return
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler

    class NoDelayHandler(QuietWSGIRequestHandler):
        disable_nagle_algorithm = True  # see serve.py

    class NoDelayServerThread(LiveServerThread):
        def _create_server(self, connections_override=None):
            return self.server_class(
                (self.host, self.port), NoDelayHandler, allow_reuse_address=False, connections_override=connections_override
            )

    thread = NoDelayServerThread("127.0.0.1", StaticFilesHandler, connections_override=None, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    try:
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.terminate()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _server_process() -> Iterator[str]:
    """``tests/bench/serve.py`` in a child process, with this process's settings (database,
    sandbox on, log level, DEBUG) and ``SANDBOX_BASE_URL`` pointing at it."""
    from django.conf import settings

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SANDBOX_BASE_URL": f"{url}/sandbox", "PYTHONUNBUFFERED": "1"}
    if not os.environ.get("DEBUG"):
        env["DEBUG"] = "true" if settings.DEBUG else "false"
    log = tempfile.NamedTemporaryFile(prefix="ledgerbridge-bench-server-", suffix=".log", delete=False)
    command = [sys.executable, "-m", "tests.bench.serve", "--port", str(port)]
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(server, port, log.name)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        os.unlink(log.name)


def _wait_for_port(server: subprocess.Popen, port: int, log_path: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the benchmark server exited with {server.returncode}:\n{Path(log_path).read_text()[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"the benchmark server did not listen on port {port}:\n{Path(log_path).read_text()[-4000:]}")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def report(title: str, rows: list[tuple[str, object]]) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}", file=sys.stdout)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}", file=sys.stdout)


class Sampler:
    """Calls ``sample()`` every ``interval`` seconds in a thread while the block runs."""

    interval = 0.2

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
