"""Smaller Xero behaviours the connector leans on."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone

from sandbox.common.idempotency import request_fingerprint
from sandbox.models import IdempotencyRecord, XeroContact, XeroWebhookEvent
from tests.sandbox.conftest import authorised_invoice


def test_post_with_an_existing_invoice_number_updates_that_invoice(xero, contact_id):
    invoice = authorised_invoice(xero, contact_id, number="UPD-1")
    response = xero.post("/Invoices", {"Invoices": [{"Type": "ACCREC", "InvoiceNumber": "UPD-1", "Reference": "new ref"}]})
    updated = response.json()["Invoices"][0]
    assert updated["InvoiceID"] == invoice["InvoiceID"] and updated["Reference"] == "new ref"


def test_unknown_contact_name_on_an_invoice_creates_the_contact(xero, tenant):
    response = xero.put("/Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"Name": "Walk-in Customer"}}]})
    assert response.status_code == 200
    assert XeroContact.objects.filter(tenant=tenant, name="Walk-in Customer").count() == 1
    again = xero.put("/Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"Name": "walk-in customer"}}]})
    assert again.json()["Invoices"][0]["Contact"]["Name"] == "Walk-in Customer"
    assert XeroContact.objects.filter(tenant=tenant, name__iexact="Walk-in Customer").count() == 1


def test_payment_by_invoice_number(xero, contact_id):
    authorised_invoice(xero, contact_id, number="PAYNUM-1")
    response = xero.put("/Payments", {"Payments": [{"Invoice": {"InvoiceNumber": "PAYNUM-1"}, "Account": {"Code": "090"}, "Date": "2026-01-20", "Amount": 120.0}]})
    assert response.status_code == 200
    assert xero.get("/Invoices/PAYNUM-1", spec=False).json()["Invoices"][0]["Status"] == "PAID"


def test_payment_account_must_take_payments(xero, contact_id):
    invoice = authorised_invoice(xero, contact_id)
    response = xero.put("/Payments", {"Payments": [{"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "429"}, "Date": "2026-01-20", "Amount": 1.0}]})
    assert response.status_code == 400


def test_archived_contacts_only_with_include_archived(xero, contact_id):
    xero.post(f"/Contacts/{contact_id}", {"Contacts": [{"ContactStatus": "ARCHIVED"}]})
    ids = {c["ContactID"] for c in xero.get("/Contacts").json()["Contacts"]}
    assert contact_id not in ids
    ids = {c["ContactID"] for c in xero.get("/Contacts", {"includeArchived": "true"}).json()["Contacts"]}
    assert contact_id in ids


def test_summary_only_contacts_are_lightweight(xero, contact_id):
    contacts = xero.get("/Contacts", {"summaryOnly": "true"}).json()
    assert "pagination" in contacts  # summaryOnly forces paging (api-notes §5.3)
    assert all("Addresses" not in c for c in contacts["Contacts"])


def test_items_post_by_code_updates(xero):
    created = xero.put("/Items", {"Items": [{"Code": "UPD-ITEM", "Name": "Before"}]}).json()["Items"][0]
    updated = xero.post("/Items", {"Items": [{"Code": "UPD-ITEM", "Name": "After"}]}).json()["Items"][0]
    assert updated["ItemID"] == created["ItemID"] and updated["Name"] == "After"


def test_where_on_booleans_and_contains(xero, tenant):
    XeroContact.objects.create(tenant=tenant, name="Supplier Alpha", is_supplier=True)
    names = [c["Name"] for c in xero.get("/Contacts", {"where": 'IsSupplier==true AND Name.Contains("alpha")'}).json()["Contacts"]]
    assert names == ["Supplier Alpha"]


def test_same_key_while_the_first_call_runs_is_refused(xero, xero_app):
    now = timezone.now()
    IdempotencyRecord.objects.create(
        system="xero", scope=xero_app.client_id, key="busy", fingerprint="x" * 64,
        created_at=now, expires_at=now + timedelta(minutes=6),
    )
    different = xero.put("/Contacts", {"Contacts": [{"Name": "Busy Ltd"}]}, headers={"Idempotency-Key": "busy"}, spec=False)
    assert different.status_code == 400
    body = json.dumps({"Contacts": [{"Name": "Busy Ltd"}]}).encode()
    IdempotencyRecord.objects.filter(key="busy").update(
        fingerprint=request_fingerprint(method="PUT", path="/sandbox/xero/api.xro/2.0/contacts", query="", body=body)
    )
    running = xero.put("/Contacts", {"Contacts": [{"Name": "Busy Ltd"}]}, headers={"Idempotency-Key": "busy"}, spec=False)
    assert running.status_code == 409
    assert not XeroContact.objects.filter(name="Busy Ltd").exists()


def test_errors_are_cached_under_the_key(xero, tenant):
    from sandbox.common.faults import fault_setting_update

    fault_setting_update(system="xero", tenant_key=str(tenant.tenant_id), error_rate=1, error_status=500)
    body = {"Contacts": [{"Name": "Cached Error Ltd"}]}
    assert xero.put("/Contacts", body, headers={"Idempotency-Key": "err-1"}, spec=False).status_code == 500
    fault_setting_update(system="xero", tenant_key=str(tenant.tenant_id), error_rate=0)
    # api-notes §4/§5.5: a retry inside the window replays the error, even once Xero recovered.
    assert xero.put("/Contacts", body, headers={"Idempotency-Key": "err-1"}, spec=False).status_code == 500
    assert xero.put("/Contacts", body, headers={"Idempotency-Key": "err-2"}).status_code == 200


def test_accounts_delete_and_system_accounts(xero):
    created = xero.put("/Accounts", {"Code": "4998", "Name": "Temporary", "Type": "EXPENSE"}).json()["Accounts"][0]
    deleted = xero.delete(f"/Accounts/{created['AccountID']}")
    assert deleted.status_code == 200 and deleted.json()["Accounts"][0]["Status"] == "DELETED"
    rounding = xero.get("/Accounts", {"where": 'SystemAccount=="ROUNDING"'}).json()["Accounts"][0]
    assert xero.delete(f"/Accounts/{rounding['AccountID']}").status_code == 400


def test_only_one_account_per_request(xero):
    response = xero.put("/Accounts", {"Accounts": [{"Code": "4801", "Name": "One", "Type": "EXPENSE"}, {"Code": "4802", "Name": "Two", "Type": "EXPENSE"}]}, spec=False)
    assert [a["Code"] for a in response.json()["Accounts"]] == ["4801"]


def test_refresh_token_of_another_app_is_invalid_grant(client, token_set, db):
    import base64

    from sandbox.xero.services import xero_app_create

    other = xero_app_create(name="Other", redirect_uris=["http://localhost/cb"])
    auth = "Basic " + base64.b64encode(f"{other.client_id}:{other.client_secret}".encode()).decode()
    response = client.post("/sandbox/xero/identity/connect/token", {"grant_type": "refresh_token", "refresh_token": token_set["refresh_token"]}, HTTP_AUTHORIZATION=auth)
    assert response.json() == {"error": "invalid_grant"}


def test_webhook_events_only_for_apps_with_a_webhook(xero, xero_app, contact_id):
    authorised_invoice(xero, contact_id)
    assert not XeroWebhookEvent.objects.exists()
