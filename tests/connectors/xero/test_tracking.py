"""XeroClient's tracking entities against the Xero sandbox: per-element answers, look-first
creates, renames and archives by id, settling a lost answer by name."""

from __future__ import annotations

import pytest

from connectors.base import ErrorClass, UnknownOutcome
from connectors.canonical import TrackingCategory, TrackingOption
from tests.connectors.xero.test_against_sandbox import client, sandbox, store  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def _writes(sandbox) -> list[tuple[str, str, str]]:
    return [(c.method, c.path.rsplit("/2.0/", 1)[-1], c.idempotency_key) for c in sandbox.recorder.calls
            if c.method in ("PUT", "POST", "DELETE") and "/api.xro/" in c.path]


def test_categories_and_options_are_created_once_then_renamed_and_archived_by_id(sandbox, client):
    new = TrackingCategory(name="Branch", options=[TrackingOption(name="Leeds"), TrackingOption(name="Hull"),
                                                   TrackingOption(name="York", status="ARCHIVED")])
    [branch] = client.create_records("tracking_category", {"dim-1": new})
    assert branch.ok and branch.source_ref == "dim-1" and branch.remote_id
    assert sorted((o.name, o.status) for o in branch.record.options) == [("Hull", "ACTIVE"), ("Leeds", "ACTIVE")]
    writes = _writes(sandbox)
    assert [(m, p) for m, p, _ in writes] == [("PUT", "TrackingCategories")] + [("PUT", f"TrackingCategories/{branch.remote_id}/Options")] * 2
    assert all(key for _, _, key in writes) and len({key for _, _, key in writes}) == 3

    # Created again (a resend, a second link): Xero has them by name, so they are linked, not doubled.
    [again] = client.create_records("tracking_category", {"dim-1": TrackingCategory(name="branch", options=new.options)})
    options = client.create_records("tracking_option", {
        f"val-{n}": TrackingOption(name=name, category_id=branch.remote_id) for n, name in enumerate(["Leeds", "Hull"])})
    assert again.remote_id == branch.remote_id
    by_name = {o.name: o.remote_id for o in branch.record.options}
    assert [(r.source_ref, r.ok, r.remote_id) for r in options] == [("val-0", True, by_name["Leeds"]), ("val-1", True, by_name["Hull"])]
    assert len(_writes(sandbox)) == 3

    # Updates go by id: a renamed option keeps its id, an inactive one is archived, not deleted.
    leeds, hull = options
    results = client.update_records("tracking_option", {
        "val-0": TrackingOption(name="Leeds central", remote_id=leeds.remote_id, category_id=branch.remote_id, status="ACTIVE"),
        "val-1": TrackingOption(name="Hull", remote_id=hull.remote_id, category_id=branch.remote_id, status="ARCHIVED")})
    assert [(r.ok, r.remote_id, r.record.name, r.record.status) for r in results] == [
        (True, leeds.remote_id, "Leeds central", "ACTIVE"), (True, hull.remote_id, "Hull", "ARCHIVED")]
    [archived] = client.update_records("tracking_category", {"dim-1": TrackingCategory(
        name="Branch", remote_id=branch.remote_id, status="ARCHIVED")})
    assert archived.ok and archived.record.status == "ARCHIVED"
    assert "Branch" not in {c.name for c in client.list_tracking_categories()}
    kept = {o.name: o.status for o in client.get_records("tracking_category", [branch.remote_id])[0].options}
    assert kept == {"Leeds central": "ACTIVE", "Hull": "ARCHIVED"}


def test_a_third_active_category_is_refused_for_that_element_only(client):
    # The sandbox organisation has Region (Xero's demo data): one more fits.
    results = client.create_records("tracking_category", {
        "a": TrackingCategory(name="Branch"), "b": TrackingCategory(name="Department")})
    assert results[0].ok
    assert (results[1].ok, results[1].error_class) == (False, ErrorClass.VALIDATION)
    assert results[1].errors == ("You can only have 2 active tracking categories.",)


def test_a_lost_answer_is_settled_by_name_without_a_twin(sandbox, client):
    sandbox.set_faults(drop_rate=1, seed=1)
    with pytest.raises(UnknownOutcome):
        client.create_records("tracking_category", {"dim-1": TrackingCategory(name="Branch")})
    sandbox.set_faults(drop_rate=0)
    [settled] = client.settle_records("tracking_category", {"dim-1": TrackingCategory(name="Branch")})
    branch = [c for c in client.list_tracking_categories() if c.name == "Branch"]
    assert len(branch) == 1 and settled.ok and settled.remote_id == branch[0].remote_id
    [missing] = client.settle_records("tracking_category", {"dim-2": TrackingCategory(name="Department")})
    assert (missing.ok, missing.error_class) == (False, ErrorClass.NOT_FOUND)
    [option] = client.settle_records("tracking_option", {"v": TrackingOption(name="Leeds", category_id=branch[0].remote_id)})
    assert option.error_class == ErrorClass.NOT_FOUND
