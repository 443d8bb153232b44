"""The Xero emulator's tracking categories and options, and tracking on lines (api-notes §6.6)."""

from __future__ import annotations

import pytest

from tests.sandbox.conftest import authorised_invoice

pytestmark = pytest.mark.django_db


def _category(xero, name: str) -> dict:
    response = xero.put("/TrackingCategories", {"Name": name})
    assert response.status_code == 200, response.content
    return response.json()["TrackingCategories"][0]


def _option(xero, category: dict, name: str) -> dict:
    response = xero.put(f"/TrackingCategories/{category['TrackingCategoryID']}/Options", {"Name": name})
    assert response.status_code == 200, response.content
    return response.json()["Options"][0]


def _messages(response) -> list[str]:
    return [e["Message"] for element in response.json()["Elements"] for e in element["ValidationErrors"]]


def test_restoring_an_archived_category_counts_against_the_two_active(xero):
    branch = _category(xero, "Branch")  # Region (the samples) and Branch: two active
    path = f"/TrackingCategories/{branch['TrackingCategoryID']}"
    assert xero.post(path, {"Status": "ARCHIVED"}).json()["TrackingCategories"][0]["Status"] == "ARCHIVED"
    department = _category(xero, "Department")
    restored = xero.post(path, {"Status": "ACTIVE"})
    assert restored.status_code == 400
    assert _messages(restored) == ["You can only have 2 active tracking categories."]
    active = {c["Name"] for c in xero.get("/TrackingCategories").json()["TrackingCategories"]}
    assert active == {"Region", department["Name"]}
    everything = xero.get("/TrackingCategories", {"includeArchived": "true"}).json()["TrackingCategories"]
    assert {c["Name"]: c["Status"] for c in everything}["Branch"] == "ARCHIVED"


def test_lines_keep_their_tracking_and_unknown_names_are_refused(xero, contact_id):
    region = next(c for c in xero.get("/TrackingCategories").json()["TrackingCategories"] if c["Name"] == "Region")
    north = next(o for o in region["Options"] if o["Name"] == "North")
    line = {"Description": "Consulting", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200", "TaxType": "OUTPUT2"}
    invoice = authorised_invoice(xero, contact_id, LineItems=[{**line, "Tracking": [{"Name": "region", "Option": "north"}]}])
    stored = xero.get(f"/Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]["LineItems"][0]["Tracking"]
    assert [(t["Name"], t["Option"], t["TrackingCategoryID"], t["TrackingOptionID"]) for t in stored] == [
        ("Region", "North", region["TrackingCategoryID"], north["TrackingOptionID"])]

    def refused(tracking) -> list[str]:
        body = {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [{**line, "Tracking": tracking}]}
        response = xero.put("/Invoices", {"Invoices": [body]}, spec=False)
        assert response.status_code == 400
        return _messages(response)

    assert refused([{"Name": "Branch", "Option": "Leeds"}]) == ["Tracking category 'Branch' is not valid."]
    assert refused([{"Name": "Region", "Option": "East"}]) == ["Tracking option 'East' is not valid for category 'Region'."]
    assert refused([{"Name": "Region", "Option": "North"}] * 3) == ["A maximum of 2 tracking categories can be applied to a line."]


def test_an_option_in_use_is_archived_not_deleted(xero, contact_id):
    department = _category(xero, "Department")
    sales, spare = _option(xero, department, "Sales"), _option(xero, department, "Spare")
    base = f"/TrackingCategories/{department['TrackingCategoryID']}/Options"
    journal = {"Narration": "Accrual", "Status": "POSTED", "JournalLines": [
        {"LineAmount": 50, "AccountCode": "429", "Tracking": [{"Name": "Department", "Option": "Sales"}]},
        {"LineAmount": -50, "AccountCode": "200"}]}
    assert xero.put("/ManualJournals", {"ManualJournals": [journal]}).status_code == 200

    in_use = xero.delete(f"{base}/{sales['TrackingOptionID']}", spec=False)
    assert in_use.status_code == 400 and "Archive it instead" in _messages(in_use)[0]
    renamed = xero.post(f"{base}/{sales['TrackingOptionID']}", {"Name": "Sales UK", "Status": "ARCHIVED"})
    answer = renamed.json()["Options"][0]
    assert (answer["TrackingOptionID"], answer["Name"], answer["Status"]) == (sales["TrackingOptionID"], "Sales UK", "ARCHIVED")
    assert xero.delete(f"{base}/{spare['TrackingOptionID']}").json()["Options"][0]["Status"] == "DELETED"
    everything = xero.get("/TrackingCategories", {"includeArchived": "true"}).json()["TrackingCategories"]
    options = next(c for c in everything if c["Name"] == "Department")["Options"]
    assert [(o["Name"], o["Status"]) for o in options] == [("Sales UK", "ARCHIVED")]
