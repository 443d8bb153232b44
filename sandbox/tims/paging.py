"""Cursor paging in (``updated_at``, ``id``) order, the contract's way.

The cursor holds the sort key of the last item returned, the list's filters and an expiry,
signed so that a changed or forged cursor is refused (400 ``invalid-cursor``). The next page
starts strictly after that key, so a record updated while a client pages moves ahead of the
cursor and is returned again later: never skipped, sometimes seen twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import QueryDict

from sandbox.tims.numbers import parse_timestamp
from sandbox.tims.problems import ApiProblem, bad_request, field_error

CURSOR_SECONDS = 24 * 3600
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


@dataclass(frozen=True)
class Filter:
    """One query parameter: ``parse`` raises ValueError on a bad value; ``apply`` narrows."""

    parse: Callable[[str], Any]
    apply: Callable[[QuerySet, Any], QuerySet]


@dataclass
class Page:
    items: list
    next_cursor: str | None

    def as_json(self, to_json: Callable) -> dict:
        return self.with_data([to_json(item) for item in self.items])

    def with_data(self, data: list) -> dict:
        """The page's body around ``data``, its items' JSON made for the whole page at once."""
        return {"data": data, "next_cursor": self.next_cursor}


def _sign(payload: bytes) -> str:
    key = hashlib.sha256(("tims-cursor:" + settings.SECRET_KEY).encode()).digest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()[:24]


def encode_cursor(*, at: datetime, ident: str, filters: dict[str, str]) -> str:
    payload = json.dumps(
        {"u": at.isoformat(), "i": ident, "f": filters, "e": int(time.time()) + CURSOR_SECONDS},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + _sign(payload)


def decode_cursor(cursor: str) -> dict:
    try:
        encoded, signature = cursor.rsplit(".", 1)
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        if not hmac.compare_digest(_sign(payload), signature):
            raise ValueError("bad signature")
        data = json.loads(payload)
        data["u"] = datetime.fromisoformat(data["u"])
    except (ValueError, KeyError, TypeError):
        raise ApiProblem(400, "invalid-cursor", "The cursor is not one this site issued.") from None
    if data.get("e", 0) < time.time():
        raise ApiProblem(400, "invalid-cursor", "The cursor has expired (cursors last 24 hours).")
    return data


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise bad_request("limit must be an integer.", [field_error("limit", "invalid_type", "limit must be an integer.")]) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(
            f"limit must be between 1 and {MAX_LIMIT}.", [field_error("limit", "out_of_range", f"limit must be between 1 and {MAX_LIMIT}.")]
        )
    return limit


def updated_since_filter(field: str = "updated_at") -> Filter:
    return Filter(parse_timestamp, lambda qs, value: qs.filter(**{f"{field}__gte": value}))


def paginate(
    queryset: QuerySet,
    query: QueryDict,
    filters: dict[str, Filter],
    *,
    time_field: str = "updated_at",
    id_field: str = "id",
) -> Page:
    """One page of ``queryset`` for the request's ``query`` (cursor, limit and ``filters``)."""
    unknown = [name for name in query if name not in filters and name not in ("cursor", "limit")]
    if unknown:
        raise bad_request(
            f"Unknown query parameter: {', '.join(unknown)}.",
            [field_error(name, "unknown_field", f"Unknown query parameter {name!r}.") for name in unknown],
        )
    limit = _limit(query.get("limit"))
    given = {name: query.get(name) for name in query if name in filters}
    after = None
    if query.get("cursor") is not None:
        cursor = decode_cursor(query["cursor"])
        if given and given != cursor["f"]:
            raise ApiProblem(400, "invalid-cursor", "Send a cursor with the same filters as the first page.")
        given = cursor["f"]
        after = (cursor["u"], cursor["i"])
    errors = []
    for name, raw in given.items():
        try:
            value = filters[name].parse(raw)
        except (ValueError, TypeError) as exc:
            errors.append(field_error(name, "invalid_value", f"{name}: {exc}"))
            continue
        queryset = filters[name].apply(queryset, value)
    if errors:
        raise bad_request("Invalid query parameter.", errors)
    if after is not None:
        queryset = queryset.filter(Q(**{f"{time_field}__gt": after[0]}) | Q(**{time_field: after[0], f"{id_field}__gt": after[1]}))
    items = list(queryset.order_by(time_field, id_field)[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = encode_cursor(at=getattr(last, time_field), ident=getattr(last, id_field), filters=given)
    return Page(items, next_cursor)
