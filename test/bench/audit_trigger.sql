-- The reference the issue measures us against: the audit trigger users
-- write themselves, a PL/pgSQL AFTER row trigger that copies to_jsonb() of
-- the old and new rows into a log table.  Installed by bench.py on the
-- "audit" variant's table; not part of the extension.
CREATE TABLE bench_audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    login_role  text NOT NULL DEFAULT session_user,
    relation    text NOT NULL,
    operation   text NOT NULL,
    old_row     jsonb,
    new_row     jsonb
);

CREATE FUNCTION bench_audit() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO bench_audit_log (relation, operation, old_row, new_row)
    VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP,
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
    RETURN NULL;
END
$$;
