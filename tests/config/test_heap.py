"""Long-lived processes freeze their start-up objects (config.heap): the web server's workers,
django-q2's workers and the lane processes' fork server. Each is checked in a fresh interpreter,
as the process starts, so this test session's own collector is left as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter set up for this project; it prints one JSON object."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT)}
    preamble = "import gc, json, sys\n"
    done = subprocess.run([sys.executable, "-c", preamble + code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_web_worker_freezes_its_start_up_with_every_view_imported():
    seen = _fresh(
        "import config.wsgi\n"
        "print(json.dumps({'frozen': gc.get_freeze_count(), 'tracked': len(gc.get_objects()),\n"
        "                  'views': [m in sys.modules for m in ('sandbox.xero.api', 'sandbox.tims.api', 'integrations.admin')]}))"
    )
    assert seen["views"] == [True, True, True]  # the URLconf was loaded before the freeze
    assert seen["frozen"] > 50_000  # Django, the apps, the URLconf: out of the collector's walks
    assert seen["tracked"] < seen["frozen"] / 10  # what the collector still walks: what came after


def test_a_queue_worker_freezes_the_engine_once_spawned():
    seen = _fresh(
        "import django\n"
        "django.setup()\n"
        "before = gc.get_freeze_count()\n"
        "from django_q.signals import post_spawn\n"
        "post_spawn.send(sender='django_q', proc_name='Worker-1')\n"
        "print(json.dumps({'before': before, 'frozen': gc.get_freeze_count(),\n"
        "                  'engine': 'integrations.engine.pipeline' in sys.modules}))"
    )
    assert seen["before"] == 0  # setting Django up alone freezes nothing: a test run, a shell
    assert seen["engine"]
    assert seen["frozen"] > 50_000


def test_the_lanes_fork_server_freezes_what_it_imported():
    seen = _fresh(
        "import integrations.engine.lane_preload\n"
        "print(json.dumps({'frozen': gc.get_freeze_count(), 'tracked': len(gc.get_objects())}))"
    )
    assert seen["frozen"] > 50_000
    assert seen["tracked"] < seen["frozen"] / 10
