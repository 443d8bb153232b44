"""Canonical records as plain data for the mapping: what ``dataclasses.asdict`` gives, with the
mapping free to change it without touching the record."""

from __future__ import annotations

import dataclasses

from connectors.tims import codecs
from integrations.engine.records import record_data
from tests.connectors.tims.fakes import example


def test_record_data_is_asdict_and_independent_of_the_record():
    order = codecs.decode_sales_order(example("SalesOrder"))
    data = record_data(order)
    assert data == dataclasses.asdict(order)
    assert isinstance(data["lines"], list) and isinstance(data["lines"][0], dict)
    data["lines"][0]["description"] = "changed by a mapping"
    data["lines"].append({})
    assert order.lines[0].description != "changed by a mapping" and len(order.lines) == len(data["lines"]) - 1


def test_record_data_of_a_mapping_is_a_copy():
    source = {"name": "Acme", "tags": ["a"]}
    data = record_data(source)
    assert data == source and data is not source
