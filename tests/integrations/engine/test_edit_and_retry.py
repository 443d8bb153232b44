"""Edit and retry: a person's corrected payload is sent by the flow's next retry run, through the
same validation and load as any record, and the record's exception resolves."""

from __future__ import annotations

import copy

import pytest
from django.utils import timezone

from integrations.engine.pipeline import run_execute
from integrations.mapping_templates import templates_install
from integrations.models import ExceptionStatus, Flow, MappingSet, RecordLink, SyncException, ValueMapEntry
from integrations.services.runs import flow_run_request, run_claim
from tests.sandboxes import tims_connection, xero_connection

pytest.importorskip("sandbox.tims.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")
pytestmark = pytest.mark.django_db(transaction=True)


def _flow(tims, xero, template: str, slug: str) -> Flow:
    mapping = MappingSet.objects.get(name=template)
    return Flow.objects.create(slug=slug, name=template, source_connection=tims, source_entity=mapping.source_entity,
                               target_connection=xero, target_entity=mapping.target_entity, mapping_set=mapping,
                               batch_size=50, enabled=True)


def _run(flow, trigger="manual"):
    run = flow_run_request(flow=flow, trigger=trigger, enqueue=False)
    return run_execute(run_claim(run_id=run.pk))


def _account_codes(payload):
    return {line["account_code"] for line in payload["lines"]}


def test_an_edited_payload_is_sent_by_the_retry_run_and_the_exception_resolves(settings, live_server):
    from sandbox.models import XeroInvoice

    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    templates_install()
    tims, _site = tims_connection("acme", seed=1)
    xero, tenant = xero_connection("Acme Gases Ltd")
    _run(_flow(tims, xero, "TIMS customers → Xero contacts", "customers"))
    _run(_flow(tims, xero, "TIMS products → Xero items", "products"))
    # Finance mapped one category to an account Xero's chart does not have: those orders fail
    # validation before any call.
    entry = ValueMapEntry.objects.filter(value_map__name__icontains="categor", target_value="200").first()
    entry.target_value = "2999"
    entry.save()
    orders = _flow(tims, xero, "TIMS sales orders → Xero invoices", "orders")
    _run(orders)
    exception = SyncException.objects.filter(flow=orders, code="validation.account_code").first()
    assert exception is not None, list(SyncException.objects.filter(flow=orders).values_list("code", flat=True))
    original = exception.transformed_payload
    assert "2999" in _account_codes(original)

    edited = copy.deepcopy(original)
    for line in edited["lines"]:
        if line["account_code"] == "2999":
            line["account_code"] = "200"
    exception.edited_payload = edited
    exception.status = ExceptionStatus.RETRYING
    exception.next_attempt_at = timezone.now()
    exception.save()

    retry = _run(orders, trigger="retry")
    assert retry.read_count == 1 and retry.created_count == 1, retry.error_message
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.AUTO_RESOLVED
    assert exception.transformed_payload == original and exception.edited_payload == edited
    link = RecordLink.objects.get(source_type="sales_order", source_id=exception.record_id, state="linked")
    invoice = XeroInvoice.objects.get(tenant=tenant, invoice_id=link.target_id)
    assert set(invoice.lines.values_list("account_code", flat=True)) <= {"200", "260"}
    assert "2999" not in set(invoice.lines.values_list("account_code", flat=True))
