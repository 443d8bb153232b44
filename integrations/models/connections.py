from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from integrations import crypto
from integrations.fields import EncryptedJSONField, Sealed


class System(models.TextChoices):
    XERO = "xero", "Xero"
    TIMS = "tims", "TIMS ERP"
    KASHFLOW = "kashflow", "Kashflow"
    SALESFORCE = "salesforce", "Salesforce"


class Environment(models.TextChoices):
    SANDBOX = "sandbox", "Sandbox"
    PRODUCTION = "production", "Production"


class AuthKind(models.TextChoices):
    OAUTH2_AUTHORIZATION_CODE = "oauth2_code", "OAuth 2.0 authorisation code"
    OAUTH2_CLIENT_CREDENTIALS = "oauth2_client", "OAuth 2.0 client credentials"
    OAUTH2_JWT_BEARER = "oauth2_jwt", "OAuth 2.0 JWT bearer"
    API_SESSION = "api_session", "API user and password (session token)"


class ConnectionStatus(models.TextChoices):
    PENDING = "pending", "Not connected yet"
    ACTIVE = "active", "Active"
    NEEDS_REAUTH = "needs_reauth", "Needs re-authorisation"
    DISABLED = "disabled", "Disabled"


class CredentialsUnreadable(Exception):
    """The stored credentials cannot be decrypted with the configured keys."""

    def __init__(self, connection: Connection) -> None:
        self.connection_id = connection.pk
        super().__init__(
            f"The credentials of connection \u201c{connection.name}\u201d cannot be decrypted with "
            "the keys in CREDENTIALS_KEYS. Add the key they were encrypted with back to "
            "CREDENTIALS_KEYS, or connect the connection again."
        )


class Connection(models.Model):
    """One account of one external system: a Xero tenant, a TIMS site, a Kashflow company
    or a Salesforce org. Credentials are one encrypted field, never shown or logged."""

    name = models.CharField(max_length=100, unique=True)
    system = models.CharField(max_length=20, choices=System.choices)
    environment = models.CharField(
        max_length=20, choices=Environment.choices, default=Environment.SANDBOX
    )
    base_url = models.URLField(
        blank=True, help_text="API root; empty uses the system's default for the environment."
    )
    auth_kind = models.CharField(max_length=20, choices=AuthKind.choices)
    tenant_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="The remote account: Xero tenant id, Salesforce org id, TIMS site, Kashflow company.",
    )
    tenant_name = models.CharField(max_length=200, blank=True)
    credentials = EncryptedJSONField()
    # TLS is always verified (the TIMS contract allows no exception); a private CA is trusted
    # by giving its certificates here.
    ca_bundle = models.TextField(
        blank=True, help_text="PEM certificates of a private CA (an on-premises site); empty uses the system's CAs."
    )
    status = models.CharField(
        max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.PENDING
    )
    status_reason = models.CharField(max_length=500, blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    # The rate budget as the API last reported it (calls left this minute and today).
    rate_minute_remaining = models.IntegerField(null=True, blank=True)
    rate_day_remaining = models.IntegerField(null=True, blank=True)
    rate_updated_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["credentials"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "environment", "tenant_id"],
                condition=~models.Q(tenant_id=""),
                name="unique_connection_per_remote_account",
            ),
        ]
        indexes = [models.Index(fields=["system", "status"])]

    def __str__(self) -> str:
        return self.name

    def get_credentials(self) -> dict[str, Any]:
        """The decrypted credentials; raises :class:`CredentialsUnreadable` on a key mismatch."""
        value = self.credentials
        if not value:
            return {}
        if isinstance(value, dict):
            return dict(value)
        assert isinstance(value, Sealed)
        try:
            return crypto.unseal(value.token)
        except crypto.InvalidToken:
            raise CredentialsUnreadable(self) from None

    def set_credentials(self, data: dict[str, Any]) -> None:
        """Replace the credentials; they are encrypted when the connection is saved."""
        self.credentials = dict(data)

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials)
