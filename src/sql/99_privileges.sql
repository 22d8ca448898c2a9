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
GRANT EXECUTE ON FUNCTION agent_guard._idempotency_ttl() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard.preview(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._preview(boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._preview_rows() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._gate_unqualified(text, oid) TO PUBLIC;
