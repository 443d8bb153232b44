"""The demo users: one per role, printed with passwords that log in."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _printed_users() -> dict[str, str]:
    out = StringIO()
    call_command("demo_users", stdout=out)
    return dict(re.findall(r"^\s+(\w+)\s+password: (\S+)", out.getvalue(), re.M))


def test_each_role_gets_a_user_whose_printed_password_logs_in(client, settings):
    settings.DEBUG = True
    printed = _printed_users()
    assert set(printed) == {"finance", "integrator", "auditor", "admin"}
    groups = {u.username: [g.name for g in u.groups.all()] for u in User.objects.all()}
    assert groups == {"finance": ["Finance"], "integrator": ["Integration admins"], "auditor": ["Auditors"], "admin": []}
    assert User.objects.get(username="admin").is_superuser
    for username, password in printed.items():
        response = client.post(reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"})
        assert response.status_code == 302 and response.url == "/admin/", username
        client.logout()


def test_running_it_again_prints_the_same_passwords(settings):
    settings.DEBUG = True
    assert _printed_users() == _printed_users()
    assert User.objects.count() == 4


def test_demo_users_refuse_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="development only"):
        call_command("demo_users", stdout=StringIO())


def test_each_demo_user_sees_their_part_of_the_index(client, settings):
    settings.DEBUG = True
    printed = _printed_users()
    seen = {}
    for username, password in printed.items():
        client.login(username=username, password=password)
        body = client.get(reverse("admin:index")).content.decode()
        seen[username] = {label for label in ("Open exceptions", "Mapping sets", "Audit events", "Matches", "Connections") if label in body}
        client.logout()
    assert seen["finance"] == {"Open exceptions", "Audit events", "Matches", "Connections"}
    assert seen["integrator"] == {"Open exceptions", "Mapping sets", "Audit events", "Connections"}
    assert seen["auditor"] == seen["admin"] == {"Open exceptions", "Mapping sets", "Audit events", "Matches", "Connections"}
