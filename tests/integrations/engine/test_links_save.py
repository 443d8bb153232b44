"""_links_save: a batch's links written at once (one statement on PostgreSQL), every linked
field as set, no other link touched."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from integrations.engine.pipeline import LINKED_FIELDS, _links_save
from integrations.models import LinkState, RecordLink
from tests.factories import make_connection, make_flow


def _link(source, target, n: int) -> RecordLink:
    return RecordLink.objects.create(source_connection=source, source_type="sales_order", source_id=f"so-{n}",
                                     target_connection=target, target_type="invoice", state=LinkState.PENDING)


@pytest.mark.django_db
def test_each_link_gets_its_own_values_and_the_others_stay():
    source, target = make_connection(system="tims"), make_connection(system="xero")
    run = make_flow(source_connection=source, target_connection=target).runs.create()
    links = [_link(source, target, n) for n in range(3)]
    untouched = _link(source, target, 99)
    when = datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=timezone.utc)
    for n, link in enumerate(links):
        link.target_id = f"inv-{n}" if n != 1 else None  # a pending link keeps no target id
        link.state = LinkState.LINKED if n != 1 else LinkState.UNKNOWN_OUTCOME
        link.payload_hash = f"{n:064d}"
        link.last_run = run
        link.last_synced_at = when
        link.source_updated_at = when.replace(day=n + 1) if n != 2 else None
        link.target_updated_at = None if n == 0 else when.replace(hour=n)
        link.updated_at = when

    _links_save(links)

    for link in links:
        stored = RecordLink.objects.get(pk=link.pk)
        assert {f: getattr(stored, f) for f in LINKED_FIELDS} == {f: getattr(link, f) for f in LINKED_FIELDS}
    stored = RecordLink.objects.get(pk=untouched.pk)
    assert (stored.target_id, stored.state, stored.payload_hash) == (None, LinkState.PENDING, "")
