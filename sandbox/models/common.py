"""Tables shared by all four emulators: limits, faults and idempotency.

Counters live in the database (not in process memory) so that several web processes, and the
test server's threads, see one budget per tenant.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

RATE = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))]


class SandboxSystem(models.TextChoices):
    XERO = "xero", "Xero"
    TIMS = "tims", "TIMS ERP"
    KASHFLOW = "kashflow", "Kashflow"
    SALESFORCE = "salesforce", "Salesforce"


class RateWindowCounter(models.Model):
    """Calls counted in one fixed window (a minute, a day) for one key (a tenant or an app)."""

    system = models.CharField(max_length=20, choices=SandboxSystem.choices)
    key = models.CharField(max_length=200)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["system", "key", "window_start"], name="sandbox_rate_window_unique")
        ]
        indexes = [models.Index(fields=["window_start"])]

    def __str__(self) -> str:
        return f"{self.system} {self.key} @ {self.window_start:%Y-%m-%d %H:%M}: {self.count}"


class ConcurrencyLease(models.Model):
    """One call in flight. A lease that outlives ``expires_at`` (a crashed worker) stops counting."""

    system = models.CharField(max_length=20, choices=SandboxSystem.choices)
    key = models.CharField(max_length=200)
    acquired_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["system", "key", "expires_at"])]


class FaultSetting(models.Model):
    """Faults injected into one tenant's calls, drawn from a seeded sequence (reproducible)."""

    class ErrorStatus(models.IntegerChoices):
        INTERNAL_ERROR = 500, "500 Internal Server Error"
        UNAVAILABLE = 503, "503 Service Unavailable"

    system = models.CharField(max_length=20, choices=SandboxSystem.choices)
    tenant_key = models.CharField(max_length=200, help_text="The system's tenant id (Xero tenantId, ...).")
    seed = models.BigIntegerField(default=0)
    error_rate = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0"), validators=RATE)
    error_status = models.PositiveSmallIntegerField(choices=ErrorStatus.choices, default=ErrorStatus.INTERNAL_ERROR)
    rate_limit_rate = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0"), validators=RATE)
    slow_rate = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0"), validators=RATE)
    slow_ms = models.PositiveIntegerField(default=0)
    drop_rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0"),
        validators=RATE,
        help_text="Share of writes whose response is dropped after the write was committed.",
    )
    draws = models.PositiveBigIntegerField(default=0, help_text="Position in the seeded sequence.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "tenant_key"], name="sandbox_fault_unique")]

    def __str__(self) -> str:
        return f"faults {self.system}:{self.tenant_key}"

    @property
    def is_active(self) -> bool:
        return any(r > 0 for r in (self.error_rate, self.rate_limit_rate, self.slow_rate, self.drop_rate))


class IdempotencyRecord(models.Model):
    """A stored response replayed for a repeated Idempotency-Key (api-notes xero.md §5.5)."""

    system = models.CharField(max_length=20, choices=SandboxSystem.choices)
    scope = models.CharField(max_length=200, help_text="Keys are unique per app.")
    key = models.CharField(max_length=128)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of method, path, query and body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty while in progress.")
    headers = models.JSONField(default=dict)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "scope", "key"], name="sandbox_idempotency_unique")]
        indexes = [models.Index(fields=["expires_at"])]
