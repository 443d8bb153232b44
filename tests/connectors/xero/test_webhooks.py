from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone

import pytest

from connectors.base import MappingFailed
from connectors.xero.webhooks import parse_events, signature_is_valid

KEY = "webhook-signing-key"
# The payload of xero-webhooks.yaml, with its whitespace: the signature covers these bytes.
BODY = b"""{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Contacts/717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",
 "resourceId":"717f2bfc-c6d4-41fd-b238-3f2f0c0cf777","eventDateUtc":"2017-06-21T01:15:39.902",
 "eventType":"UPDATE","eventCategory":"CONTACT","tenantId":"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f",
 "tenantType":"ORGANISATION"}],"lastEventSequence":1,"firstEventSequence":1,"entropy":"S0m3r4Nd0mt3xt"}"""


def sign(body: bytes, key: str = KEY) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def test_signature_over_the_raw_bytes():
    assert signature_is_valid(BODY, sign(BODY), KEY)
    reserialised = BODY.replace(b"\n ", b"")
    assert not signature_is_valid(reserialised, sign(BODY), KEY)
    assert not signature_is_valid(BODY, sign(BODY, "another key"), KEY)
    assert not signature_is_valid(BODY, None, KEY)
    assert not signature_is_valid(BODY, "", KEY)
    assert not signature_is_valid(BODY, sign(BODY), "")


def test_parse_events_reads_utc_times_and_entities():
    [event] = parse_events(BODY)
    assert event.entity == "contact" and event.event_type == "UPDATE"
    assert event.occurred_at == datetime(2017, 6, 21, 1, 15, 39, 902000, tzinfo=timezone.utc)
    assert event.dedup_key == "xero:c2cc9b6e-9458-4c7d-93cc-f02b81b0594f:717f2bfc-c6d4-41fd-b238-3f2f0c0cf777:UPDATE:2017-06-21T01:15:39.902000+00:00"


def test_intent_to_receive_has_no_events():
    assert parse_events(b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"x"}') == []


def test_malformed_payloads_are_mapping_errors():
    with pytest.raises(MappingFailed):
        parse_events(b"not json")
    with pytest.raises(MappingFailed):
        parse_events(b'{"events":[{"eventCategory":"INVOICE"}]}')
