"""Telling people: email (Django's mail) and a Slack-compatible webhook, once per condition.

An alert is one open row per condition (``dedup_key``): raising it again while it is open only
counts, so an outage sends one message, not a thousand. When the condition clears (a later
successful run, a reconnection, the queue back under its threshold) the row is closed and the
next occurrence notifies again.

Where a flow is concerned, its :class:`~integrations.models.FlowAlertSettings` choose the
recipients, the webhook and which kinds are on; without them (or with a channel left empty)
the defaults ``ALERT_EMAILS`` and ``ALERT_WEBHOOK_URL`` apply. A connection's alert goes to the
channels of every flow that uses the connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations import crypto
from integrations.models import (
    OPEN_EXCEPTION_STATUSES, Alert, AlertKind, ExceptionStatus, Flow, FlowAlertSettings, RunStatus, SyncException,
    SyncRun,
)
from integrations.models.alerts import webhook_hint

logger = logging.getLogger(__name__)

# Retryable failures whose schedule ran out stay open (not retrying) with these classes.
RETRYABLE_CLASSES = ("transient", "rate_limited")
# A threshold alert closes only once the queue is back under this share of the threshold, so a
# count hovering around the threshold does not notify on every run.
THRESHOLD_CLEAR_RATIO = 0.8
WEBHOOK_TIMEOUT_SECONDS = 10


def alert_raise(
    *, kind: AlertKind | str, dedup_key: str, subject: str, message: str, flow: Any = None, connection: Any = None
) -> Alert:
    """Open an alert and notify, or count one more occurrence of the open one (no notice)."""
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                kind=kind, dedup_key=dedup_key, subject=subject, message=message, flow=flow, connection=connection
            )
    except IntegrityError:
        Alert.objects.filter(dedup_key=dedup_key, cleared_at__isnull=True).update(
            occurrences=F("occurrences") + 1, last_raised_at=timezone.now()
        )
        return Alert.objects.get(dedup_key=dedup_key, cleared_at__isnull=True)
    # Notify after commit: a rolled-back alert must not have been sent.
    transaction.on_commit(lambda: _notify(alert.pk))
    return alert


def alert_clear(*, dedup_key: str) -> int:
    """The condition is over: the next occurrence will notify again."""
    return Alert.objects.filter(dedup_key=dedup_key, cleared_at__isnull=True).update(cleared_at=timezone.now())


# --- Channels -----------------------------------------------------------------------------------


@dataclass
class Channels:
    """Where one alert goes. ``webhooks`` holds the URLs in memory only, never logged."""

    emails: list[str] = field(default_factory=list)
    webhooks: list[str] = field(default_factory=list)

    def add(self, other: Channels) -> None:
        self.emails += [address for address in other.emails if address not in self.emails]
        self.webhooks += [url for url in other.webhooks if url not in self.webhooks]


def _default_channels() -> Channels:
    return Channels(emails=list(settings.ALERT_EMAILS), webhooks=[settings.ALERT_WEBHOOK_URL] if settings.ALERT_WEBHOOK_URL else [])


def alert_channels_for_flow(*, flow: Flow, kind: str) -> Channels:
    """The channels of ``flow`` for ``kind``: nothing when the flow turned that kind off."""
    defaults = _default_channels()
    alert_settings = FlowAlertSettings.objects.filter(flow=flow).first()
    if alert_settings is None:
        return defaults
    if not alert_settings.kind_enabled(kind):
        return Channels()
    try:
        webhook = alert_settings.get_webhook_url()
    except crypto.InvalidToken:
        logger.error("The alert webhook of flow %s cannot be decrypted with CREDENTIALS_KEYS; using the default.", flow.pk)
        webhook = ""
    return Channels(emails=alert_settings.email_list or defaults.emails, webhooks=[webhook] if webhook else defaults.webhooks)


def alert_channels(alert: Alert) -> Channels:
    if alert.flow_id:
        return alert_channels_for_flow(flow=alert.flow, kind=alert.kind)
    if alert.connection_id:
        flows = Flow.objects.filter(Q(source_connection_id=alert.connection_id) | Q(target_connection_id=alert.connection_id))
        if flows:
            channels = Channels()
            for flow in flows:
                channels.add(alert_channels_for_flow(flow=flow, kind=alert.kind))
            return channels
    return _default_channels()


def _notify(alert_id: int) -> None:
    """Send one alert on its channels; a channel's failure is logged, never raised (the run or
    request that raised the alert must not fail because a mail server is down)."""
    alert = Alert.objects.select_related("flow", "connection").get(pk=alert_id)
    channels = alert_channels(alert)
    sent = []
    if channels.emails:
        try:
            send_mail(f"[Ledgerbridge] {alert.subject}", alert.message, None, channels.emails)
            sent.append("email")
        except Exception:  # noqa: BLE001 - any mail backend error; logged with its traceback
            logger.exception("Could not email alert %s", alert.pk)
    for url in channels.webhooks:
        try:
            response = httpx.post(
                url, json={"text": f"*{alert.subject}*\n{alert.message}"}, timeout=WEBHOOK_TIMEOUT_SECONDS
            )
            response.raise_for_status()
            if "webhook" not in sent:
                sent.append("webhook")
        except httpx.HTTPError as exc:
            # The URL is a secret: only its hint goes to the log, and the exception's own text
            # (which repeats the URL) does not.
            logger.error("Could not post alert %s to the webhook %s: %s", alert.pk, webhook_hint(url), type(exc).__name__)
    logger.warning("Alert: %s", alert.subject)
    Alert.objects.filter(pk=alert.pk).update(notified=sent)


# --- Conditions ---------------------------------------------------------------------------------


def run_failed_key(flow: Flow) -> str:
    return f"run_failed:{flow.pk}"


def retries_exhausted_key(flow: Flow) -> str:
    return f"retries_exhausted:{flow.pk}"


def exception_threshold_key(flow: Flow) -> str:
    return f"exception_threshold:{flow.pk}"


def alerts_run_finished(*, run: SyncRun) -> None:
    """Called by ``run_finish`` inside its transaction: a failed run alerts (once per outage);
    a run that got through (even with some records failing) ends the outage. Then the flow's
    queue-level conditions are checked again."""
    flow = run.flow
    if run.status == RunStatus.FAILED:
        alert_raise(
            kind=AlertKind.RUN_FAILED, dedup_key=run_failed_key(flow), flow=flow,
            subject=f"A run of {flow.name} failed",
            message=f"Run #{run.pk} of {flow.name} failed: {run.error_message or 'see the run for details'}.",
        )
    elif run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL):
        alert_clear(dedup_key=run_failed_key(flow))
    alerts_check_flow(flow=flow)


def exception_threshold_for(flow: Flow) -> int:
    threshold = FlowAlertSettings.objects.filter(flow=flow).values_list("exception_threshold", flat=True).first()
    return threshold or settings.ALERT_EXCEPTION_THRESHOLD


def alerts_check_flow(*, flow: Flow) -> None:
    """Raise or clear the flow's queue-level alerts from the queue as it is now: open
    exceptions over the threshold, and retryable failures left open after their schedule."""
    open_count = SyncException.objects.filter(flow=flow, status__in=OPEN_EXCEPTION_STATUSES).count()
    threshold = exception_threshold_for(flow)
    if open_count >= threshold:
        alert_raise(
            kind=AlertKind.EXCEPTION_THRESHOLD, dedup_key=exception_threshold_key(flow), flow=flow,
            subject=f"{flow.name}: {open_count} open exceptions",
            message=(f"{flow.name} has {open_count} open exceptions in the review queue "
                     f"(the alert threshold is {threshold})."),
        )
    elif open_count < threshold * THRESHOLD_CLEAR_RATIO:
        alert_clear(dedup_key=exception_threshold_key(flow))
    exhausted = SyncException.objects.filter(
        flow=flow, status=ExceptionStatus.OPEN, error_class__in=RETRYABLE_CLASSES
    ).exists()
    if not exhausted:
        alert_clear(dedup_key=retries_exhausted_key(flow))


def alerts_check() -> int:
    """The periodic sweep: conditions that clear without a run (people resolving exceptions in
    the queue) or flows that rarely run. Returns the number of flows checked."""
    flows = list(Flow.objects.all())
    for flow in flows:
        with transaction.atomic():
            alerts_check_flow(flow=flow)
    return len(flows)


# --- Settings -----------------------------------------------------------------------------------


def flow_alert_settings_update(
    *, flow: Flow, actor: Any = None, webhook_url: str | None = None, clear_webhook: bool = False, **values: Any
) -> FlowAlertSettings:
    """Create or change a flow's alert settings. ``webhook_url`` replaces the stored URL when
    given (it is write-only), ``clear_webhook`` removes it; other fields are set as given."""
    with transaction.atomic():
        alert_settings, _ = FlowAlertSettings.objects.select_for_update().get_or_create(flow=flow)
        for name, value in values.items():
            setattr(alert_settings, name, value)
        if clear_webhook:
            alert_settings.set_webhook_url("")
        elif webhook_url:
            alert_settings.set_webhook_url(webhook_url)
        alert_settings._history_user = actor if getattr(actor, "pk", None) else None
        alert_settings.save()
    return alert_settings


def alert_settings_rotate() -> int:
    """Re-encrypt every stored webhook URL with the first key of CREDENTIALS_KEYS (the
    companion of ``connection_credentials_rotate``). Returns how many were re-encrypted."""
    rotated = 0
    for alert_settings in FlowAlertSettings.objects.exclude(webhook=""):
        sealed = alert_settings.webhook
        try:
            alert_settings.webhook = type(sealed)(crypto.reseal(sealed.token))
        except crypto.InvalidToken:
            logger.error("The alert webhook of flow %s cannot be decrypted; it was left as it is.", alert_settings.flow_id)
            continue
        alert_settings.save(update_fields=["webhook"])
        rotated += 1
    return rotated


__all__ = [
    "Channels", "alert_channels", "alert_channels_for_flow", "alert_clear", "alert_raise", "alert_settings_rotate",
    "alerts_check", "alerts_check_flow", "alerts_run_finished", "exception_threshold_for", "exception_threshold_key",
    "flow_alert_settings_update", "retries_exhausted_key", "run_failed_key",
]
