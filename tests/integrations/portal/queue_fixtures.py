"""People of each role and a small queue, shared by the review queue's and the auditor views' tests."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from integrations.models import AuthKind, System
from integrations.roles import AUDITORS, FINANCE, INTEGRATION_ADMINS
from tests.factories import make_connection, make_flow

SECRET = "queue-s3cr3t-that-must-never-render"


@pytest.fixture
def people(db):
    result = {}
    for name, group in (("finance", FINANCE), ("finance2", FINANCE), ("integrator", INTEGRATION_ADMINS),
                        ("auditor", AUDITORS)):
        user = User.objects.create_user(name, is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        result[name] = user
    result["superuser"] = User.objects.create_superuser("root", email=None, password=None)
    return result


@pytest.fixture
def flows(db):
    """Two flows from one TIMS site into one Xero organisation whose credentials hold a secret."""
    xero = make_connection(name="Xero Acme")
    xero.set_credentials({"client_id": "cid", "client_secret": SECRET, "refresh_token": SECRET + "-rt"})
    xero.save()
    tims = make_connection(name="TIMS Acme", system=System.TIMS, auth_kind=AuthKind.OAUTH2_CLIENT_CREDENTIALS)
    tims.set_credentials({"client_secret": SECRET + "-tims"})
    tims.save()
    other = make_connection(name="Xero Other")
    return {
        "orders": make_flow(name="Orders", source_connection=tims, target_connection=xero),
        "customers": make_flow(name="Customers", source_connection=tims, target_connection=xero,
                               source_entity="customer", target_entity="contact"),
        "elsewhere": make_flow(name="Elsewhere", source_connection=tims, target_connection=other),
        "xero": xero,
        "tims": tims,
        "other": other,
    }
