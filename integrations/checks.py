"""System checks: the credentials keys are usable, and stored credentials decrypt."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security)
def check_credentials_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from integrations import crypto

    try:
        crypto._fernet()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="integrations.E001")]
    return []


@register(Tags.database)
def check_stored_credentials(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Warning]:
    """Run by ``manage.py check --database default`` (and migrate): credentials decrypt.

    A warning, not an error: a lost key must not block migrations or the portal; the
    connections concerned are named so they can be reconnected.
    """
    if not databases:
        return []
    from integrations.models import Connection, CredentialsUnreadable

    warnings = []
    try:
        connections = list(Connection.objects.exclude(credentials="").only("id", "name", "credentials"))
    except DatabaseError:
        return []  # not migrated yet
    for connection in connections:
        try:
            connection.get_credentials()
        except CredentialsUnreadable as exc:
            warnings.append(Warning(str(exc), obj=connection, id="integrations.W001"))
        except ImproperlyConfigured:
            break  # E001 reports it
    return warnings
