"""TIMS dimensions → Xero tracking categories and options, and line dimensions as tracking on
invoices, end to end with the default mapping templates against both sandboxes."""

from __future__ import annotations

import pytest
from django.db import transaction

from integrations.models import ApiCall, LinkState, RecordLink, Rule, SyncException
from tests.integrations.engine.test_flows_tims_xero import _flow, _run, systems  # noqa: F401 (fixture)
from tests.sandboxes import tims_connection, xero_connection

pytest.importorskip("sandbox.tims.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")
end_to_end = pytest.mark.django_db(transaction=True)  # live server threads read what the test wrote

DIMENSIONS = "TIMS dimensions → Xero tracking categories"
VALUES = "TIMS dimension values → Xero tracking options"


def _writes(connection) -> list[tuple[str, str]]:
    return list(ApiCall.objects.filter(connection=connection, method__in=["PUT", "POST", "DELETE"])
                .order_by("pk").values_list("method", "path"))


def _options(tenant, category: str) -> dict[str, str]:
    from sandbox.models import XeroTrackingOption

    return dict(XeroTrackingOption.objects.filter(category__tenant=tenant, category__name=category)
                .values_list("name", "status"))


def _change_value(site, dimension: str, code: str, **changes):
    from sandbox.models import TimsDimensionValue
    from sandbox.tims.records import SYSTEM_ACTOR, touch

    value = TimsDimensionValue.objects.get(site=site, dimension__code=dimension, code=code)
    for name, new in changes.items():
        setattr(value, name, new)
    touch(value, SYSTEM_ACTOR)
    value.save()
    return value


@end_to_end
def test_dimensions_become_categories_and_options_once_and_follow_their_values(systems):
    from sandbox.models import TimsDimension, TimsDimensionValue, XeroTrackingCategory, XeroTrackingOption
    from sandbox.tims.records import SYSTEM_ACTOR, stamp_new

    tims, site, xero, tenant = systems
    dimensions, values = _flow(tims, xero, DIMENSIONS, "dimensions"), _flow(tims, xero, VALUES, "values")

    # The values flow first, as a schedule may have it: nothing to attach them to yet.
    early = _run(values)
    assert (early.created_count, early.failed_count, early.skipped_count) == (0, 0, early.read_count)

    # The category is created with its values as options: one PUT for it, one per option.
    first = _run(dimensions)
    assert (first.status, first.created_count) == ("succeeded", 1)
    assert first.skipped_count == TimsDimension.objects.filter(site=site).count() - 1  # Xero tracks Branch only
    branch = XeroTrackingCategory.objects.get(tenant=tenant, status="ACTIVE")
    assert branch.name == "Branch"
    assert RecordLink.objects.get(source_type="dimension", state=LinkState.LINKED).target_id == str(branch.category_id)
    seeded = dict(TimsDimensionValue.objects.filter(site=site, dimension__code="BRANCH").values_list("name", "status"))
    assert _options(tenant, "Branch") == {name: "ACTIVE" for name in seeded} and len(seeded) == 3
    assert [method for method, _ in _writes(xero)] == ["PUT"] * 4

    # The values flow, read in full, links each value to its option: found by name, not created again.
    options = _run(values, full=True)
    assert options.created_count == 3 and len(_writes(xero)) == 4
    assert RecordLink.objects.filter(source_type="dimension_value", state=LinkState.LINKED).count() == 3

    # Nothing changed: a re-run reads, and writes nothing.
    before = len(_writes(xero))
    again_dimensions, again_values = _run(dimensions, full=True), _run(values, full=True)
    assert (again_dimensions.created_count, again_dimensions.updated_count, again_dimensions.unchanged_count) == (0, 0, 1)
    assert (again_values.created_count, again_values.updated_count, again_values.unchanged_count) == (0, 0, 3)
    assert len(_writes(xero)) == before

    # A new branch becomes a new option; a renamed one renames its option (same id); an
    # inactive one archives its option, which Xero keeps for the lines that used it.
    with transaction.atomic():
        bradford = TimsDimensionValue(site=site, dimension=TimsDimension.objects.get(site=site, code="BRANCH"),
                                      code="BRAD", name="Bradford depot")
        stamp_new(bradford, SYSTEM_ACTOR)
        bradford.save()
    leeds_id = XeroTrackingOption.objects.get(category=branch, name="Leeds depot").option_id
    _change_value(site, "BRANCH", "LEEDS", name="Leeds central depot")
    _change_value(site, "BRANCH", "YORK", status="inactive")
    changed = _run(values)
    assert (changed.created_count, changed.updated_count, changed.failed_count) == (1, 2, 0)
    assert _options(tenant, "Branch") == {"Bradford depot": "ACTIVE", "Leeds central depot": "ACTIVE",
                                          "Hull depot": "ACTIVE", "York depot": "ARCHIVED"}
    assert XeroTrackingOption.objects.get(option_id=leeds_id).name == "Leeds central depot"
    assert XeroTrackingCategory.objects.filter(tenant=tenant).count() == 1


@end_to_end
def test_a_third_active_category_is_refused_before_any_call_and_waits_in_the_queue(settings, live_server):
    from sandbox.models import XeroTrackingCategory

    from integrations.mapping_templates import templates_install

    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    templates_install()
    tims, site = tims_connection("acme", seed=1)
    xero, tenant = xero_connection("Acme Gases Ltd", samples=True)  # Xero's demo data: Region is active
    dimensions = _flow(tims, xero, DIMENSIONS, "dimensions")
    rule = Rule.objects.get(mapping_set=dimensions.mapping_set, name="Dimensions Xero tracks")
    rule.condition = "code not in ('BRANCH', 'DEPT')"  # an admin asks for a second dimension
    rule.save()

    run = _run(dimensions)
    assert (run.status, run.created_count, run.failed_count) == ("partial", 1, 1)
    active = sorted(XeroTrackingCategory.objects.filter(tenant=tenant, status="ACTIVE").values_list("name", flat=True))
    created = next(name for name in active if name != "Region")
    refused = {"Branch": "Department", "Department": "Branch"}[created]
    exception = SyncException.objects.get(flow=dimensions)
    assert (exception.stage, exception.error_class, exception.code) == ("validate", "validation", "validation.tracking_limit")
    assert f"“{refused}” cannot be added" in exception.message
    assert "“Region”" in exception.message and f"“{created}”" in exception.message
    assert "Archive one of them in Xero" in exception.message
    # Refused here, not by Xero: one category create went out, the one that was made.
    assert [method for method, path in _writes(xero) if path.endswith("/TrackingCategories")] == ["PUT"]


@end_to_end
def test_orders_carry_their_branch_as_tracking_and_wait_for_a_missing_option(systems):
    from sandbox.models import TimsSalesOrder, XeroInvoice, XeroTrackingOption

    tims, site, xero, tenant = systems
    for template, slug in (("TIMS customers → Xero contacts", "customers"), ("TIMS products → Xero items", "products"),
                           (DIMENSIONS, "dimensions")):
        _run(_flow(tims, xero, template, slug))
    # Someone archives "Leeds depot" in Xero: the Leeds orders wait, each saying which option
    # is missing and what to run; the others go.
    leeds = XeroTrackingOption.objects.get(category__tenant=tenant, name="Leeds depot")
    leeds.status = "ARCHIVED"
    leeds.save()
    orders_flow = _flow(tims, xero, "TIMS sales orders → Xero invoices", "orders")
    first = _run(orders_flow)
    missing = SyncException.objects.filter(flow=orders_flow, code="validation.tracking_option", status="open")
    waited = missing.count()
    assert first.created_count > 0 and waited > 0
    for exception in missing:
        assert exception.stage == "validate"
        assert "tracking option “Leeds depot” does not exist (active) in the tracking category “Branch”" in exception.message
        assert "Run the dimensions flows first" in exception.message
        order = TimsSalesOrder.objects.get(pk=exception.record_id)
        assert any(d["value_code"] == "LEEDS" for line in order.lines.all() for d in line.dimensions or [])

    leeds.status = "ACTIVE"
    leeds.save()
    orders = _run(orders_flow, full=True)
    assert orders.created_count == waited
    assert not SyncException.objects.filter(flow=orders_flow, code="validation.tracking_option", status="open").exists()
    branch_names = {"LEEDS": "Leeds depot", "HULL": "Hull depot", "YORK": "York depot"}
    checked = 0
    for invoice in XeroInvoice.objects.filter(tenant=tenant, type="ACCREC").prefetch_related("lines"):
        order = TimsSalesOrder.objects.get(site=site, order_number=invoice.invoice_number)
        sent = [line for line in order.lines.order_by("line_number") if line.line_type != "comment"]
        for line, xero_line in zip(sent, invoice.lines.order_by("pk")):
            # Branch only: Department is not a Xero category (the rule "Dimensions Xero tracks").
            tags = {d["dimension_code"]: d["value_code"] for d in line.dimensions or []}
            expected = [{"Name": "Branch", "Option": branch_names[tags["BRANCH"]]}] if "BRANCH" in tags else []
            assert [{k: t[k] for k in ("Name", "Option")} for t in xero_line.tracking] == expected
            checked += bool(expected)
    assert checked > 0


@end_to_end
def test_an_unknown_outcome_is_settled_by_name_without_a_twin(systems):
    """The create landed but its answer was lost: the next run finds the category by name and
    links it, with no second PUT."""
    from sandbox.models import TimsDimension, XeroTrackingCategory

    tims, site, xero, tenant = systems
    dimensions = _flow(tims, xero, DIMENSIONS, "dimensions")
    landed = XeroTrackingCategory.objects.create(tenant=tenant, name="Branch")  # its options were not made yet
    branch = TimsDimension.objects.get(site=site, code="BRANCH")
    RecordLink.objects.create(source_connection=tims, source_type="dimension", source_id=branch.pk, source_ref="BRANCH",
                              target_connection=xero, target_type="tracking_category", target_ref="BRANCH",
                              state=LinkState.UNKNOWN_OUTCOME)
    run = _run(dimensions)
    assert (run.created_count, run.failed_count) == (1, 0)
    link = RecordLink.objects.get(source_type="dimension", source_id=branch.pk)
    assert (link.state, link.target_id) == (LinkState.LINKED, str(landed.category_id))
    assert XeroTrackingCategory.objects.filter(tenant=tenant).count() == 1
    assert [call for call in _writes(xero) if call[1].endswith("/TrackingCategories")] == []
    assert set(_options(tenant, "Branch")) == {"Leeds depot", "Hull depot", "York depot"}  # the create's other half


def test_tracking_resolves_names_from_codes_for_the_dimensions_asked_for():
    from types import SimpleNamespace

    from integrations.engine.tracking import DimensionDirectory
    from integrations.mapping.expressions import ExpressionError

    class Source:
        calls = 0

        def list_records(self, entity):
            Source.calls += 1
            if entity == "dimension":
                return [SimpleNamespace(remote_id="d1", code="BRANCH", name="Branch"),
                        SimpleNamespace(remote_id="d2", code="DEPT", name="Department")]
            return [SimpleNamespace(dimension_id="d1", dimension_code="BRANCH", code="LEEDS", name="Leeds depot", status="active"),
                    SimpleNamespace(dimension_id="d2", dimension_code="", code="OPS", name="Operations", status="inactive")]

    tags = [{"dimension_code": "DEPT", "value_code": "OPS"}, {"dimension_code": "BRANCH", "value_code": "LEEDS"}]
    directory = DimensionDirectory(Source())  # no flow: no dimension is linked to a category yet
    assert directory.tracking(tags) == []
    assert directory.tracking(tags, "BRANCH") == [{"category": "Branch", "option": "Leeds depot"}]
    assert directory.tracking(tags, "BRANCH", "DEPT") == [{"category": "Department", "option": "Operations"},
                                                         {"category": "Branch", "option": "Leeds depot"}]
    assert directory.dimension_values("d2") == [{"code": "OPS", "name": "Operations", "status": "inactive"}]
    assert directory.dimension_values("d9") == []
    assert Source.calls == 2  # read once, then answered from memory
    with pytest.raises(ExpressionError, match="has no value 'YORK'"):
        directory.tracking([{"dimension_code": "BRANCH", "value_code": "YORK"}], "BRANCH")
    with pytest.raises(ExpressionError, match="no dimension 'REGION'"):
        directory.tracking([{"dimension_code": "REGION", "value_code": "N"}], "REGION")
