"""Every connector operation against the Xero sandbox (sandbox/xero), served by pytest-django's
live_server: real HTTP, real OAuth, the emulator's own validation, limits and faults."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.sandbox.conftest import steady_window_offset

from connectors.base import (
    ConnectionSettings,
    InMemoryTokenStore,
    MemoryCallRecorder,
    NotFound,
    RateLimited,
    ReauthorizationRequired,
    TokenSet,
    UnknownOutcome,
    ValidationFailed,
    registry,
)
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
    TrackingRef,
)
from connectors.http import RetryPolicy
from connectors.rate import InProcessRateBudget
from connectors.xero import XERO_RATE_LIMITS, XeroClient, connect, xero_oauth

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Sandbox:
    url: str
    tenant_id: str
    settings: ConnectionSettings
    recorder: MemoryCallRecorder

    def oauth(self):
        return xero_oauth(self.settings, recorder=self.recorder)

    def consent(self) -> TokenSet:
        """The person's part of the flow, on the sandbox's consent page; then the code is
        exchanged like in production."""
        oauth = self.oauth()
        url, state = oauth.authorization_url()
        assert url.startswith(f"{self.url}/sandbox/xero/identity/connect/authorize?")
        with httpx.Client() as browser:
            page = browser.get(url)
            assert page.status_code == 200, page.text
            form = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            answer = browser.post(
                url.split("?")[0],
                data={**form, "tenant": self.tenant_id, "allow": "Allow access", "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            )
        assert answer.status_code == 302, answer.text
        returned = parse_qs(urlsplit(answer.headers["Location"]).query)
        assert returned["state"] == [state]
        return oauth.exchange_code(returned["code"][0], state=returned["state"][0], expected_state=state)

    def client(self, store: InMemoryTokenStore, **kwargs) -> XeroClient:
        return connect(self.settings, token_store=store, recorder=self.recorder, **kwargs)

    def set_faults(self, **values) -> None:
        httpx.put(f"{self.url}/sandbox/faults/xero/{self.tenant_id}", json=values).raise_for_status()


@pytest.fixture
def sandbox(live_server) -> Sandbox:
    from sandbox.xero.services import xero_app_create, xero_tenant_create, xero_tenant_set_limits

    tenant = xero_tenant_create(name="Connector Tests Ltd", with_chart=True, with_samples=True)
    xero_tenant_set_limits(tenant=tenant, minute=None, day=None, concurrent=None)
    redirect_uri = f"{live_server.url}/callback"
    app = xero_app_create(name="Ledgerbridge connector tests", redirect_uris=[redirect_uri])
    settings = ConnectionSettings(
        system="xero",
        base_url=f"{live_server.url}/sandbox",
        tenant_id=str(tenant.tenant_id),
        credentials={"client_id": app.client_id, "client_secret": app.client_secret, "redirect_uri": redirect_uri},
    )
    return Sandbox(url=live_server.url, tenant_id=str(tenant.tenant_id), settings=settings, recorder=MemoryCallRecorder())


@pytest.fixture
def store(sandbox) -> InMemoryTokenStore:
    return InMemoryTokenStore(sandbox.consent())


@pytest.fixture
def client(sandbox, store):
    xero = sandbox.client(store)
    yield xero
    xero.close()


def sales_invoice(number: str, contact_id: str, *, account: str = "200", amount: str = "100.00") -> Invoice:
    return Invoice(
        type="ACCREC",
        contact=ContactRef(remote_id=contact_id),
        number=number,
        reference=f"SO-{number}",
        date=date(2026, 11, 2),
        due_date=date(2026, 12, 2),
        status="AUTHORISED",
        line_amount_types=LineAmountType.EXCLUSIVE,
        lines=[Line(description="Consulting", quantity=Decimal("1"), unit_amount=Decimal(amount), account_code=account, tax_type="OUTPUT2")],
    )


@pytest.fixture
def customer_id(client) -> str:
    return client.find_contacts_by_number(["CUST-001"])[0].remote_id


# --- Identity ------------------------------------------------------------------------------------


def test_consent_exchange_connections_and_check(sandbox, store, client):
    oauth = sandbox.oauth()
    tenants = oauth.list_connections(store.load().access_token)
    assert [t.tenant_id for t in tenants] == [sandbox.tenant_id]
    assert tenants[0].tenant_name == "Connector Tests Ltd" and tenants[0].created_at.tzinfo is timezone.utc
    assert client.check()["name"] == "Connector Tests Ltd"
    assert registry.get("xero") is connect
    oauth.delete_connection(store.load().access_token, tenants[0].connection_id)
    assert oauth.list_connections(store.load().access_token) == []
    with pytest.raises(ReauthorizationRequired):
        client.check()  # 403: the tenant is no longer connected


def test_refresh_rotates_and_the_old_token_is_refused_after(sandbox, store):
    oauth = sandbox.oauth()
    before = store.load()
    fresh = oauth.refresh(InMemoryTokenStore(TokenSet(access_token=before.access_token, refresh_token=before.refresh_token, expires_at=datetime.now(timezone.utc))))
    assert fresh.refresh_token != before.refresh_token
    # A second refresh of the already-rotated token in the grace period replays the same
    # answer instead of minting another pair (api-notes/xero.md §1.2).
    stale = InMemoryTokenStore(TokenSet(access_token="old", refresh_token=before.refresh_token, expires_at=datetime.now(timezone.utc)))
    assert oauth.refresh(stale).refresh_token == fresh.refresh_token
    with pytest.raises(ReauthorizationRequired) as caught:
        oauth.refresh(InMemoryTokenStore(TokenSet(access_token="x", refresh_token="never-issued", expires_at=datetime.now(timezone.utc))))
    assert caught.value.code == "invalid_grant"


def test_revoke_ends_the_grant(sandbox, store):
    oauth = sandbox.oauth()
    tokens = store.load()
    oauth.revoke(tokens.refresh_token)
    with pytest.raises(ReauthorizationRequired) as caught:
        oauth.refresh(InMemoryTokenStore(TokenSet(access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_at=datetime.now(timezone.utc))))
    assert caught.value.code == "invalid_grant"
    revocations = [c for c in sandbox.recorder.calls if c.path.endswith("/revocation")]
    assert [c.status_code for c in revocations] == [200]


def test_two_threads_refreshing_at_once_refresh_exactly_once(sandbox, store):
    current = store.load()
    shared = InMemoryTokenStore(TokenSet(access_token=current.access_token, refresh_token=current.refresh_token, expires_at=datetime.now(timezone.utc) + timedelta(seconds=10)))
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def work() -> None:
        xero = sandbox.client(shared)
        start.wait()
        try:
            outcomes.append(xero.check()["name"])
        except Exception as exc:  # collected: the assertion names it
            outcomes.append(exc)
        finally:
            xero.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["Connector Tests Ltd", "Connector Tests Ltd"]
    token_calls = [c for c in sandbox.recorder.calls if c.path.endswith("/identity/connect/token")]
    assert len(token_calls) == 2  # the consent's code exchange, then exactly one refresh
    assert shared.saves == 1 and all(c.status_code == 200 for c in token_calls)


def test_custom_connection_uses_client_credentials(live_server):
    from sandbox.xero.services import xero_app_create, xero_tenant_create

    tenant = xero_tenant_create(name="Custom Org", with_chart=True)
    app = xero_app_create(name="Custom", custom_connection_tenant=tenant)
    settings = ConnectionSettings(system="xero", base_url=f"{live_server.url}/sandbox", credentials={"client_id": app.client_id, "client_secret": app.client_secret})
    tokens = xero_oauth(settings).client_credentials()
    assert tokens.refresh_token is None
    # No tenant header on a custom connection (api-notes/xero.md §1.5); an expired token is
    # renewed with client credentials again.
    store = InMemoryTokenStore(TokenSet(access_token=tokens.access_token, expires_at=datetime.now(timezone.utc)))
    assert connect(settings, token_store=store).check()["name"] == "Custom Org"
    assert store.saves == 1


# --- Contacts and items --------------------------------------------------------------------------


def test_contacts(client):
    results = client.create_contacts({
        "tims-c-1": Contact(name="Harbour Florists", number="TIMS-C-1", email="ap@harbour.example"),
        "tims-c-2": Contact(name="Ridgeway University", number="TIMS-C-2"),  # the name is taken
    })
    assert results[0].ok and results[0].record.number == "TIMS-C-1"
    assert not results[1].ok and results[1].errors and "Ridgeway University" in results[1].errors[0]
    created = client.get_contacts([results[0].remote_id])[0]
    assert created.email == "ap@harbour.example"
    created.email = "finance@harbour.example"
    assert client.update_contacts({"tims-c-1": created})[0].ok
    assert client.find_contacts_by_number(["TIMS-C-1"])[0].email == "finance@harbour.example"
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert "Harbour Florists" in {c.name for c in client.list_contacts(modified_since=since)}
    assert list(client.list_contacts(modified_since=datetime.now(timezone.utc) + timedelta(hours=1))) == []
    assert {"Ridgeway University", "Harbour Florists"} <= {c.name for c in client.list_contacts()}


def test_items(client):
    created = client.create_items({"p-1": Item(code="ROSE-12", name="Roses, dozen", sales=ItemPriceDetails(unit_price=Decimal("24.99"), account_code="200", tax_type="OUTPUT2"))})[0]
    assert created.ok and created.record.sales.unit_price == Decimal("24.99")
    assert [i.code for i in client.find_items_by_code(["ROSE-12"])] == ["ROSE-12"]
    item = client.get_items([created.remote_id])[0]
    item.name = "Roses (12)"
    assert client.update_items({"p-1": item})[0].ok
    assert "Roses (12)" in {i.name for i in client.list_items()}
    client.delete_item(created.remote_id)
    assert client.find_items_by_code(["ROSE-12"]) == []


# --- Invoices ------------------------------------------------------------------------------------


def test_invoices_create_list_get_find_update_void_delete(client, customer_id):
    results = client.create_invoices({f"so-{i}": sales_invoice(f"SB-{i}", customer_id) for i in range(5)})
    assert all(r.ok for r in results)
    ids = [r.remote_id for r in results]
    assert {i.remote_id for i in client.get_invoices(ids)} == set(ids)
    assert [i.number for i in client.find_invoices_by_number(["SB-3"])] == ["SB-3"]
    assert [i.number for i in client.find_invoices_by_reference(["SO-SB-4"])] == ["SB-4"]
    client.page_size = 2
    listed = list(client.list_invoices(modified_since=datetime.now(timezone.utc) - timedelta(minutes=5)))
    assert {i.number for i in listed} >= {f"SB-{i}" for i in range(5)}
    assert all(i.lines for i in listed)  # paged, so with line items
    assert [i.number for i in client.list_invoices(statuses=["AUTHORISED"], where='Reference=="SO-SB-1"')] == ["SB-1"]
    invoice = results[0].record
    invoice.reference = "Changed"
    updated = client.update_invoices({"so-0": invoice})[0]
    assert updated.ok and updated.record.reference == "Changed"
    assert client.void_invoice(ids[1]).status == "VOIDED"
    draft = client.create_invoices({"draft": Invoice(type="ACCREC", contact=ContactRef(remote_id=customer_id), number="SB-DRAFT", lines=[Line(description="x", quantity=Decimal("1"), unit_amount=Decimal("1.00"), account_code="200")])})[0]
    assert client.delete_invoice(draft.remote_id).status == "DELETED"
    with pytest.raises(ValidationFailed):
        client.void_invoice(draft.remote_id)
    assert client.get_records("payment", ["00000000-0000-0000-0000-000000000000"]) == []
    with pytest.raises(NotFound):
        client.void_invoice("00000000-0000-0000-0000-000000000000")


def test_batch_of_50_with_3_invalid_creates_47_and_maps_the_3_back(client, customer_id):
    batch = {f"tims-so-{i:02d}": sales_invoice(f"B50-{i:02d}", customer_id) for i in range(50)}
    batch["tims-so-05"] = sales_invoice("B50-05", customer_id, account="999")
    batch["tims-so-17"] = sales_invoice("B50-17", "00000000-0000-0000-0000-0000000000aa")
    batch["tims-so-42"].lines = []  # an AUTHORISED invoice needs lines
    results = client.create_invoices(batch)
    assert len(results) == 50 and [r.source_ref for r in results] == list(batch)
    failed = {r.source_ref: r for r in results if not r.ok}
    assert set(failed) == {"tims-so-05", "tims-so-17", "tims-so-42"}
    assert all(r.errors and all(isinstance(m, str) and m for m in r.errors) for r in failed.values())
    created = [r for r in results if r.ok]
    assert len(created) == 47
    found = client.find_invoices_by_number([batch[r.source_ref].number for r in created])
    assert {i.remote_id for i in found} == {r.remote_id for r in created}
    assert client.find_invoices_by_number(["B50-05", "B50-17", "B50-42"]) == []


def test_dropped_connection_after_commit_is_found_by_number_not_duplicated(sandbox, client, customer_id):
    sandbox.set_faults(drop_rate=1, seed=1)
    with pytest.raises(UnknownOutcome):
        client.create_invoices({"tims-so-77": sales_invoice("UO-77", customer_id)})
    sandbox.set_faults(drop_rate=0)
    puts = [c for c in sandbox.recorder.calls if c.method == "PUT"]
    assert len(puts) == 1 and puts[0].status_code is None
    found = client.find_invoices_by_number(["UO-77"])
    assert len(found) == 1  # it was created: link it, do not create it again
    [settled] = client.settle_records("invoice", {"tims-so-77": sales_invoice("UO-77", customer_id)})
    assert settled.ok and settled.remote_id == found[0].remote_id
    assert len([i for i in client.list_invoices() if i.number == "UO-77"]) == 1


def test_same_batch_again_inside_the_window_is_not_applied_twice(client, customer_id):
    batch = {"tims-so-1": sales_invoice("IDEM-1", customer_id)}
    first = client.create_invoices(batch)
    second = client.create_invoices(batch)  # same body, same Idempotency-Key: Xero replays
    assert first[0].ok and second[0].remote_id == first[0].remote_id
    assert len(client.find_invoices_by_number(["IDEM-1"])) == 1


# --- Payments, credit notes, journals, bank transactions -------------------------------------------


def test_payments(client, customer_id):
    invoice = client.create_invoices({"so": sales_invoice("PAY-1", customer_id, amount="50.00")})[0]
    total = invoice.record.total
    results = client.create_payments({
        "rcpt-1": Payment(amount=Decimal("20.00"), date=date(2026, 11, 3), invoice_id=invoice.remote_id, account_code="090", reference="RCPT-1"),
        "rcpt-2": Payment(amount=total * 10, date=date(2026, 11, 3), invoice_number="PAY-1", account_code="090", reference="RCPT-2"),
    })
    assert results[0].ok and results[0].record.amount == Decimal("20.00")
    assert not results[1].ok and results[1].errors
    assert client.get_invoices([invoice.remote_id])[0].amount_due == total - Decimal("20.00")
    assert [p.reference for p in client.find_payments_by_reference(["RCPT-1"])] == ["RCPT-1"]
    assert "RCPT-1" in {p.reference for p in client.list_payments()}
    assert client.delete_payment(results[0].remote_id).status == "DELETED"
    assert client.get_invoices([invoice.remote_id])[0].amount_due == total


def test_credit_notes(client, customer_id):
    note = CreditNote(type="ACCRECCREDIT", contact=ContactRef(remote_id=customer_id), number="CN-1", date=date(2026, 11, 4), status="AUTHORISED", lines=[Line(description="Refund", quantity=Decimal("1"), unit_amount=Decimal("5.50"), account_code="200", tax_type="OUTPUT2")])
    result = client.create_credit_notes({"rma-1": note})[0]
    assert result.ok and result.record.sub_total == Decimal("5.50")
    assert "CN-1" in {n.number for n in client.list_credit_notes()}


def test_manual_journals(client):
    results = client.create_manual_journals({
        "gl-1": ManualJournal(narration="TIMS GL 2026-11 accruals", date=date(2026, 11, 30), lines=[JournalLine("429", Decimal("100.00")), JournalLine("877A", Decimal("-100.00"))]),
        "gl-2": ManualJournal(narration="TIMS GL unbalanced", lines=[JournalLine("429", Decimal("100.00")), JournalLine("877A", Decimal("-10.00"))]),
    })
    assert results[0].ok and [line.amount for line in results[0].record.lines] == [Decimal("100.00"), Decimal("-100.00")]
    assert not results[1].ok and any("debits" in m.lower() for m in results[1].errors)
    assert "TIMS GL 2026-11 accruals" in {j.narration for j in client.list_manual_journals()}
    assert [j.remote_id for j in client.find_records("manual_journal", ["TIMS GL 2026-11 accruals"])] == [results[0].remote_id]


def test_bank_transactions(client, customer_id):
    spend = BankTransaction(type="SPEND", bank_account_code="090", contact=ContactRef(remote_id=customer_id), reference="GL-55", date=date(2026, 11, 5), lines=[Line(description="Courier", quantity=Decimal("1"), unit_amount=Decimal("18.20"), account_code="429", tax_type="INPUT2")])
    result = client.create_bank_transactions({"gl-55": spend})[0]
    assert result.ok and result.record.sub_total == Decimal("18.20")
    assert [t.reference for t in client.find_bank_transactions_by_reference(["GL-55"])] == ["GL-55"]
    assert "GL-55" in {t.reference for t in client.list_bank_transactions()}


# --- Tracking, accounts, tax rates ---------------------------------------------------------------


def test_tracking_categories(client):
    existing = {c.name: c for c in client.list_tracking_categories()}
    assert "Region" in existing  # a sample category
    department = client.create_tracking_category("Department")
    with pytest.raises(ValidationFailed):
        client.create_tracking_category("Channel")  # at most 2 active (api-notes/xero.md §6.6)
    option = client.create_tracking_option(department.remote_id, "Wholesale")
    assert [o.name for o in {c.name: c for c in client.list_tracking_categories()}["Department"].options] == ["Wholesale"]
    # A line tracked by names comes back with Xero's ids (api-notes/xero.md §6.6).
    line = Line(description="Tracked", quantity=Decimal("1"), unit_amount=Decimal("10.00"), account_code="200", tax_type="OUTPUT2", tracking=[TrackingRef(category="Department", option="Wholesale")])
    customer = client.find_contacts_by_number(["CUST-001"])[0].remote_id
    tracked = client.create_invoices({"t": Invoice(type="ACCREC", contact=ContactRef(remote_id=customer), number="TRK-1", lines=[line])})[0]
    assert tracked.ok, tracked.errors
    ref = tracked.record.lines[0].tracking[0]
    assert (ref.category, ref.option, ref.category_id, ref.option_id) == ("Department", "Wholesale", department.remote_id, option.remote_id)
    client.delete_invoice(tracked.remote_id)
    client.delete_tracking_option(department.remote_id, option.remote_id)
    assert client.archive_tracking_category(department.remote_id).status == "ARCHIVED"
    assert "Department" not in {c.name for c in client.list_tracking_categories()}
    assert "Department" in {c.name for c in client.list_tracking_categories(include_archived=True)}


def test_accounts_and_tax_rates_cached(sandbox, client):
    assert {"090", "200", "860"} <= {a.code for a in client.accounts()}
    assert "OUTPUT2" in {t.tax_type for t in client.tax_rates()}
    calls = len(sandbox.recorder.calls)
    assert client.unknown_codes(account_codes=["200", "999"], tax_types=["OUTPUT2", "GST"]) == [
        "Account code 999 is not an active account in this Xero organisation.",
        "Tax type GST is not an active tax rate in this Xero organisation.",
    ]
    assert len(sandbox.recorder.calls) == calls  # from the cache


# --- Limits --------------------------------------------------------------------------------------


def test_429_from_the_sandbox_is_rate_limited_with_retry_after(sandbox, store):
    from sandbox.models import XeroTenant
    from sandbox.xero.services import xero_tenant_set_limits

    tenant = XeroTenant.objects.get(tenant_id=sandbox.tenant_id)
    tenant.limit_window_offset_seconds = steady_window_offset()  # the calls fall in one fixed window
    tenant.save(update_fields=["limit_window_offset_seconds"])
    xero_tenant_set_limits(tenant=tenant, minute=2, day=None, concurrent=None)
    client = sandbox.client(store, retry_policy=RetryPolicy(max_wait=1))
    client.check(), client.check()
    with pytest.raises(RateLimited) as caught:
        client.check()
    assert caught.value.problem == "minute" and 0 < caught.value.retry_after <= 60
    assert sandbox.recorder.calls[-1].status_code == 429


def test_the_budget_reads_the_sandbox_headers_and_stops_before_a_429(sandbox, store):
    from sandbox.models import XeroTenant
    from sandbox.xero.services import xero_tenant_set_limits

    tenant = XeroTenant.objects.get(tenant_id=sandbox.tenant_id)
    tenant.limit_window_offset_seconds = steady_window_offset()  # the calls fall in one fixed window
    tenant.save(update_fields=["limit_window_offset_seconds"])
    xero_tenant_set_limits(tenant=tenant, minute=4, day=None, concurrent=None)
    budget = InProcessRateBudget(XERO_RATE_LIMITS)
    client = sandbox.client(store, budget=budget, retry_policy=RetryPolicy(max_wait=1))
    with pytest.raises(RateLimited) as caught:
        for _ in range(10):
            client.check()
    assert caught.value.problem == "budget"  # our budget said stop, not the sandbox
    statuses = [c.status_code for c in sandbox.recorder.calls if "/api.xro/" in c.path]
    assert 429 not in statuses
    assert sandbox.recorder.calls[-1].rate.remaining["minute"] <= XERO_RATE_LIMITS.reserve


# --- Webhooks ------------------------------------------------------------------------------------


def test_webhooks_from_the_sandbox_verify_and_name_the_records(sandbox, client, customer_id):
    import respx

    from connectors.xero.webhooks import SIGNATURE_HEADER, parse_events, signature_is_valid
    from sandbox.models import XeroApp
    from sandbox.xero.services import xero_app_set_webhook
    from sandbox.xero.webhooks import deliver_pending, intent_to_receive

    app = XeroApp.objects.get(client_id=sandbox.settings.credentials["client_id"])
    xero_app_set_webhook(app=app, url="https://portal.example/webhooks/xero")
    received = []

    def inbox(request: httpx.Request) -> httpx.Response:
        if not signature_is_valid(request.content, request.headers.get(SIGNATURE_HEADER), app.webhook_key):
            return httpx.Response(401)
        received.extend(parse_events(request.content))
        return httpx.Response(200)

    with respx.mock:
        respx.post("https://portal.example/webhooks/xero").mock(side_effect=inbox)
        assert intent_to_receive(app).ok  # 200 for the signed probes, 401 for the others
    created = client.create_invoices({"so": sales_invoice("WH-1", customer_id)})[0]
    with respx.mock:
        respx.post("https://portal.example/webhooks/xero").mock(side_effect=inbox)
        deliver_pending(app=app)
    events = [e for e in received if e.entity == "invoice"]
    assert [(e.resource_id, e.event_type, e.tenant_id) for e in events] == [(created.remote_id, "CREATE", sandbox.tenant_id)]
    assert events[0].occurred_at.tzinfo is timezone.utc
