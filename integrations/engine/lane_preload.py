"""Imported by the fork server of lane processes (``integrations.engine.processes``) before it
forks any: Django set up and the engine imported once, shared by every lane it forks. Nothing
here opens a connection or starts a thread, so a fork inherits neither."""

import pkgutil

import django

django.setup()

import httpcore  # noqa: E402,F401  (httpx imports it on a client's first transport)

import integrations.engine.pipeline  # noqa: E402,F401  (the lanes' code, imported once)
import connectors  # noqa: E402
from connectors.base import registry  # noqa: E402
from connectors.http import system_trust  # noqa: E402

system_trust()  # every lane's clients share the one trust store, parsed here once

for package in pkgutil.iter_modules(connectors.__path__):
    if package.ispkg:
        registry.get(package.name)  # each system's connector, imported on first use otherwise

from config.heap import freeze_start_up  # noqa: E402

# What was imported stays in pages shared with every lane: the collector never writes to frozen
# objects (it would copy each page it touched into every lane that has it).
freeze_start_up()
