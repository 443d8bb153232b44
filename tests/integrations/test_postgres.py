"""The PostgreSQL list dumper: what it writes reads back as the list it was given (by psycopg's
own array parser and by PostgreSQL), and arrays of awkward text survive a bulk insert (Django's
UNNEST path) unchanged."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st
from psycopg import pq
from psycopg.adapt import AdaptersMap, PyFormat, Transformer
from psycopg.types.json import Jsonb

from integrations.models import AuditEvent
from integrations.postgres import FastListDumper

TEXT_ARRAY = psycopg.adapters.types["text"].array_oid


def _transformer(*, fast: bool) -> Transformer:
    adapters = AdaptersMap(psycopg.adapters)
    if fast:
        adapters.register_dumper(list, FastListDumper)
    return Transformer(adapters)


def _dump(value: list, *, fast: bool) -> bytes:
    dumper = _transformer(fast=fast).get_dumper(value, PyFormat.TEXT)
    assert isinstance(dumper, FastListDumper) is fast
    return bytes(dumper.dump(value))


def _read(literal: bytes) -> list:
    """The literal as psycopg's text[] loader (PostgreSQL's array syntax) reads it."""
    return _transformer(fast=False).get_loader(TEXT_ARRAY, pq.Format.TEXT).load(literal)


AWKWARD = st.one_of(st.just("NULL"), st.just(""), st.text(alphabet=st.sampled_from(['"', "\\", ",", "{", "}", " ", "a", "é", "\n", "'"])))
TEXT = st.one_of(AWKWARD, st.text(st.characters(codec="utf-8", exclude_characters="\x00")))


@given(st.lists(TEXT, min_size=1, max_size=8))
def test_a_flat_list_reads_back_as_itself(values):
    assert _read(_dump(values, fast=True)) == values == _read(_dump(values, fast=False))


@given(st.lists(st.one_of(st.none(), TEXT), max_size=8))
def test_lists_with_nulls_are_dumped_as_psycopg_does(values):
    values = [*values, None]
    assert _dump(values, fast=True) == _dump(values, fast=False)
    assert _read(_dump(values, fast=True)) == values


@given(st.lists(st.lists(st.one_of(st.none(), AWKWARD), min_size=2, max_size=2), max_size=4))
def test_nested_lists_are_dumped_as_psycopg_does(values):
    assert _dump(values, fast=True) == _dump(values, fast=False)


def test_a_nul_inside_an_element_is_refused_as_psycopg_refuses_it():
    for fast in (True, False):
        with pytest.raises(psycopg.DataError, match="NUL"):
            _dump(["a", "b\x00c"], fast=fast)


@pytest.mark.parametrize("cast, values", [
    ("text", ['SO-1 "rush"', "C:\\stock\\", "", "NULL", " padded ", "{braces}", "a,b"]),
    ("numeric", [Decimal("12.50"), Decimal("-0.01"), Decimal("1E+3"), Decimal("0")]),
    ("bigint", [1, -2, 2**40]),
    ("boolean", [True, False]),
    ("uuid", [uuid.UUID(int=1), uuid.uuid4()]),
    ("timestamptz", [datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc), datetime(1999, 12, 31, tzinfo=timezone.utc)]),
    ("jsonb", [Jsonb({"Reference": 'SO "1"', "Path": "C:\\x", "Amount": "1.50"}), Jsonb([]), Jsonb("text")]),
])
def test_postgresql_reads_each_column_type_back(postgres_only, cast, values):
    assert isinstance(connection.connection.adapters.get_dumper(list, PyFormat.TEXT)(list), FastListDumper)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{cast}[]", [values])
        stored = cursor.fetchone()[0]
    if cast == "jsonb":  # Django reads JSON itself: the column's text, parsed
        stored, values = [json.loads(text) for text in stored], [value.obj for value in values]
    assert stored == values


def test_bulk_insert_keeps_quotes_and_backslashes(postgres_only):
    payloads = [{"Reference": 'SO-1 "rush"', "Description": "C:\\stock\\"}, {"Note": '\\"', "Empty": ""}]
    events = AuditEvent.objects.bulk_create(
        AuditEvent(action="record.created", source="worker", object_ref=f'ref "{i}" \\', after=payload)
        for i, payload in enumerate(payloads)
    )
    stored = AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("pk")
    assert [(e.object_ref, e.after) for e in stored] == [('ref "0" \\', payloads[0]), ('ref "1" \\', payloads[1])]
