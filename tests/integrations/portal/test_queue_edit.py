"""Edit and retry: the editor's fields come from the payload's shape, the JSON is checked with
clear messages, the original stays untouched beside the edit, and saving retries."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from integrations.forms import PayloadEditForm
from integrations.models import AuditEvent, ExceptionStatus, RunTrigger, SyncRun
from tests.factories import make_exception
from tests.integrations.portal.queue_fixtures import flows, people  # noqa: F401

pytestmark = pytest.mark.django_db

INVOICE = {
    "type": "ACCREC",
    "number": "SO-1042",
    "reference": "PO 7781",
    "contact": {"remote_id": "c-9", "number": "CUST-0042"},
    "date": "2026-11-02",
    "due_date": "2026-12-02",
    "status": "AUTHORISED",
    "currency_code": "GBP",
    "currency_rate": None,
    "lines": [
        {"description": "Argon 50L", "quantity": "2", "unit_amount": "119.00", "account_code": "2999", "tax_type": "OUTPUT2"},
        {"description": "Delivery", "quantity": "1", "unit_amount": "15.00", "account_code": "260", "tax_type": "OUTPUT2",
         "tracking": [{"name": "Region", "option": "North"}]},
    ],
}


def _data(form: PayloadEditForm, **changes) -> dict:
    """What the browser posts: every field's initial value, then ``changes`` by label path."""
    data = {"payload_json": form.initial["payload_json"]}
    for name, path in form.paths.items():
        value = form.fields[name].initial
        data[name] = "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
    for path, value in changes.items():
        wanted = tuple(int(p) if p.isdigit() else p for p in path.split("__"))
        [name] = [n for n, p in form.paths.items() if p == wanted]
        data[name] = value
    return data


def test_fields_are_derived_from_the_payload_shape():
    form = PayloadEditForm(payload=INVOICE)
    paths = set(form.paths.values())
    assert {("reference",), ("date",), ("due_date",), ("contact", "number"), ("lines", 0, "account_code"),
            ("lines", 1, "tax_type"), ("lines", 0, "unit_amount")} <= paths
    assert ("lines", 1, "tracking") not in paths  # deeper structures stay in the JSON
    sections = {s.title: s for s in form.sections}
    assert sections["Lines"].columns == ["description", "quantity", "unit_amount", "account_code", "tax_type"]
    assert len(sections["Lines"].rows) == 2 and "Contact" in sections
    kinds = {form.paths[name]: type(field).__name__ for name, field in form.fields.items() if name in form.paths}
    assert kinds[("date",)] == "DateField" and kinds[("lines", 0, "unit_amount")] == "DecimalField"


def test_a_changed_field_is_written_into_the_json_and_wins_over_it():
    form = PayloadEditForm(payload=INVOICE)
    edited_json = json.loads(form.initial["payload_json"])
    edited_json["lines"][1]["tracking"][0]["option"] = "South"  # only the JSON edits this
    edited_json["reference"] = "from the json"  # both edit this: the field wins
    data = _data(form, lines__0__account_code="200", reference="PO 7781-A", due_date="2026-12-31",
                 lines__0__unit_amount="120.50")
    data["payload_json"] = json.dumps(edited_json)
    bound = PayloadEditForm(data, payload=INVOICE)
    assert bound.is_valid(), bound.errors
    payload = bound.cleaned_data["payload"]
    assert payload["lines"][0]["account_code"] == "200"
    assert payload["lines"][0]["unit_amount"] == "120.50"  # Decimal kept as an exact string
    assert payload["reference"] == "PO 7781-A" and payload["due_date"] == "2026-12-31"
    assert payload["lines"][1]["tracking"][0]["option"] == "South"
    assert payload["currency_rate"] is None and payload["date"] == "2026-11-02"  # untouched values as they were
    assert INVOICE["lines"][0]["account_code"] == "2999"


@pytest.mark.parametrize("text,message", [
    ('{"number": "SO-1042",}', "does not parse"),
    ('{"number": "SO-1042"\n "type": 1}', "line 2, column 2"),
    ('[{"number": "SO-1042"}]', "must be a JSON object ({ \u2026 }), not a list"),
    ('"SO-1042"', "not a string"),
])
def test_the_json_must_parse_and_be_an_object(text, message):
    form = PayloadEditForm(payload=INVOICE)
    bound = PayloadEditForm({**_data(form), "payload_json": text}, payload=INVOICE)
    assert not bound.is_valid()
    assert message in " ".join(bound.errors["payload_json"])


def test_a_bad_value_in_a_field_is_named():
    form = PayloadEditForm(payload=INVOICE)
    bound = PayloadEditForm(_data(form, date="2 Nov", lines__1__quantity="two"), payload=INVOICE)
    assert not bound.is_valid()
    assert set(bound.errors) == {name for name, path in form.paths.items()
                                 if path in {("date",), ("lines", 1, "quantity")}}


def test_saving_keeps_the_original_stores_the_edit_and_retries(client, people, flows):
    exception = make_exception(flows["orders"], transformed_payload=INVOICE, code="xero.validation.account_code")
    client.force_login(people["finance"])
    url = reverse("integrations:exception_edit", args=[exception.pk])
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Original (as mapped)" in body and "CUST-0042" in body and "Save and retry" in body
    form = page.context["form"]

    bad = client.post(url, {**_data(form), "payload_json": "{oops"})
    assert bad.status_code == 200 and "does not parse" in bad.content.decode()
    exception.refresh_from_db()
    assert exception.edited_payload is None and exception.status == ExceptionStatus.OPEN

    saved = client.post(url, _data(form, lines__0__account_code="200"))
    assert saved.status_code == 302
    exception.refresh_from_db()
    assert exception.transformed_payload == INVOICE
    assert exception.edited_payload["lines"][0]["account_code"] == "200"
    assert exception.edited_payload["lines"][1] == INVOICE["lines"][1]
    assert exception.status == ExceptionStatus.RETRYING and exception.next_attempt_at is not None
    assert SyncRun.objects.filter(flow=flows["orders"], trigger=RunTrigger.RETRY).count() == 1
    edited, retried = (AuditEvent.objects.get(action=a) for a in ("exception.edited", "exception.retried"))
    assert edited.correlation_id == retried.correlation_id
    assert edited.before == INVOICE and edited.after == exception.edited_payload
    assert edited.description == "finance edited the payload of salesorder " + exception.record_ref

    # Editing again starts from the previous edit, and says so.
    again = client.get(url).content.decode()
    assert "You are editing the previous edit" in again and "&quot;200&quot;" in again


def test_a_record_without_a_payload_has_nothing_to_edit(client, people, flows):
    exception = make_exception(flows["orders"], transformed_payload=None, stage="extract")
    client.force_login(people["finance"])
    response = client.get(reverse("integrations:exception_edit", args=[exception.pk]), follow=True)
    assert "nothing to edit" in response.content.decode()
    assert "Edit and retry</a>" not in response.content.decode()
