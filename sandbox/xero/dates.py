"""Xero's date formats (api-notes §5.1): responses carry ``/Date(ms+0000)/`` plus ISO
``*String`` siblings; requests may send ``YYYY-MM-DD``, an ISO datetime, or ``/Date(ms±hhmm)/``
(xero-python sends the latter)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def ms_date(value: date) -> str:
    """A calendar date as Xero sends it: midnight UTC of that date."""
    moment = datetime.combine(value, time(0, 0), tzinfo=UTC)
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def ms_datetime(value: datetime) -> str:
    return f"/Date({int(value.astimezone(UTC).timestamp() * 1000)}+0000)/"


def ms_now_plain(value: datetime) -> str:
    """The envelope's DateTimeUTC has no offset: ``/Date(1551400031795)/``."""
    return f"/Date({int(value.astimezone(UTC).timestamp() * 1000)})/"


def iso_date_string(value: date) -> str:
    return f"{value.isoformat()}T00:00:00"


def iso_datetime_string(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(value: object) -> date:
    """A request date; raises ValueError for what Xero would reject."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"invalid date {value!r}")
    text = value.strip()
    match = MS_DATE.match(text)
    if match:
        moment = datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
        # The offset is the org's local time: keep the calendar date it names (api-notes §5.1).
        if match.group(2):
            sign = 1 if match.group(2)[0] == "+" else -1
            offset = timedelta(hours=int(match.group(2)[1:3]), minutes=int(match.group(2)[3:5]))
            moment = moment + sign * offset
        return moment.date()
    return datetime.fromisoformat(text.replace("Z", "+00:00")).date() if "T" in text else date.fromisoformat(text)


def parse_if_modified_since(value: str) -> datetime | None:
    """The If-Modified-Since header: ``2020-02-06T12:17:43`` in UTC (api-notes §5.2); also the
    HTTP-date form some clients send. None when unparseable (Xero then ignores it)."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
