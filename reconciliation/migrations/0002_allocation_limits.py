"""The database refuses active allocations over a document's or a payment's amount.

A sum over rows cannot be a CHECK constraint, so triggers do it, on both databases.
PostgreSQL locks both documents first, so two concurrent confirmations cannot each see the
other's allocation missing. SQLite stores decimals as floating point, so its comparison
allows half of the smallest unit (0.00005) of rounding noise: a real over-allocation is at
least 0.0001 and is still refused.
"""

from django.db import migrations

PG_CREATE = """
CREATE OR REPLACE FUNCTION reconciliation_allocation_within_amounts() RETURNS trigger AS $$
DECLARE
    v_payment_id bigint;
    document_total numeric;
    payment_total numeric;
    allocated numeric;
BEGIN
    IF NOT NEW.active THEN
        RETURN NEW;
    END IF;
    SELECT m.payment_id INTO v_payment_id FROM reconciliation_match m WHERE m.id = NEW.match_id;
    SELECT amount INTO document_total FROM reconciliation_ledgerdocument WHERE id = NEW.document_id FOR UPDATE;
    SELECT amount INTO payment_total FROM reconciliation_ledgerdocument WHERE id = v_payment_id FOR UPDATE;

    SELECT COALESCE(SUM(a.amount), 0) INTO allocated FROM reconciliation_matchallocation a
        WHERE a.document_id = NEW.document_id AND a.active AND a.id IS DISTINCT FROM NEW.id;
    IF allocated + NEW.amount > document_total THEN
        RAISE EXCEPTION 'allocation of % exceeds the document''s open amount (% of % already allocated)',
            NEW.amount, allocated, document_total USING ERRCODE = 'check_violation';
    END IF;

    SELECT COALESCE(SUM(a.payment_amount), 0) INTO allocated FROM reconciliation_matchallocation a
        JOIN reconciliation_match m ON m.id = a.match_id
        WHERE m.payment_id = v_payment_id AND a.active AND a.id IS DISTINCT FROM NEW.id;
    IF allocated + NEW.payment_amount > payment_total THEN
        RAISE EXCEPTION 'allocations of % exceed the payment''s amount (% of % already allocated)',
            NEW.payment_amount, allocated, payment_total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER reconciliation_allocation_within_amounts
    BEFORE INSERT OR UPDATE ON reconciliation_matchallocation
    FOR EACH ROW EXECUTE FUNCTION reconciliation_allocation_within_amounts();
"""

PG_DROP = """
DROP TRIGGER IF EXISTS reconciliation_allocation_within_amounts ON reconciliation_matchallocation;
DROP FUNCTION IF EXISTS reconciliation_allocation_within_amounts();
"""

SQLITE_BODY = """
BEGIN
    SELECT RAISE(ABORT, 'allocation exceeds the document''s amount')
    WHERE (SELECT COALESCE(SUM(a.amount), 0) FROM reconciliation_matchallocation a
           WHERE a.document_id = NEW.document_id AND a.active AND a.id IS NOT NEW.id)
          + NEW.amount
          > (SELECT d.amount FROM reconciliation_ledgerdocument d WHERE d.id = NEW.document_id) + 0.00005;
    SELECT RAISE(ABORT, 'allocations exceed the payment''s amount')
    WHERE (SELECT COALESCE(SUM(a.payment_amount), 0) FROM reconciliation_matchallocation a
           JOIN reconciliation_match m ON m.id = a.match_id
           WHERE m.payment_id = (SELECT payment_id FROM reconciliation_match WHERE id = NEW.match_id)
             AND a.active AND a.id IS NOT NEW.id)
          + NEW.payment_amount
          > (SELECT d.amount FROM reconciliation_ledgerdocument d
             JOIN reconciliation_match m ON m.payment_id = d.id WHERE m.id = NEW.match_id) + 0.00005;
END;
"""

SQLITE_CREATE = [
    "CREATE TRIGGER reconciliation_allocation_within_amounts_insert BEFORE INSERT ON "
    "reconciliation_matchallocation WHEN NEW.active " + SQLITE_BODY,
    "CREATE TRIGGER reconciliation_allocation_within_amounts_update BEFORE UPDATE ON "
    "reconciliation_matchallocation WHEN NEW.active " + SQLITE_BODY,
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS reconciliation_allocation_within_amounts_insert",
    "DROP TRIGGER IF EXISTS reconciliation_allocation_within_amounts_update",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_CREATE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_CREATE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("reconciliation", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
