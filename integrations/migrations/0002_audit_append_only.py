"""On PostgreSQL, a trigger refuses UPDATE and DELETE of audit events.

The ORM already refuses them (AuditEventQuerySet); the trigger covers raw SQL and other
clients. TRUNCATE is left alone: it is an owner's operation (and how tests reset tables).
"""

from django.db import migrations

from integrations.postgres import postgres_sql

CREATE = """
CREATE OR REPLACE FUNCTION integrations_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER integrations_auditevent_append_only
    BEFORE UPDATE OR DELETE ON integrations_auditevent
    FOR EACH ROW EXECUTE FUNCTION integrations_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS integrations_auditevent_append_only ON integrations_auditevent;
DROP FUNCTION IF EXISTS integrations_auditevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_initial")]
    operations = [postgres_sql(CREATE, DROP)]
