"""Cursor paging: (updated_at, id) order, inclusive updated_since, and records that change
while a client pages (returned again later, never skipped)."""

from __future__ import annotations

from datetime import timedelta

from sandbox.models import TimsCustomer
from sandbox.tims.masterdata import customer_update
from sandbox.tims.records import user_actor
from tests.sandbox.tims_support import problem_type

V1 = "/api/v1"
CLERK = user_actor("clerk", "Clerk")


def make_customers(api, count: int) -> list[str]:
    ids = []
    for n in range(count):
        response = api.post(f"{V1}/customers", {"name": f"Customer {n:02d}", "currency": "GBP"})
        assert response.status_code == 201
        ids.append(response.json()["id"])
    return ids


def keys(items):
    return [(item["updated_at"], item["id"]) for item in items]


def test_pages_are_in_updated_at_then_id_order(tims):
    make_customers(tims, 7)
    items = tims.walk(f"{V1}/customers", limit=3)
    assert len(items) == 7 and keys(items) == sorted(keys(items))


def test_records_changed_while_paging_are_seen_again_never_skipped(tims, tims_site):
    ids = make_customers(tims, 9)
    seen = []
    page = tims.get(f"{V1}/customers", {"limit": 3}).json()
    seen += page["data"]
    # Between pages: one record already returned and one not yet returned both change.
    customer_update(customer=TimsCustomer.objects.get(pk=seen[0]["id"]), body={"phone": "+44 1"}, actor=CLERK)
    customer_update(customer=TimsCustomer.objects.get(pk=ids[5]), body={"phone": "+44 2"}, actor=CLERK)
    cursor = page["next_cursor"]
    while cursor:
        page = tims.get(f"{V1}/customers", {"cursor": cursor, "limit": 3}).json()
        seen += page["data"]
        cursor = page["next_cursor"]
    returned = [item["id"] for item in seen]
    assert set(returned) == set(ids)  # nothing skipped
    assert seen[0]["id"] == ids[0]
    assert returned.count(ids[0]) == 2  # already read, changed, and returned again
    assert returned.count(ids[5]) == 1  # changed before its turn: returned once, at its new place
    assert returned[-2:] == [ids[0], ids[5]]  # both moved behind the cursor, in update order
    latest = {item["id"]: item["version"] for item in seen}
    assert latest[ids[5]] == 2


def test_updated_since_is_inclusive(tims):
    make_customers(tims, 3)
    items = tims.walk(f"{V1}/customers")
    mark = items[1]["updated_at"]
    since = tims.get(f"{V1}/customers", {"updated_since": mark}).json()["data"]
    assert [i["id"] for i in since] == [i["id"] for i in items[1:]]
    # Any offset is accepted; answers are in UTC with a Z.
    later = TimsCustomer.objects.get(pk=items[2]["id"]).updated_at + timedelta(hours=1)
    shifted = later.astimezone().isoformat()
    assert tims.get(f"{V1}/customers", {"updated_since": shifted}).json()["data"] == []


def test_cursor_carries_the_filters_and_refuses_others(tims):
    make_customers(tims, 4)
    first = tims.get(f"{V1}/customers", {"status": "active", "limit": 2}).json()
    cursor = first["next_cursor"]
    assert tims.get(f"{V1}/customers", {"cursor": cursor, "limit": 2}).status_code == 200
    assert tims.get(f"{V1}/customers", {"cursor": cursor, "status": "active", "limit": 2}).status_code == 200
    other = tims.get(f"{V1}/customers", {"cursor": cursor, "status": "inactive"})
    assert other.status_code == 400 and problem_type(other) == "invalid-cursor"
    forged = tims.get(f"{V1}/customers", {"cursor": cursor[:-2] + ("aa" if not cursor.endswith("aa") else "bb")})
    assert forged.status_code == 400 and problem_type(forged) == "invalid-cursor"


def test_bad_parameters_are_400(tims):
    for params in ({"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"colour": "red"}, {"updated_since": "yesterday"}, {"status": "gone"}, {"external_ref": "Xero"}):
        response = tims.get(f"{V1}/customers", params)
        assert response.status_code == 400 and problem_type(response) == "bad-request", params
        assert response.json()["errors"][0]["field"] == next(iter(params))
    assert tims.get(f"{V1}/salesorders", {"status": "shipped,shipped"}).status_code == 400
    assert tims.get(f"{V1}/salesorders", {"status": "shipped,completed"}).status_code == 200


def test_a_page_costs_a_few_queries_whatever_its_size(tims, tims_site, django_assert_max_num_queries):
    from sandbox.tims.services import tims_demo_seed

    tims_demo_seed(site=tims_site, seed=1)
    for path in ("customers", "vendors", "salesorders", "purchaseorders", "vendorbills", "accounts/receivable/invoices", "payments", "inventory/items", "gl/entries", "dimensions"):
        # About 22 for the token, the rate window, the in-flight lease and faults (savepoints
        # included), then the page and its prefetches: never a query per row.
        with django_assert_max_num_queries(32):
            response = tims.get(f"{V1}/{path}", {"limit": 500})
        assert response.status_code == 200 and len(response.json()["data"]) >= 3, path


def test_a_listed_sales_order_reads_as_the_order_alone(tims, tims_site):
    """A page loads the lines, invoices and customers of all its orders at once; each order
    must still read exactly as ``GET /salesorders/{id}`` answers it."""
    from sandbox.models import TimsReceivableInvoice, TimsSalesOrder
    from sandbox.tims.services import tims_demo_seed

    tims_demo_seed(site=tims_site, seed=1)
    invoice = TimsReceivableInvoice.objects.filter(site=tims_site, sales_order__isnull=False).order_by("invoice_number").first()
    order = invoice.sales_order
    # Tax-inclusive amounts change the tax totals; a second invoice issued in the same instant
    # sorts by id.
    TimsSalesOrder.objects.filter(pk=order.pk).update(amounts_tax_inclusive=True)
    invoice.pk, invoice.invoice_number = None, invoice.invoice_number + "-B"
    invoice.save()
    listed = tims.walk(f"{V1}/salesorders", limit=7)
    assert len(listed) == TimsSalesOrder.objects.filter(site=tims_site).count()
    by_id = {item["id"]: item for item in listed}
    assert len(by_id[order.id]["invoice_ids"]) == 2 and by_id[order.id]["amounts_tax_inclusive"]
    for item in listed:
        assert item == tims.get(f"{V1}/salesorders/{item['id']}").json()
