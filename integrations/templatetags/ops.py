"""The operations panel of the admin's home page (``templates/admin/index.html``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from integrations.services.dashboard import Summary, dashboard_summary

register = template.Library()

# The auditor views name their audit trail page here; until they do, the admin's list stands in.
AUDIT_TRAIL_URL_NAMES = ("integrations:audit_trail", "integrations:audit", "admin:integrations_auditevent_changelist")


@register.simple_tag(takes_context=True)
def ops_summary(context: dict[str, Any]) -> Summary | None:
    """The headline numbers, for people who may view runs; ``None`` for the others."""
    request = context.get("request")
    if request is None or not request.user.has_perm("integrations.view_syncrun"):
        return None
    return dashboard_summary()


@register.simple_tag
def audit_trail_url() -> str:
    for name in AUDIT_TRAIL_URL_NAMES:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return ""


@register.filter
def duration(value: timedelta | float | None) -> str:
    """A run's length in words a person reads at a glance: "4 s", "2 min 5 s", "1 h 12 min"."""
    if value is None:
        return "\u2014"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.simple_tag
def timeline_link(system: str, object_type: str, object_id: str, label: str = "Timeline") -> str:
    """A link to a record's timeline, for any page or admin column that names a record:
    ``{% timeline_link "xero" "invoice" invoice_id %}``, or ``timeline_link(...)`` in Python."""
    from django.utils.html import format_html

    from integrations.services.timeline import timeline_url

    if not (system and object_type and object_id):
        return ""
    return format_html('<a href="{}">{}</a>', timeline_url(system=system, object_type=object_type,
                                                           object_id=str(object_id)), label)
