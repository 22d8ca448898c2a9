--
-- agent_code_calls: what red team 7 reached through an agent's stored code
-- in a human's statement (issue 16).  The guard's own functions
-- (_owner_query, preview, _setval, approve) called from an agent's view or
-- default; sequence readers and slot copies that act with their caller's
-- rights; an operator whose negator the planner puts in its place; a
-- human's ALTER TABLE re-checking an agent's CHECK; a trigger an agent
-- creates with a function that is not its own.  From the human's side,
-- the same calls work in the human's own statements.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_cc_human LOGIN;                  -- a human no agent is a member of
CREATE SCHEMA cc AUTHORIZATION regress_cc_human;     -- the human's
GRANT USAGE ON SCHEMA cc TO PUBLIC;
CREATE SCHEMA ccb AUTHORIZATION regress_bot;         -- the agent's
GRANT USAGE ON SCHEMA ccb TO PUBLIC;
SET client_min_messages = warning;                   -- made by agent_stored, or here
CREATE EXTENSION IF NOT EXISTS lo;
RESET client_min_messages;

\c "dbname=contrib_regression user=regress_cc_human options="
CREATE TABLE cc.secret (id int PRIMARY KEY, s text);
INSERT INTO cc.secret VALUES (1, 'the human''s secret');
CREATE SEQUENCE cc.seq;
SELECT nextval('cc.seq');
SELECT lo_from_bytea(727272, 'the human''s document') AS lo;
-- a human's functions: one that reads with its caller's rights, one that does not
CREATE FUNCTION cc.get_secret() RETURNS text LANGUAGE sql STABLE AS 'SELECT s FROM cc.secret LIMIT 1';
CREATE FUNCTION cc.count_secret() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog AS 'SELECT count(*) FROM cc.secret';
CREATE FUNCTION cc.append_secret(a text, b text) RETURNS text LANGUAGE sql STABLE
    AS $$SELECT coalesce(a, '') || b || (SELECT s FROM cc.secret LIMIT 1)$$;
CREATE FUNCTION cc.imm(v int) RETURNS int LANGUAGE plpgsql IMMUTABLE
    AS 'BEGIN RETURN v; END';

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cc-1"
CREATE TABLE ccb.t (id int PRIMARY KEY, v int CHECK (v > 0));
INSERT INTO ccb.t VALUES (1, 1);
GRANT SELECT, INSERT, UPDATE ON ccb.t TO PUBLIC;
-- the guard's own functions in the agent's views
CREATE VIEW ccb.v_owner AS
    SELECT agent_guard._owner_query('cc.secret', 'SELECT jsonb_agg(s) FROM cc.secret') AS x;
CREATE VIEW ccb.v_preview AS
    SELECT * FROM agent_guard.preview('DELETE FROM cc.secret');
CREATE VIEW ccb.v_setval AS SELECT agent_guard._setval('cc.seq', 1000) AS x;
CREATE VIEW ccb.v_who AS SELECT agent_guard.in_agent_session() AS agent, agent_guard.current_agent() AS who;
-- sequence readers; a slot copy
CREATE VIEW ccb.v_seq AS SELECT pg_sequence_last_value('cc.seq') AS x;
CREATE VIEW ccb.v_currval AS SELECT currval('cc.seq') AS x;
GRANT SELECT ON ccb.v_owner, ccb.v_preview, ccb.v_setval, ccb.v_who, ccb.v_seq, ccb.v_currval TO PUBLIC;
-- an operator whose negator is bound to pg_terminate_backend, in a
-- parameter default (the planner turns NOT (a === b) into a !== b)
CREATE FUNCTION ccb.eq(int, bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 = $2';
CREATE OPERATOR ccb.!== (LEFTARG = int, RIGHTARG = bigint, FUNCTION = pg_terminate_backend);
CREATE OPERATOR ccb.=== (LEFTARG = int, RIGHTARG = bigint, FUNCTION = ccb.eq,
                         NEGATOR = OPERATOR(ccb.!==));
CREATE FUNCTION ccb.flag(x boolean DEFAULT NOT (0 OPERATOR(ccb.===) 0::bigint)) RETURNS boolean
    LANGUAGE sql AS 'SELECT $1';
CREATE OPERATOR ccb.==== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq);
-- a human's SECURITY INVOKER function in what the agent stores (finding 8)
CREATE VIEW ccb.v_human AS SELECT cc.get_secret() AS s;
CREATE TABLE ccb.d1 (id int, s text DEFAULT cc.get_secret());
CREATE TABLE ccb.d2 (id int, s text CHECK (s <> cc.get_secret()));
CREATE TABLE ccb.d3 (id int);
ALTER TABLE ccb.d3 ADD COLUMN s text DEFAULT cc.get_secret();
ALTER TABLE ccb.d3 ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON ccb.d3 USING (cc.get_secret() IS NOT NULL);
CREATE RULE r AS ON INSERT TO ccb.d3 DO ALSO SELECT cc.get_secret();
CREATE FUNCTION ccb.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER t_when BEFORE INSERT ON ccb.d3 FOR EACH ROW
    WHEN (cc.get_secret() IS NOT NULL) EXECUTE FUNCTION ccb.noop();
-- red team 8: the same function as an aggregate's step, in a parameter
-- default, in an index expression
CREATE AGGREGATE ccb.agg(text) (sfunc = cc.append_secret, stype = text);
CREATE VIEW ccb.v_agg AS SELECT ccb.agg(x) AS a FROM (VALUES ('a')) v(x);
CREATE FUNCTION ccb.hello(x text DEFAULT cc.get_secret()) RETURNS text LANGUAGE sql AS 'SELECT $1';
CREATE INDEX ON ccb.t ((cc.imm(v)));
GRANT SELECT ON ccb.v_agg TO PUBLIC;
-- a SECURITY DEFINER one runs as its owner whoever calls it: stored, and
-- refused in a human's statement (red team 14: its writes would pass for its owner's)
CREATE VIEW ccb.v_count AS SELECT cc.count_secret() AS n;
GRANT SELECT ON ccb.v_count TO PUBLIC;
-- a CHECK that unlinks a large object, re-checked by a human's ALTER TABLE
CREATE TABLE ccb.docs (id int PRIMARY KEY, raster oid);
INSERT INTO ccb.docs VALUES (1, 727272);
ALTER TABLE ccb.docs ADD CONSTRAINT unlinks CHECK (lo_unlink(raster) IS NOT NULL) NOT VALID;
-- a trigger with a function that is not the agent's
CREATE TRIGGER t_raster BEFORE UPDATE OR DELETE ON ccb.docs
    FOR EACH ROW EXECUTE FUNCTION lo_manage(raster);
CREATE TRIGGER t_same BEFORE UPDATE ON ccb.t                   -- built in: allowed
    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
CREATE TRIGGER t_same_off BEFORE UPDATE ON ccb.t
    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
ALTER TABLE ccb.t ENABLE ALWAYS TRIGGER t_same_off;
SELECT tgname FROM pg_trigger WHERE tgrelid IN ('ccb.docs'::regclass, 'ccb.t'::regclass) ORDER BY 1;

\c "dbname=contrib_regression user=regress_su options="
-- a superuser reads the agent's views
SELECT * FROM ccb.v_owner;
SELECT * FROM ccb.v_preview;
SELECT * FROM ccb.v_setval;
SELECT * FROM ccb.v_who;
SELECT * FROM ccb.v_seq;
ALTER TABLE ccb.docs VALIDATE CONSTRAINT unlinks;
SELECT count(*) AS kept FROM pg_largeobject_metadata WHERE oid = 727272;

\c "dbname=contrib_regression user=regress_cc_human options="
SELECT nextval('cc.seq');
SELECT * FROM ccb.v_currval;
SELECT ccb.flag();
SELECT * FROM ccb.v_agg;
SELECT ccb.hello();
SELECT count(*) AS kept FROM pg_largeobject_metadata WHERE oid = 727272;
SELECT last_value FROM cc.seq;
-- the human's side: the same calls in statements of the human's own
SELECT currval('cc.seq'), pg_sequence_last_value('cc.seq');
SELECT id FROM ccb.t WHERE v OPERATOR(ccb.====) 1;
SELECT * FROM agent_guard.preview('DELETE FROM cc.secret') LIMIT 0;
CREATE VIEW cc.v_human AS SELECT cc.get_secret() AS s;
SELECT * FROM cc.v_human;
-- error: YG002 (the agent's view calls the human's SECURITY DEFINER function)
SELECT * FROM ccb.v_count;
SELECT count(*) FROM cc.secret;

\c "dbname=contrib_regression user=regress_su options="
ALTER TABLE ccb.docs DROP CONSTRAINT unlinks;
ALTER TABLE ccb.docs ALTER COLUMN raster TYPE bigint;         -- the human's power stays
SELECT lo_unlink(727272);
DROP SCHEMA ccb CASCADE;
DROP SCHEMA cc CASCADE;
DROP OWNED BY regress_cc_human;
DROP ROLE regress_cc_human;
