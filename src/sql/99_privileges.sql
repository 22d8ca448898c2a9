------------------------------------------------------------------------
-- Privileges: agents get nothing but the questions about themselves.
------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA agent_guard FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA agent_guard FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA agent_guard FROM PUBLIC;
GRANT USAGE ON SCHEMA agent_guard TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard.in_agent_session() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard.current_agent() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard.current_run() TO PUBLIC;

GRANT EXECUTE ON FUNCTION agent_guard.soft_deleted_stamp(integer, "any") TO PUBLIC;
-- in the soft-delete policy, which runs as whoever reads the table
GRANT EXECUTE ON FUNCTION agent_guard._replication_session() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._idempotency_ttl() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard.preview(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._preview(boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._preview_rows() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._gate_unqualified(text, oid) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._setval(regclass, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._setval(regclass, bigint, boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._notify(text, text) TO PUBLIC;
-- in the rollback's statements, which run as each table's owner
GRANT EXECUTE ON FUNCTION agent_guard._row_image(anyelement) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._row_image(anyelement, jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._soft_reference(oid, record) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._nextval(regclass) TO PUBLIC;
-- The guard's trigger functions: PostgreSQL checks EXECUTE on them when it
-- clones the triggers into a new partition (CREATE TABLE ... PARTITION OF,
-- ALTER TABLE ... ATTACH PARTITION), so without it only a superuser could
-- add a partition to a protected table.  Called any other way they refuse;
-- agents may not place them (CREATE TRIGGER on agent_guard functions is
-- refused by the gates).
GRANT EXECUTE ON FUNCTION agent_guard.stamp() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard.capture() TO PUBLIC;
