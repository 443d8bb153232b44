"""Every XeroClient operation against the respx stand-in (tests/connectors/xero/fakes.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest

from connectors.base import ErrorClass, NotFound, ReauthorizationRequired, UnknownOutcome, ValidationFailed, registry
from connectors.canonical import (
    BankTransaction,
    Contact,
    ContactRef,
    CreditNote,
    Invoice,
    Item,
    ItemPriceDetails,
    JournalLine,
    Line,
    LineAmountType,
    ManualJournal,
    Payment,
)
from connectors.http import json_dumps
from connectors.xero.client import BATCH_LIMIT, XeroClient
from tests.connectors.xero.fakes import TENANT_ID, xero_json


def invoice(number: str, *, contact_id: str = "c0ffee00-0000-4000-8000-000000000001", account: str = "200", amount: str = "100.00") -> Invoice:
    return Invoice(
        type="ACCREC",
        contact=ContactRef(remote_id=contact_id),
        number=number,
        reference=f"SO-{number}",
        date=date(2026, 11, 2),
        due_date=date(2026, 12, 2),
        status="AUTHORISED",
        line_amount_types=LineAmountType.EXCLUSIVE,
        currency_code="NZD",
        lines=[Line(description="Roses, dozen", quantity=Decimal("2"), unit_amount=Decimal(amount) / 2, account_code=account, tax_type="OUTPUT2")],
    )


def test_registry_builds_a_xero_client(fake, store):
    from tests.connectors.xero.conftest import SETTINGS

    factory = registry.get("xero")
    client = factory(SETTINGS, token_store=store)
    assert isinstance(client, XeroClient)
    assert client.check()["organisation_id"] == TENANT_ID


def test_the_client_is_a_connector(client):
    from connectors.base import Connector

    assert isinstance(client, Connector)
    assert XeroClient.entities == {"contact", "item", "invoice", "credit_note", "payment", "manual_journal", "bank_transaction",
                                   "tracking_category", "tracking_option"}


def test_unknown_entities_are_refused(client):
    with pytest.raises(ValueError):
        list(client.list_records("opportunity"))


def test_access_token_is_read_from_the_store_only_near_expiry(client, fake, store):
    loads = []
    real_load = store.load
    store.load = lambda: loads.append(1) or real_load()
    for _ in range(3):
        client.check()
    assert len(loads) == 1


def test_every_api_call_carries_tenant_json_and_bearer(client, fake):
    client.check()
    request = fake.requests[-1]
    assert request.headers["xero-tenant-id"] == TENANT_ID
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Authorization"].startswith("Bearer at-")
    assert request.headers["X-Correlation-Id"]


# --- Invoices ---------------------------------------------------------------------------------


def test_create_invoices_maps_every_element_to_its_source(client, fake):
    results = client.create_invoices({"so-1": invoice("INV-1"), "so-2": invoice("INV-2", amount="12.34")})
    assert [r.source_ref for r in results] == ["so-1", "so-2"]
    assert all(r.ok and r.remote_id for r in results)
    assert results[1].record.total == Decimal("12.34")
    request = fake.requests[-1]
    assert request.method == "PUT"
    assert request.url.params["summarizeErrors"] == "false"
    assert request.headers["Idempotency-Key"]
    sent = request.content.decode()
    assert '"UnitAmount":6.17' in sent and '"Date":"2026-11-02"' in sent  # exact decimals, ISO dates


def test_batch_of_50_with_3_invalid_creates_47_and_reports_the_3(client, fake):
    batch = {f"so-{i}": invoice(f"INV-{i:03d}") for i in range(50)}
    batch["so-7"] = invoice("INV-007", account="999")
    batch["so-21"].contact = ContactRef()
    fake.put_record("Invoices", {"Type": "ACCREC", "InvoiceNumber": "INV-033", "Status": "DRAFT", "Contact": {"ContactID": "x"}})
    results = client.create_invoices(batch)
    assert len(results) == 50
    failed = {r.source_ref: r for r in results if not r.ok}
    assert set(failed) == {"so-7", "so-21", "so-33"}
    assert failed["so-7"].errors == ("Account code '999' is not a valid code for this document.",)
    assert failed["so-21"].errors == ("A Contact must be specified for this type of transaction",)
    assert failed["so-33"].errors == ("Invoice # must be unique.",)
    assert all(r.error_class is ErrorClass.VALIDATION for r in failed.values())
    created = [r for r in results if r.ok]
    assert len(created) == 47
    # Each success carries the id Xero gave the invoice with that number.
    by_number = {r["InvoiceNumber"]: r["InvoiceID"] for r in fake.data["Invoices"].values()}
    assert all(r.remote_id == by_number[r.record.number] for r in created)
    assert all(r.record.number == batch[r.source_ref].number for r in created)
    assert len(fake.requests) == 1  # one call for the whole batch


def test_results_are_matched_by_number_even_if_xero_reorders(client, fake):
    def reversed_answer():
        saved = [
            fake.put_record("Invoices", {"Type": "ACCREC", "InvoiceNumber": number, "Status": "DRAFT", "Contact": {}})
            for number in ("A-1", "A-2")
        ]
        return xero_json({"Invoices": [{**r, "StatusAttributeString": "OK"} for r in reversed(saved)]})

    fake.answer_next(lambda r: r.method == "PUT", reversed_answer)
    results = client.create_invoices({"first": invoice("A-1"), "second": invoice("A-2")})
    ids = {r["InvoiceNumber"]: r["InvoiceID"] for r in fake.data["Invoices"].values()}
    assert [r.remote_id for r in results] == [ids["A-1"], ids["A-2"]]


def test_more_than_50_is_refused_before_any_call(client, fake):
    with pytest.raises(ValueError):
        client.create_invoices({f"k{i}": invoice(f"N{i}") for i in range(BATCH_LIMIT + 1)})
    assert fake.requests == []


def test_same_batch_same_idempotency_key_different_batch_different_key(client, fake):
    client.create_invoices({"a": invoice("K-1")})
    client.create_invoices({"a": invoice("K-2")})
    fake.data["Invoices"].clear()
    client.create_invoices({"a": invoice("K-1")})
    keys = [r.headers["Idempotency-Key"] for r in fake.requests]
    assert keys[0] != keys[1] and keys[0] == keys[2]
    assert len(keys[0]) <= 128


def test_dropped_connection_after_commit_is_settled_by_lookup_not_duplicated(client, fake):
    fake.drop_after_commit.add("PUT Invoices")
    batch = {"so-9001": invoice("INV-9001")}
    with pytest.raises(UnknownOutcome) as caught:
        client.create_invoices(batch)
    assert caught.value.error_class is ErrorClass.TRANSIENT
    puts = [r for r in fake.requests if r.method == "PUT"]
    assert len(puts) == 1  # not retried blindly
    found = client.find_invoices_by_number(["INV-9001"])
    assert len(found) == 1 and found[0].number == "INV-9001"
    # The caller links the found invoice instead of creating it again.
    assert [i for i in fake.data["Invoices"].values() if i["InvoiceNumber"] == "INV-9001"] == [fake.data["Invoices"][found[0].remote_id]]
    assert len([r for r in fake.requests if r.method == "PUT"]) == 1


def test_settle_a_lost_batch_element_by_element(client, fake):
    fake.drop_after_commit.add("PUT Invoices")
    batch = {"so-1": invoice("ST-1"), "so-2": invoice("ST-2", account="999"), "so-3": invoice("ST-3"), "so-4": invoice("")}
    with pytest.raises(UnknownOutcome):
        client.create_invoices(batch)
    # A bill from someone else with the same number is not ours.
    fake.put_record("Invoices", {"Type": "ACCREC", "InvoiceNumber": "ST-3", "Status": "DRAFT", "Contact": {"ContactID": "another-contact"}})
    results = {r.source_ref: r for r in client.settle_records("invoice", batch)}
    ours = next(i for i in fake.data["Invoices"].values() if i["InvoiceNumber"] == "ST-1")
    assert results["so-1"].ok and results["so-1"].remote_id == ours["InvoiceID"]
    assert results["so-2"].error_class is ErrorClass.NOT_FOUND  # refused by Xero: create it again
    assert results["so-3"].ok and results["so-3"].record.contact.remote_id == batch["so-3"].contact.remote_id
    assert results["so-4"].error_class is ErrorClass.DUPLICATE  # no number to look it up by
    assert len([r for r in fake.requests if r.method == "PUT"]) == 1


def test_settle_reports_several_matches_as_possible_duplicates(client, fake):
    for _ in range(2):
        fake.put_record("Invoices", {"Type": "ACCPAY", "InvoiceNumber": "BILL-9", "Status": "DRAFT", "Contact": {"ContactID": "sup-1"}})
    bill = invoice("BILL-9", contact_id="sup-1")
    bill.type = "ACCPAY"
    [result] = client.settle_records("invoice", {"po-9": bill})
    assert result.error_class is ErrorClass.DUPLICATE and "2 records" in result.errors[0]


def test_update_invoices_needs_ids_and_posts(client, fake):
    created = client.create_invoices({"a": invoice("U-1")})[0]
    with pytest.raises(ValueError):
        client.update_invoices({"a": invoice("U-1")})
    changed = created.record
    changed.reference = "New reference"
    result = client.update_invoices({"a": changed})[0]
    assert result.ok and result.remote_id == created.remote_id
    assert fake.data["Invoices"][created.remote_id]["Reference"] == "New reference"
    assert fake.requests[-1].method == "POST"
    # Line ids are echoed, so Xero updates the lines instead of re-creating them (§6.2).
    assert '"LineItemID"' in fake.requests[-1].content.decode()


def test_list_invoices_modified_since_pages_and_streams(client, fake):
    client.page_size = 3
    for i in range(7):
        fake.put_record("Invoices", {"Type": "ACCREC", "InvoiceNumber": f"L-{i}", "Status": "AUTHORISED", "Contact": {"ContactID": "c"}, "LineItems": [{"Description": "x", "LineAmount": Decimal("1.00")}]})
    since = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=13)))
    stream = client.list_invoices(modified_since=since)
    first = next(stream)
    assert len(fake.requests) == 1  # a generator: only the first page was fetched
    rest = list(stream)
    assert [first.number, *[i.number for i in rest]] == [f"L-{i}" for i in range(7)]
    assert all(i.lines for i in rest)  # paged GETs carry line items
    pages = [r.url.params["page"] for r in fake.requests]
    assert pages == ["1", "2", "3"]
    assert fake.requests[0].headers["If-Modified-Since"] == "2026-01-01T14:04:05"


def test_list_invoices_by_status(client, fake):
    fake.put_record("Invoices", {"Type": "ACCREC", "InvoiceNumber": "S-1", "Status": "DRAFT", "Contact": {}})
    fake.put_record("Invoices", {"Type": "ACCREC", "InvoiceNumber": "S-2", "Status": "PAID", "Contact": {}})
    assert [i.number for i in client.list_invoices(statuses=["PAID"])] == ["S-2"]


def test_get_invoices_by_ids_in_chunks_of_40(client, fake):
    ids = [fake.put_record("Invoices", {"Type": "ACCREC", "InvoiceNumber": f"G-{i}", "Status": "DRAFT", "Contact": {}})["InvoiceID"] for i in range(45)]
    found = client.get_invoices(ids + ["00000000-0000-0000-0000-000000000000"])
    assert {i.remote_id for i in found} == set(ids)
    assert [len(r.url.params["IDs"].split(",")) for r in fake.requests] == [40, 6]


def test_find_invoices_by_number_sends_numbers_with_commas_through_where(client, fake):
    fake.put_record("Invoices", {"Type": "ACCREC", "InvoiceNumber": "INV-1", "Status": "DRAFT", "Contact": {}})
    fake.put_record("Invoices", {"Type": "ACCREC", "InvoiceNumber": "INV-2,A", "Status": "DRAFT", "Contact": {}})
    assert sorted(i.number for i in client.find_invoices_by_number(["INV-1", "INV-2,A"])) == ["INV-1", "INV-2,A"]
    assert [r.url.params.get("InvoiceNumbers") for r in fake.requests] == ["INV-1", None]
    assert fake.requests[1].url.params["where"] == 'InvoiceNumber=="INV-2,A"'


def test_find_invoices_by_reference_uses_an_escaped_where(client, fake):
    fake.put_record("Invoices", {"Type": "ACCPAY", "InvoiceNumber": "B-1", "Reference": 'PO "77"', "Status": "DRAFT", "Contact": {}})
    fake.put_record("Invoices", {"Type": "ACCPAY", "InvoiceNumber": "B-1", "Reference": "PO 78", "Status": "DRAFT", "Contact": {}})
    found = client.find_invoices_by_reference(['PO "77"'])
    assert [i.reference for i in found] == ['PO "77"']
    assert fake.requests[-1].url.params["where"] == 'Reference=="PO \\"77\\""'


def test_void_and_delete_invoice(client, fake):
    authorised = fake.put_record("Invoices", {"Type": "ACCREC", "InvoiceNumber": "V-1", "Status": "AUTHORISED", "Contact": {}})
    draft = fake.put_record("Invoices", {"Type": "ACCREC", "InvoiceNumber": "V-2", "Status": "DRAFT", "Contact": {}})
    assert client.void_invoice(authorised["InvoiceID"]).status == "VOIDED"
    assert client.delete_invoice(draft["InvoiceID"]).status == "DELETED"
    assert fake.requests[-1].method == "POST" and fake.requests[-1].url.path.endswith(draft["InvoiceID"])
    with pytest.raises(ValidationFailed) as caught:
        client.void_invoice(draft["InvoiceID"])  # already deleted
    assert caught.value.message == "Invoice not of valid status for modification"
    assert caught.value.elements == [{"index": 0, "messages": ["Invoice not of valid status for modification"]}]
    with pytest.raises(NotFound):
        client.void_invoice("00000000-0000-0000-0000-00000000dead")


# --- Contacts, items ------------------------------------------------------------------------------


def test_contacts_create_find_get_update_list(client, fake):
    results = client.create_contacts({
        "cust-1": Contact(name="Maple Florists", number="CUST-1", email="a@maple.example"),
        "cust-2": Contact(name="Maple Florists", number="CUST-2"),
    })
    assert results[0].ok and not results[1].ok
    assert "must be unique across all active contacts" in results[1].errors[0]
    found = client.find_contacts_by_number(["CUST-1", "CUST-404"])
    assert [c.remote_id for c in found] == [results[0].remote_id]
    assert client.get_contacts([results[0].remote_id])[0].email == "a@maple.example"
    contact = found[0]
    contact.email = "b@maple.example"
    assert client.update_contacts({"cust-1": contact})[0].ok
    assert [c.email for c in client.list_contacts()] == ["b@maple.example"]
    # IsCustomer/IsSupplier are read-only in Xero: never sent.
    assert "IsCustomer" not in fake.requests[-2].content.decode()


def test_items_create_find_get_update_delete(client, fake):
    item = Item(code="ROSE-12", name="Roses, dozen", sales=ItemPriceDetails(unit_price=Decimal("24.9900"), account_code="200", tax_type="OUTPUT2"))
    created = client.create_items({"p-1": item})[0]
    assert created.ok and created.record.sales.unit_price == Decimal("24.9900")
    assert [i.code for i in client.find_items_by_code(["ROSE-12"])] == ["ROSE-12"]
    assert client.get_items([created.remote_id])[0].name == "Roses, dozen"
    changed = created.record
    changed.name = "Roses (12)"
    assert client.update_items({"p-1": changed})[0].ok
    assert [i.name for i in client.list_items()] == ["Roses (12)"]
    client.delete_item(created.remote_id)
    assert client.get_items([created.remote_id]) == []


# --- Payments, credit notes, journals, bank transactions ------------------------------------------


def test_payments_create_find_list_delete(client, fake):
    inv = client.create_invoices({"a": invoice("P-1", amount="50.00")})[0]
    results = client.create_payments({
        "pay-1": Payment(amount=Decimal("20.00"), date=date(2026, 11, 3), invoice_id=inv.remote_id, account_code="090", reference="RCPT-1"),
        "pay-2": Payment(amount=Decimal("999.00"), date=date(2026, 11, 3), invoice_number="P-1", account_code="090", reference="RCPT-2"),
    })
    assert results[0].ok and results[0].record.payment_type == "ACCRECPAYMENT"
    assert results[1].errors == ("Payment amount exceeds the amount outstanding on this document",)
    assert fake.data["Invoices"][inv.remote_id]["AmountDue"] == Decimal("30.00")
    assert [p.reference for p in client.find_payments_by_reference(["RCPT-1"])] == ["RCPT-1"]
    assert [p.amount for p in client.list_payments()] == [Decimal("20.00")]
    deleted = client.delete_payment(results[0].remote_id)
    assert deleted.status == "DELETED"
    assert fake.requests[-1].content == b'{"Status":"DELETED"}'
    assert fake.data["Invoices"][inv.remote_id]["AmountDue"] == Decimal("50.00")


def test_credit_notes_create_and_list(client, fake):
    note = CreditNote(type="ACCRECCREDIT", contact=ContactRef(remote_id="c1"), number="CN-1", date=date(2026, 11, 4), lines=[Line(description="Wilted", quantity=Decimal("1"), unit_amount=Decimal("5.50"), account_code="200")])
    result = client.create_credit_notes({"rma-1": note})[0]
    assert result.ok and result.record.total == Decimal("5.50")
    assert [n.number for n in client.list_credit_notes()] == ["CN-1"]


def test_manual_journals_create_list_and_unbalanced_refused(client, fake):
    balanced = ManualJournal(narration="GL 2026-11 accruals", date=date(2026, 11, 30), lines=[JournalLine("400", Decimal("100.00")), JournalLine("800", Decimal("-100.00"))])
    unbalanced = ManualJournal(narration="GL broken", lines=[JournalLine("400", Decimal("100.00")), JournalLine("800", Decimal("-10.00"))])
    results = client.create_manual_journals({"gl-1": balanced, "gl-2": unbalanced})
    assert results[0].ok
    assert results[1].errors == ("The total debits (100.00) must equal total credits (-10.00)",)
    journals = list(client.list_manual_journals())
    assert [j.narration for j in journals] == ["GL 2026-11 accruals"]
    assert [line.amount for line in journals[0].lines] == [Decimal("100.00"), Decimal("-100.00")]
    assert [j.narration for j in client.find_records("manual_journal", ["GL 2026-11 accruals"])] == ["GL 2026-11 accruals"]


def test_bank_transactions_create_find_list(client, fake):
    spend = BankTransaction(type="SPEND", bank_account_code="090", contact=ContactRef(remote_id="c1"), reference="GL-55", date=date(2026, 11, 5), lines=[Line(description="Courier", quantity=Decimal("1"), unit_amount=Decimal("18.20"), account_code="400")])
    result = client.create_bank_transactions({"gl-55": spend})[0]
    assert result.ok and result.record.total == Decimal("18.20")
    assert '"BankAccount":{"Code":"090"}' in fake.requests[-1].content.decode()
    assert [t.reference for t in client.find_bank_transactions_by_reference(["GL-55"])] == ["GL-55"]
    assert [t.type for t in client.list_bank_transactions()] == ["SPEND"]


# --- Tracking, accounts, tax rates ---------------------------------------------------------------


def test_tracking_categories_and_options(client, fake):
    region = client.create_tracking_category("Region")
    client.create_tracking_category("Department")
    with pytest.raises(ValidationFailed) as caught:
        client.create_tracking_category("Channel")
    assert caught.value.message == "You can only have 2 active tracking categories."
    option = client.create_tracking_option(region.remote_id, "North")
    listed = {c.name: c for c in client.list_tracking_categories()}
    assert [o.name for o in listed["Region"].options] == ["North"]
    client.delete_tracking_option(region.remote_id, option.remote_id)
    archived = client.archive_tracking_category(region.remote_id)
    assert archived.status == "ARCHIVED"
    assert [c.name for c in client.list_tracking_categories()] == ["Department"]
    assert {c.name for c in client.list_tracking_categories(include_archived=True)} == {"Region", "Department"}


def test_accounts_and_tax_rates_are_cached_with_a_ttl(fake, store):
    from connectors.xero import connect
    from tests.connectors.xero.conftest import SETTINGS

    now = [1000.0]
    client = connect(SETTINGS, token_store=store)
    client._clock = lambda: now[0]
    assert {a.code for a in client.accounts()} >= {"200", "090"}
    assert client.unknown_codes(account_codes=["200", "999"], tax_types=["OUTPUT2", "GST15"]) == [
        "Account code 999 is not an active account in this Xero organisation.",
        "Tax type GST15 is not an active tax rate in this Xero organisation.",
    ]
    calls = len(fake.requests)
    client.accounts(), client.tax_rates()
    assert len(fake.requests) == calls  # both served from the cache
    now[0] += 601
    client.accounts()
    assert len(fake.requests) == calls + 1
    client.tax_rates(refresh=True)
    assert len(fake.requests) == calls + 2


# --- Failures through the client -----------------------------------------------------------------


def test_expired_access_token_is_refreshed_once_and_the_call_retried(client, fake, store):
    fake.access_tokens.clear()  # Xero no longer accepts the stored access token
    assert client.check()["name"] == "Maple Florists Ltd"
    assert [c["grant_type"] for c in fake.token_calls] == [["refresh_token"]]
    assert store.load().access_token in fake.access_tokens


def test_wrong_tenant_needs_reauthorisation(fake, store):
    from connectors.base import ConnectionSettings
    from connectors.xero import connect
    from tests.connectors.xero.conftest import SETTINGS

    wrong = ConnectionSettings(system="xero", tenant_id="not-a-tenant", credentials=SETTINGS.credentials)
    with pytest.raises(ReauthorizationRequired) as caught:
        connect(wrong, token_store=store).check()
    assert caught.value.message == "AuthenticationUnsuccessful"
    assert caught.value.status_code == 403


def test_transient_503_is_retried_with_backoff(client, fake, sleeps):
    fake.answer_next(lambda r: True, lambda: httpx.Response(503, text="Organisation offline"))
    fake.answer_next(lambda r: True, lambda: httpx.Response(503, text="Organisation offline"))
    assert client.check()["name"]
    assert len(sleeps) == 2 and 0 < sleeps[0] < sleeps[1]


def test_a_dry_run_shows_exactly_the_body_a_write_sends(client, fake):
    draft = invoice("DRY-1", amount="12.34")
    preview = client.encode_record("invoice", draft)
    created = client.create_invoices({"so-1": draft})[0]
    assert fake.requests[-1].content.decode() == json_dumps(preview)  # Decimals digit for digit
    changed = created.record
    changed.reference = "New reference"
    preview = client.encode_record("invoice", changed, update=True)
    client.update_invoices({"so-1": changed})
    assert fake.requests[-1].content.decode() == json_dumps(preview)
    assert preview["Invoices"][0]["InvoiceID"] == created.remote_id
    with pytest.raises(ValueError):
        client.encode_record("sales_order", draft)
