"""Lane processes (integrations/engine/processes.py): they end with the worker that started
them, however it ends, so a killed worker leaves no batch sending behind it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# A worker starting two lane processes, printing their ids, then waiting to be killed.
WORKER = """
import os, time


def pid_after(seconds):
    time.sleep(seconds)
    return os.getpid()


if __name__ == "__main__":
    import django

    django.setup()
    from integrations.engine.processes import _die_with_parent, lane_pool

    pool = lane_pool(2, _die_with_parent, ())
    futures = [pool.submit(pid_after, 1) for _ in range(2)]
    print(*sorted({f.result() for f in futures}), flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lane processes run only on Linux, the one system with a parent-death signal; elsewhere there are none to kill")
def test_lane_processes_end_when_their_worker_is_killed(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    worker = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT)})
    try:
        lanes = [int(pid) for pid in worker.stdout.readline().split()]
        assert len(lanes) == 2 and all(_alive(pid) for pid in lanes)
        worker.send_signal(signal.SIGKILL)  # the worker alone: not its process group
        worker.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in lanes) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in lanes if _alive(pid)] == []
    finally:
        worker.kill()
