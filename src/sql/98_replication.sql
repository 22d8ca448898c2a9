------------------------------------------------------------------------
-- Logical replication: the guard's own tables on a subscriber
--
-- A publication FOR ALL TABLES ships the guard's tables too.  A subscriber
-- that has the extension keeps its own guard state and its own chain, so
-- rows that a logical replication worker writes into them are dropped
-- (src/replication.c).  The trigger is enabled for replica sessions only:
-- ordinary sessions, the agents' included, never fire it.
------------------------------------------------------------------------

CREATE FUNCTION agent_guard._replicated_row() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'ag_replicated_row';

DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'agent_guard'::regnamespace AND c.relkind = 'r'
              ORDER BY c.relname LOOP
        EXECUTE format('CREATE TRIGGER ag_replicated_row BEFORE INSERT OR UPDATE OR DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION agent_guard._replicated_row()', t);
        EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER ag_replicated_row', t);
    END LOOP;
END
$$;
