"""On PostgreSQL, each operation of the database rate budget (``integrations.rate_budget``) is
one function call: one round trip instead of four or five ORM statements in a transaction, and
the tenant's budget row stays locked only while the function runs, not across client round
trips. Each statement of a PL/pgSQL function takes a fresh snapshot, so counts read after the
row lock see every grant and lease committed before it (one statement with CTEs would count
from a snapshot taken before waiting for the lock). SQLite keeps the ORM code.
"""

from django.db import migrations

from integrations.postgres import postgres_sql

CREATE = """
CREATE OR REPLACE FUNCTION ledgerbridge_rate_state(p_key varchar) RETURNS integrations_ratebudgetstate AS $$
DECLARE
    state integrations_ratebudgetstate;
BEGIN
    SELECT * INTO state FROM integrations_ratebudgetstate WHERE key = p_key FOR UPDATE;
    IF NOT FOUND THEN  -- the key's first call; another worker may be creating it too
        INSERT INTO integrations_ratebudgetstate (key, blocked_until, observed)
            VALUES (p_key, 0, '{}'::jsonb) ON CONFLICT (key) DO NOTHING;
        SELECT * INTO state FROM integrations_ratebudgetstate WHERE key = p_key FOR UPDATE;
    END IF;
    RETURN state;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION ledgerbridge_rate_enter(
    p_key varchar, p_now float8, p_concurrency integer, p_lease varchar, p_expires_at float8, p_sweep boolean
) RETURNS boolean AS $$
BEGIN
    PERFORM ledgerbridge_rate_state(p_key);
    IF (SELECT count(*) FROM integrations_ratelease WHERE key = p_key AND expires_at > p_now) >= p_concurrency THEN
        RETURN false;
    END IF;
    IF p_sweep THEN  -- leases a crashed worker never gave back
        DELETE FROM integrations_ratelease WHERE key = p_key AND expires_at <= p_now;
    END IF;
    INSERT INTO integrations_ratelease (key, lease, expires_at) VALUES (p_key, p_lease, p_expires_at);
    RETURN true;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION ledgerbridge_rate_acquire(
    p_key varchar, p_now float8, p_cost integer, p_names text[], p_seconds float8[], p_calls integer[],
    p_expiry float8[], p_reserve integer, p_sweep_before float8
) RETURNS float8 AS $$
DECLARE
    state integrations_ratebudgetstate;
    wait float8;
    used bigint;
    reading jsonb;
    oldest float8;
BEGIN
    state := ledgerbridge_rate_state(p_key);
    wait := greatest(0, state.blocked_until - p_now);
    FOR i IN 1 .. coalesce(array_length(p_names, 1), 0) LOOP
        SELECT count(*) INTO used FROM integrations_rategrant WHERE key = p_key AND at > p_now - p_seconds[i];
        IF used + p_cost > p_calls[i] THEN
            -- The grant whose expiry frees enough room for this cost.
            SELECT at INTO oldest FROM integrations_rategrant WHERE key = p_key AND at > p_now - p_seconds[i]
                ORDER BY at OFFSET used + p_cost - p_calls[i] - 1 LIMIT 1;
            wait := greatest(wait, oldest + p_seconds[i] - p_now);
        END IF;
        -- A fresh reading of the API's own count: the calls since it was taken count against it.
        reading := state.observed -> p_names[i];
        IF reading IS NOT NULL AND p_now < (reading ->> 'at')::float8 + p_expiry[i] THEN
            SELECT count(*) INTO used FROM integrations_rategrant WHERE key = p_key AND at >= (reading ->> 'at')::float8;
            IF used + p_cost > (reading ->> 'remaining')::integer - p_reserve THEN
                wait := greatest(wait, (reading ->> 'at')::float8 + p_expiry[i] - p_now);
            END IF;
        END IF;
    END LOOP;
    IF wait > 0 THEN
        RETURN wait;
    END IF;
    INSERT INTO integrations_rategrant (key, at) SELECT p_key, p_now FROM generate_series(1, p_cost);
    IF p_sweep_before IS NOT NULL THEN
        DELETE FROM integrations_rategrant WHERE key = p_key AND at <= p_sweep_before;
    END IF;
    RETURN 0;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION ledgerbridge_rate_observe(
    p_key varchar, p_now float8, p_names text[], p_remaining integer[], p_retry_after float8
) RETURNS void AS $$
BEGIN
    PERFORM ledgerbridge_rate_state(p_key);
    UPDATE integrations_ratebudgetstate SET
        observed = observed || coalesce(
            (SELECT jsonb_object_agg(name, jsonb_build_object('remaining', remaining, 'at', p_now))
               FROM unnest(p_names, p_remaining) AS reading(name, remaining)),
            '{}'::jsonb),
        blocked_until = CASE WHEN p_retry_after > 0 THEN greatest(blocked_until, p_now + p_retry_after)
                             ELSE blocked_until END
        WHERE key = p_key;
END;
$$ LANGUAGE plpgsql;
"""

DROP = """
DROP FUNCTION IF EXISTS ledgerbridge_rate_observe(varchar, float8, text[], integer[], float8);
DROP FUNCTION IF EXISTS ledgerbridge_rate_acquire(varchar, float8, integer, text[], float8[], integer[], float8[], integer, float8);
DROP FUNCTION IF EXISTS ledgerbridge_rate_enter(varchar, float8, integer, varchar, float8, boolean);
DROP FUNCTION IF EXISTS ledgerbridge_rate_state(varchar);
"""


class Migration(migrations.Migration):
    dependencies = [("integrations", "0010_lean_indexes")]
    operations = [postgres_sql(CREATE, DROP)]
