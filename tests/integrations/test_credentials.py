"""Credentials: encrypted at rest, rotated by key, never revealed, clear when unreadable."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection as db

from integrations import crypto
from integrations.models import AuditEvent, Connection, CredentialsUnreadable
from tests.factories import make_connection

pytestmark = pytest.mark.django_db

SECRET = {"client_id": "demo-client", "client_secret": "hunter2-very-secret", "refresh_token": "rt-abc-123"}


def _raw(connection: Connection) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_connection WHERE id = %s", [connection.pk])
        return cursor.fetchone()[0]


def test_round_trip_and_encrypted_at_rest():
    connection = make_connection()
    connection.set_credentials(SECRET)
    connection.save()

    raw = _raw(connection)
    assert raw and "hunter2" not in raw and "rt-abc" not in raw
    assert Connection.objects.get(pk=connection.pk).get_credentials() == SECRET


def test_reprs_and_strings_never_reveal_the_secret():
    connection = make_connection(name="Xero Demo")
    connection.set_credentials(SECRET)
    connection.save()
    loaded = Connection.objects.get(pk=connection.pk)
    for text in (repr(loaded), str(loaded), repr(loaded.credentials), str(loaded.credentials), repr(loaded.__dict__)):
        assert "hunter2" not in text
        assert _raw(connection) not in text


def test_rotation_reencrypts_with_the_new_first_key(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [old_key]
    connection = make_connection()
    connection.set_credentials(SECRET)
    connection.save()
    before = _raw(connection)

    settings.CREDENTIALS_KEYS = [new_key, old_key]
    out = StringIO()
    call_command("rotate_credentials_key", stdout=out)
    assert "1 connection" in out.getvalue()
    after = _raw(connection)
    assert after != before
    Fernet(new_key.encode()).decrypt(after.encode())  # readable by the new key alone

    settings.CREDENTIALS_KEYS = [new_key]  # the old key can now go
    assert Connection.objects.get(pk=connection.pk).get_credentials() == SECRET
    assert AuditEvent.objects.filter(action="connection.credentials_rotated", object_id=str(connection.pk)).exists()


def test_wrong_key_gives_a_message_naming_the_connection(settings):
    settings.CREDENTIALS_KEYS = [Fernet.generate_key().decode()]
    connection = make_connection(name="Xero Production")
    connection.set_credentials(SECRET)
    connection.save()

    settings.CREDENTIALS_KEYS = [Fernet.generate_key().decode()]
    loaded = Connection.objects.get(pk=connection.pk)  # loading never decrypts
    with pytest.raises(CredentialsUnreadable, match="Xero Production.*CREDENTIALS_KEYS"):
        loaded.get_credentials()

    with pytest.raises(CommandError, match="Xero Production"):
        call_command("rotate_credentials_key", stdout=StringIO())

    warnings = run_checks(databases=["default"], tags=["database"])
    assert [w.id for w in warnings] == ["integrations.W001"]
    assert "Xero Production" in warnings[0].msg


def test_a_malformed_key_is_a_clear_configuration_error(settings):
    settings.CREDENTIALS_KEYS = [Fernet.generate_key().decode(), "not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="CREDENTIALS_KEYS entry 2 is not a Fernet key"):
        crypto.seal({"a": 1})
    errors = run_checks(tags=["security"])
    assert "integrations.E001" in [e.id for e in errors]


def test_config_history_keeps_changes_but_never_credentials():
    connection = make_connection(name="Before")
    connection.set_credentials(SECRET)
    connection.name = "After"
    connection.save()
    history_model = Connection.history.model
    assert "credentials" not in [f.name for f in history_model._meta.get_fields()]
    names = list(connection.history.order_by("history_date").values_list("name", flat=True))
    assert names == ["Before", "After"]


def test_generate_prints_a_usable_key():
    out = StringIO()
    call_command("rotate_credentials_key", "--generate", stdout=out, stderr=StringIO())
    Fernet(out.getvalue().strip().encode())
