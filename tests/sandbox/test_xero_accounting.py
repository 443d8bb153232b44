"""The Accounting API behaves as Xero does: envelopes, errors, batches, filters, paging."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from sandbox.models import XeroContact
from tests.sandbox.conftest import authorised_invoice

MS_DATE = re.compile(r"^/Date\(\d+\+0000\)/$")


def test_envelope_and_dates(xero, contact_id):
    invoice = authorised_invoice(xero, contact_id)
    response = xero.get(f"/Invoices/{invoice['InvoiceID']}")
    body = response.json()
    assert response.status_code == 200
    assert body["Status"] == "OK" and body["ProviderName"] and re.match(r"^/Date\(\d+\)/$", body["DateTimeUTC"])
    fetched = body["Invoices"][0]
    assert fetched["Date"] == "/Date(1768435200000+0000)/" and fetched["DateString"] == "2026-01-15T00:00:00"
    assert MS_DATE.match(fetched["UpdatedDateUTC"])
    assert isinstance(fetched["Total"], float) and fetched["Total"] == 120.0


def test_tenant_header_and_token_required(client, xero):
    assert client.get("/sandbox/xero/api.xro/2.0/Contacts").status_code == 401
    missing = client.get("/sandbox/xero/api.xro/2.0/Contacts", HTTP_AUTHORIZATION=f"Bearer {xero.token}")
    assert missing.status_code == 403
    assert missing.json() | {"Instance": None} == {
        "Type": None, "Title": "Forbidden", "Status": 403, "Detail": "AuthenticationUnsuccessful", "Instance": None, "Extensions": {}
    }
    other = xero.get("/Contacts", headers={"xero-tenant-id": "00000000-0000-0000-0000-000000000001"}, spec=False)
    assert other.status_code == 403
    bad = xero.get("/Contacts", headers={"Authorization": "Bearer nope"}, spec=False)
    assert bad.status_code == 401 and bad.json()["Title"] == "Unauthorized"


def test_expired_token_is_401_token_expired(xero, token_set):
    from sandbox.models import XeroAccessToken

    XeroAccessToken.objects.filter(token=xero.token).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = xero.get("/Contacts", spec=False)
    assert response.status_code == 401 and response.json()["Detail"].startswith("TokenExpired")


def test_validation_exception_shape(xero):
    response = xero.put("/Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {}, "LineItems": []}]})
    assert response.status_code == 400
    body = response.json()
    assert body["ErrorNumber"] == 10 and body["Type"] == "ValidationException"
    assert body["Elements"][0]["ValidationErrors"][0]["Message"].startswith("The Contact must contain at least 1")


def test_batch_with_summarize_errors_false_returns_each_element(xero, contact_id):
    good = {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": "B-1", "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}]}
    duplicate = dict(good)
    response = xero.put("/Invoices", {"Invoices": [good, duplicate]}, query="summarizeErrors=false")
    assert response.status_code == 200
    first, second = response.json()["Invoices"]
    assert first["StatusAttributeString"] == "OK" and first["InvoiceID"]
    assert second["StatusAttributeString"] == "ERROR"
    assert second["ValidationErrors"] == [{"Message": "Invoice # must be unique."}]


def test_batch_without_summarize_keeps_valid_elements_and_returns_400(xero, contact_id):
    good = {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": "S-1", "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}]}
    bad = {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "999"}], "Status": "AUTHORISED"}
    response = xero.put("/Invoices", {"Invoices": [good, bad]})
    assert response.status_code == 400 and len(response.json()["Elements"]) == 1
    # api-notes §4: the valid element was created although the call answered 400.
    assert xero.get("/Invoices", {"InvoiceNumbers": "S-1"}).json()["Invoices"]


def test_idempotency_key_replays_refuses_and_expires(xero, xero_app):
    body = {"Contacts": [{"Name": "Idempotent Ltd"}]}
    first = xero.put("/Contacts", body, headers={"Idempotency-Key": "key-1"})
    again = xero.put("/Contacts", body, headers={"Idempotency-Key": "KEY-1"})  # not case-sensitive
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert XeroContact.objects.filter(name="Idempotent Ltd").count() == 1
    different = xero.put("/Contacts", {"Contacts": [{"Name": "Other Ltd"}]}, headers={"Idempotency-Key": "key-1"}, spec=False)
    assert different.status_code == 400 and "used with a different request" in different.json()["Message"]
    from sandbox.models import IdempotencyRecord

    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    after_expiry = xero.put("/Contacts", body, headers={"Idempotency-Key": "key-1"})
    assert after_expiry.status_code == 400  # a new request now: the name is taken
    assert "already assigned" in after_expiry.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    assert xero_app.idempotency_ttl_seconds == 360


def test_paging_and_page_size_clamp(xero, tenant):
    for index in range(5):
        XeroContact.objects.create(tenant=tenant, name=f"Paged {index}")
    page = xero.get("/Contacts", {"page": 2, "pageSize": 2}).json()
    assert page["pagination"] == {"page": 2, "pageSize": 2, "pageCount": 4, "itemCount": 8}
    assert len(page["Contacts"]) == 2
    clamped = xero.get("/Contacts", {"page": 1, "pageSize": 5000}).json()
    assert clamped["pagination"]["pageSize"] == 1000


def test_list_without_page_has_no_line_items(xero, contact_id):
    authorised_invoice(xero, contact_id)
    summary = xero.get("/Invoices").json()["Invoices"][0]
    assert "LineItems" not in summary and "pagination" not in xero.get("/Invoices").json()
    assert xero.get("/Invoices", {"page": 1}).json()["Invoices"][0]["LineItems"]


def test_if_modified_since(xero, tenant):
    old = XeroContact.objects.create(tenant=tenant, name="Old One")
    XeroContact.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    names = {c["Name"] for c in xero.get("/Contacts", headers={"If-Modified-Since": since}).json()["Contacts"]}
    assert "Old One" not in names and "Ridgeway University" in names


def test_where_order_and_id_filters(xero, contact_id):
    a = authorised_invoice(xero, contact_id, amount=10.0, number="W-1")
    b = authorised_invoice(xero, contact_id, amount=50.0, number="W-2")
    draft = xero.put("/Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": "W-3"}]}).json()["Invoices"][0]
    def numbers(params):
        response = xero.get("/Invoices", params)
        assert response.status_code == 200, response.content
        return [i["InvoiceNumber"] for i in response.json()["Invoices"]]
    assert numbers({"where": 'Status=="AUTHORISED" AND AmountDue>=60', "order": "InvoiceNumber"}) == ["W-2"]
    assert numbers({"where": f'Contact.ContactID==Guid("{contact_id}") AND (InvoiceNumber=="W-1" OR InvoiceNumber=="W-3")', "order": "InvoiceNumber DESC"}) == ["W-3", "W-1"]
    assert numbers({"where": 'Date>=DateTime(2026, 01, 01) AND Status!="DRAFT"', "order": "InvoiceNumber"}) == ["W-1", "W-2"]
    assert numbers({"IDs": f"{a['InvoiceID']},{draft['InvoiceID']}", "order": "InvoiceNumber"}) == ["W-1", "W-3"]
    assert numbers({"InvoiceNumbers": "W-2", "ContactIDs": contact_id}) == ["W-2"]
    assert numbers({"Statuses": "DRAFT", "page": 1}) == ["W-3"]
    assert b["AmountDue"] == 60.0
    bad = xero.get("/Invoices", {"where": "Nope==1"}, spec=False)
    assert bad.status_code == 400 and bad.json()["Type"] == "QueryParseException"


def test_contact_uniqueness_and_post_update(xero, contact_id):
    duplicate = xero.put("/Contacts", {"Contacts": [{"Name": "fixture customer ltd"}]})
    assert duplicate.status_code == 400
    number_clash = xero.put("/Contacts", {"Contacts": [{"Name": "Another", "ContactNumber": "FIX-1"}]})
    assert "contact number FIX-1 is already assigned" in number_clash.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    updated = xero.post(f"/Contacts/{contact_id}", {"Contacts": [{"EmailAddress": "ap@fixture.example"}]})
    assert updated.json()["Contacts"][0]["EmailAddress"] == "ap@fixture.example"
    by_number = xero.get("/Contacts/FIX-1")
    assert by_number.json()["Contacts"][0]["ContactID"] == contact_id


def test_accpay_numbers_are_not_unique(xero, contact_id):
    first = authorised_invoice(xero, contact_id, type_="ACCPAY", number="BILL-1")
    second = authorised_invoice(xero, contact_id, type_="ACCPAY", number="BILL-1")
    assert first["InvoiceID"] != second["InvoiceID"]


def test_item_code_limit_and_uniqueness(xero):
    too_long = xero.put("/Items", {"Items": [{"Code": "X" * 31}]}, spec=False)
    assert too_long.status_code == 400
    assert xero.put("/Items", {"Items": [{"Code": "X" * 30, "Name": "Thirty"}]}).status_code == 200
    assert xero.put("/Items", {"Items": [{"Code": "X" * 30}]}).status_code == 400
    items = xero.get("/Items").json()["Items"]
    assert any(item["Code"] == "X" * 30 for item in items)


def test_tracking_categories_at_most_two_active(xero):
    assert xero.put("/TrackingCategories", {"Name": "Department"}).status_code == 200  # Region exists
    third = xero.put("/TrackingCategories", {"Name": "Project"})
    assert third.status_code == 400
    assert third.json()["Elements"][0]["ValidationErrors"][0]["Message"] == "You can only have 2 active tracking categories."
    categories = xero.get("/TrackingCategories").json()["TrackingCategories"]
    department = next(c for c in categories if c["Name"] == "Department")
    option = xero.put(f"/TrackingCategories/{department['TrackingCategoryID']}/Options", {"Name": "Sales"})
    assert option.status_code == 200 and option.json()["Options"][0]["Name"] == "Sales"


def test_settings_endpoints(xero, tenant):
    organisation = xero.get("/Organisation").json()["Organisations"][0]
    assert organisation["OrganisationID"] == str(tenant.tenant_id) and organisation["BaseCurrency"] == "GBP"
    rates = {r["TaxType"]: r["EffectiveRate"] for r in xero.get("/TaxRates").json()["TaxRates"]}
    assert rates["OUTPUT2"] == 20.0
    accounts = xero.get("/Accounts", {"where": 'SystemAccount=="ROUNDING"'}).json()["Accounts"]
    assert [a["Code"] for a in accounts] == ["860"]
    assert {c["Code"] for c in xero.get("/Currencies").json()["Currencies"]} >= {"GBP", "EUR"}
    created = xero.put("/Accounts", {"Code": "4999", "Name": "Consulting income", "Type": "REVENUE"})
    assert created.status_code == 200 and created.json()["Accounts"][0]["Class"] == "REVENUE"
    assert xero.put("/Accounts", {"Code": "5000", "Name": "Consulting income", "Type": "REVENUE"}).status_code == 400


def test_bank_transaction_and_tax_override_refused(xero, contact_id):
    spend = {"Type": "SPEND", "Contact": {"ContactID": contact_id}, "BankAccount": {"Code": "090"}, "LineItems": [{"Description": "Paper", "Quantity": 1, "UnitAmount": 12, "AccountCode": "461", "TaxType": "INPUT2"}]}
    response = xero.put("/BankTransactions", {"BankTransactions": [spend]})
    assert response.status_code == 200
    assert response.json()["BankTransactions"][0]["Total"] == 14.4
    spend["LineItems"][0]["TaxAmount"] = 1.0
    assert xero.put("/BankTransactions", {"BankTransactions": [spend]}).status_code == 400


def test_xml_unless_json_is_asked_for(client, xero, contact_id):
    from xml.etree.ElementTree import fromstring

    response = client.get(
        f"/sandbox/xero/api.xro/2.0/Contacts/{contact_id}",
        HTTP_AUTHORIZATION=f"Bearer {xero.token}",
        HTTP_XERO_TENANT_ID=xero.tenant_id,
    )
    assert response["Content-Type"].startswith("text/xml")
    root = fromstring(response.content)
    assert root.tag == "Response" and root.findtext("Status") == "OK"
    contact = root.find("Contacts/Contact")
    assert contact.findtext("ContactID") == contact_id and contact.findtext("IsCustomer") == "false"
    assert "/Date(" not in response.content.decode()


def test_too_many_ids_in_the_url_is_404(xero):
    import uuid

    forty = ",".join(str(uuid.uuid4()) for _ in range(40))
    assert xero.get("/Contacts", {"IDs": forty}).status_code == 200
    sixty = ",".join(str(uuid.uuid4()) for _ in range(60))
    assert xero.get("/Contacts", {"IDs": sixty}, spec=False).status_code == 404
