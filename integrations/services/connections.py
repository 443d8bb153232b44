"""Writes to connections: credentials and their keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.base import ConnectionSettings, TokenSet
from integrations import crypto
from integrations.fields import Sealed
from integrations.models import (
    AlertKind, AuditSource, Connection, ConnectionStatus, CredentialsUnreadable, Environment, Flow,
)
from integrations.services.alerts import alert_clear, alert_raise
from integrations.services.audit import audit_event_record, operation


def connection_credentials_update(*, connection: Connection, values: dict[str, Any], actor: Any = None) -> None:
    """Merge ``values`` into the connection's credentials (encrypted) and audit which keys
    changed, never their values."""
    with transaction.atomic(), operation():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        try:
            current = locked.get_credentials()
        except CredentialsUnreadable:
            current = {}  # unreadable secrets are replaced, not merged
        current.update(values)
        locked.set_credentials(current)
        locked.save(update_fields=["credentials", "updated_at"])
        connection.credentials = locked.credentials
        audit_event_record(
            action="connection.credentials_changed",
            source=AuditSource.UI,
            actor=actor,
            object_system=connection.system,
            object_type="connection",
            object_id=connection.pk,
            object_ref=connection.name,
            data={"keys": sorted(values)},
        )


@dataclass
class RotationReport:
    rotated: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def connection_credentials_rotate() -> RotationReport:
    """Re-encrypt every connection's credentials with the first key of CREDENTIALS_KEYS.

    Each connection is its own transaction, so one unreadable connection does not stop the
    others; it is reported by name.
    """
    report = RotationReport()
    ids = list(Connection.objects.exclude(credentials="").values_list("pk", flat=True))
    for pk in ids:
        with transaction.atomic(), operation():
            connection = Connection.objects.select_for_update().get(pk=pk)
            sealed = connection.credentials
            if not isinstance(sealed, Sealed):
                continue
            try:
                connection.credentials = Sealed(crypto.reseal(sealed.token))
            except crypto.InvalidToken:
                report.unreadable.append(str(CredentialsUnreadable(connection)))
                continue
            connection.save(update_fields=["credentials"])
            audit_event_record(
                action="connection.credentials_rotated",
                source=AuditSource.CLI,
                object_system=connection.system,
                object_type="connection",
                object_id=connection.pk,
                object_ref=connection.name,
            )
            report.rotated.append(connection.name)
    return report


# --- Connecting and re-authorising ---------------------------------------------------------------

REAUTH_PAUSE_PREFIX = "Paused: connection needs re-authorisation"


def connection_api_base_url(connection: Connection) -> str:
    """The connection's API root; a sandbox connection without one uses the built-in emulators."""
    if connection.base_url:
        return connection.base_url
    if connection.environment == Environment.SANDBOX:
        return settings.SANDBOX_BASE_URL
    return ""


def connection_settings(connection: Connection, **extra: Any) -> ConnectionSettings:
    """Everything a connector needs to know of a connection (secrets decrypted, in memory only)."""
    return ConnectionSettings(
        system=connection.system,
        base_url=connection_api_base_url(connection),
        tenant_id=connection.tenant_id,
        credentials={**connection.get_credentials(), **extra},
        options={"ca_bundle": connection.ca_bundle} if connection.ca_bundle else {},
    )


def connection_connected(
    *, connection: Connection, tokens: TokenSet, tenant_id: str, tenant_name: str, tenants: list[dict[str, str]],
    actor: Any = None, source: str = AuditSource.UI,
) -> Connection:
    """Store a new consent: tokens (encrypted), the tenant, status active; resume the flows
    that were paused because the connection needed re-authorisation."""
    from integrations.adapters import TOKEN_KEY

    with transaction.atomic(), operation():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        credentials = locked.get_credentials()
        credentials[TOKEN_KEY] = tokens.to_dict()
        credentials["tenants"] = tenants
        locked.set_credentials(credentials)
        before = {"status": locked.status, "tenant_id": locked.tenant_id}
        locked.tenant_id, locked.tenant_name = tenant_id, tenant_name
        locked.status, locked.status_reason = ConnectionStatus.ACTIVE, ""
        locked.token_expires_at = tokens.expires_at
        locked.connected_at, locked.connected_by = timezone.now(), actor if getattr(actor, "pk", None) else None
        locked._history_user = locked.connected_by
        locked.save()
        resumed = Flow.objects.filter(
            Q(source_connection=locked) | Q(target_connection=locked), paused_reason__startswith=REAUTH_PAUSE_PREFIX
        ).update(enabled=True, paused_reason="")
        audit_event_record(
            action="connection.connected", source=source, actor=actor, object_system=locked.system,
            object_type="connection", object_id=locked.pk, object_ref=locked.name,
            before=before, after={"status": locked.status, "tenant_id": tenant_id},
            data={"tenant": tenant_name, "flows_resumed": resumed},
        )
        alert_clear(dedup_key=f"needs_reauth:{locked.pk}")
    return locked


def connection_mark_needs_reauth(*, connection: Connection, reason: str, source: str = AuditSource.WORKER) -> None:
    """The remote refused our grant (``invalid_grant``, revoked consent): a person must connect
    again. Its flows pause (so they do not fail record by record) and people are alerted once."""
    with transaction.atomic(), operation():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        if locked.status == ConnectionStatus.NEEDS_REAUTH:
            return
        locked.status, locked.status_reason = ConnectionStatus.NEEDS_REAUTH, reason[:500]
        locked.save(update_fields=["status", "status_reason", "updated_at"])
        paused = Flow.objects.filter(Q(source_connection=locked) | Q(target_connection=locked), enabled=True)
        flow_names = list(paused.values_list("name", flat=True))
        paused.update(enabled=False, paused_reason=f"{REAUTH_PAUSE_PREFIX} ({locked.name}).")
        audit_event_record(
            action="connection.needs_reauth", source=source, object_system=locked.system, object_type="connection",
            object_id=locked.pk, object_ref=locked.name, data={"reason": reason, "flows_paused": flow_names},
        )
        alert_raise(
            kind=AlertKind.NEEDS_REAUTH, dedup_key=f"needs_reauth:{locked.pk}", connection=locked,
            subject=f"{locked.name} needs re-authorisation",
            message=(
                f"{locked.get_system_display()} refused Ledgerbridge's authorisation for {locked.name}: {reason}\n"
                f"Paused flows: {', '.join(flow_names) or 'none'}.\n"
                "Open the connection in the portal and choose Connect to authorise it again; the flows resume by themselves."
            ),
        )
