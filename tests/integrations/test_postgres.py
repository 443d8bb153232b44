"""The PostgreSQL list dumper gives psycopg's own bytes, and arrays of awkward text survive a
bulk insert (Django's UNNEST path) unchanged."""

from __future__ import annotations

import psycopg
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st
from psycopg.adapt import AdaptersMap, PyFormat, Transformer

from integrations.models import AuditEvent
from integrations.postgres import FastListDumper


def _dump(value: list, *, fast: bool) -> bytes:
    adapters = AdaptersMap(psycopg.adapters)
    if fast:
        adapters.register_dumper(list, FastListDumper)
    dumper = Transformer(adapters).get_dumper(value, PyFormat.TEXT)
    assert isinstance(dumper, FastListDumper) is fast
    return bytes(dumper.dump(value))


AWKWARD = st.one_of(st.just("NULL"), st.text(alphabet=st.sampled_from(['"', "\\", ",", "{", "}", " ", "a", "é", "\n", "'"])))


@given(st.lists(st.one_of(st.none(), AWKWARD, st.text(st.characters(codec="utf-8", exclude_characters="\x00"))), max_size=8))
def test_dumps_lists_of_text_as_psycopg_does(values):
    assert _dump(values, fast=True) == _dump(values, fast=False)


@given(st.lists(st.lists(st.one_of(st.none(), AWKWARD), min_size=2, max_size=2), max_size=4))
def test_dumps_nested_lists_as_psycopg_does(values):
    assert _dump(values, fast=True) == _dump(values, fast=False)


def test_bulk_insert_keeps_quotes_and_backslashes(postgres_only):
    payloads = [{"Reference": 'SO-1 "rush"', "Description": "C:\\stock\\"}, {"Note": '\\"', "Empty": ""}]
    events = AuditEvent.objects.bulk_create(
        AuditEvent(action="record.created", source="worker", object_ref=f'ref "{i}" \\', after=payload)
        for i, payload in enumerate(payloads)
    )
    assert isinstance(connection.connection.adapters.get_dumper(list, PyFormat.TEXT)(list), FastListDumper)
    stored = AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("pk")
    assert [(e.object_ref, e.after) for e in stored] == [('ref "0" \\', payloads[0]), ('ref "1" \\', payloads[1])]
