from __future__ import annotations

from django.db import models


class RateBudgetState(models.Model):
    """One tenant's shared rate budget (see ``integrations.rate_budget``): the row every worker
    locks before spending a call, what the API last said it had left, and any 429 pause."""

    key = models.CharField(max_length=200, unique=True)
    blocked_until = models.FloatField(default=0, help_text="Epoch seconds; no call before then.")
    observed = models.JSONField(default=dict, blank=True, help_text='{"minute": {"remaining": 41, "at": 1.7e9}}')

    class Meta:
        verbose_name = "rate budget"

    def __str__(self) -> str:
        return self.key


class RateGrant(models.Model):
    """One call spent from a budget at ``at`` (epoch seconds): a sliding-window log, exact
    where a token bucket would let a burst through at the window's edge."""

    key = models.CharField(max_length=200)
    at = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["key", "at"])]


class RateLease(models.Model):
    """One of a tenant's concurrent-call slots, held until ``expires_at`` at the latest, so a
    crashed worker cannot leak it."""

    key = models.CharField(max_length=200)
    lease = models.CharField(max_length=32, unique=True)
    expires_at = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["key", "expires_at"])]
