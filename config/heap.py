"""A long-lived process's start-up objects, kept out of the garbage collector's walks.

Python's cyclic collector walks every object of the generations it collects, and a full
collection walks them all. A Django process of this project holds about a hundred thousand
objects from its start (modules, classes, models' options, URL patterns, admin sites) that live
as long as the process: every full collection would walk them again and find nothing to free. ``gc.freeze()``
moves the objects alive now into a permanent generation the collector skips; they are still
freed by reference counting should they go.

The web server's workers (``config.wsgi``), django-q2's workers (their ``post_spawn``) and
``manage.py run_flow`` call :func:`freeze_start_up` once they are set up; lane processes freeze
their fork server's imports (``integrations.engine.lane_preload``)."""

from __future__ import annotations

import gc


def freeze_start_up(*, load_urls: bool = False) -> int:
    """Collect what is garbage already, then freeze what is left; the number now frozen.
    ``load_urls``: import the URLconf first, and with it every view module (a web server's
    first request would otherwise)."""
    if load_urls:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018  (imports the URLconf and every view it names)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
