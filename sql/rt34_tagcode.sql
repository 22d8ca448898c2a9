--
-- rt34_tagcode: red team 34, F6 and F8.
-- F6: a range type's subtype_diff and canonical functions run in the
-- writes of any table with a column of the type (GiST's penalty and
-- picksplit call subtype_diff), a human's too, with no function named in
-- any expression.  They are judged as a call in stored code when the type
-- is made: in a transaction tagged by a shared role, the role's own SQL
-- or PL function or one the transaction made is refused (YG002, on
-- record); a registered agent may not name another role's SECURITY
-- INVOKER function (its own runs as the agent).
-- F8: a tagged shared role's stored code (CHECK, default, policy, view,
-- trigger WHEN, domain) may not call a built-in that runs an SQL string or
-- a relation's query with its caller's rights (query_to_xml and the other
-- XML exports, ts_rewrite(tsquery, text), ts_stat): what the string calls
-- runs in the humans' statements with their rights, untagged (YG002, on
-- record).
-- register_agent() lists a range type the role made before whose
-- subtype_diff would have been refused.
-- From the humans' side: the role untagged may store the same code, and
-- its inserts work; the protected table's rows stay; the log verifies.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1019000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r34c AUTHORIZATION regress_tagged;
CREATE SCHEMA r34cb AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA r34c TO regress_bot;
-- a human's SECURITY INVOKER function a registered agent may execute
CREATE FUNCTION r34c.su_diff(int4, int4) RETURNS float8 LANGUAGE sql IMMUTABLE
  AS 'SELECT ($1 - $2)::float8';
GRANT EXECUTE ON FUNCTION r34c.su_diff(int4, int4) TO regress_bot;

-- the shared role's humans' older tables and function, made untagged
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE TABLE r34c.ord (id int PRIMARY KEY, amount int);
INSERT INTO r34c.ord SELECT g, g FROM generate_series(1, 5) g;
CREATE TABLE r34c.notes (id int, note text);
CREATE TABLE r34c.slots (id int PRIMARY KEY, note text);
INSERT INTO r34c.slots SELECT g, 'n' FROM generate_series(1, 10) g;
CREATE FUNCTION r34c.older_diff(int4, int4) RETURNS float8 LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN RETURN $1 - $2; END $$;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.protect('r34c.ord') AS ord;

-- the tagged shared role's transactions
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- F6, the finding: the transaction's PL/pgSQL subtype_diff; error: YG002
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34c.w15(int) RETURNS int LANGUAGE plpgsql AS $$
  BEGIN DELETE FROM r34c.ord WHERE id = $1; RETURN 1; END $$;
CREATE FUNCTION r34c.rdiff(int4, int4) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
  BEGIN PERFORM r34c.w15(2); RETURN $1 - $2; END $$;
CREATE TYPE r34c.irange AS RANGE (subtype = int4, subtype_diff = r34c.rdiff);
ROLLBACK;
-- an SQL one made here; the role's older one (error: YG002 each)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34c.sdiff(int4, int4) RETURNS float8 LANGUAGE sql IMMUTABLE
  AS 'SELECT ($1 - $2)::float8';
CREATE TYPE r34c.irange AS RANGE (subtype = int4, subtype_diff = r34c.sdiff);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE TYPE r34c.irange AS RANGE (subtype = int4, subtype_diff = r34c.older_diff);
ROLLBACK;
-- F8: built-ins that run an SQL string or a relation's query (error: YG002 each)
-- the finding: a CHECK through query_to_xml()
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34c.w16(int) RETURNS int LANGUAGE plpgsql AS $$
  BEGIN DELETE FROM r34c.ord WHERE id = $1; RETURN 1; END $$;
ALTER TABLE r34c.notes ADD CONSTRAINT q
  CHECK (query_to_xml('SELECT r34c.w16(' || id || ')', true, false, '') IS NOT NULL) NOT VALID;
ROLLBACK;
-- ts_rewrite(tsquery, text) in a CHECK
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34c.w17(int) RETURNS int LANGUAGE plpgsql AS $$
  BEGIN DELETE FROM r34c.ord WHERE id = $1; RETURN 1; END $$;
ALTER TABLE r34c.notes ADD CONSTRAINT q CHECK (ts_rewrite('a'::tsquery,
  'SELECT ''a''::tsquery, ''b''::tsquery FROM (SELECT r34c.w17(' || id || ')) s') IS NOT NULL) NOT VALID;
ROLLBACK;
-- a column default with table_to_xml() of a view the transaction made
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE VIEW r34c.v AS SELECT id FROM r34c.ord;
ALTER TABLE r34c.notes ADD COLUMN note2 text DEFAULT table_to_xml('r34c.v'::regclass, true, false, '')::text;
ROLLBACK;
-- a policy with query_to_xmlschema(), on a table the transaction made
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE TABLE r34c.fresh (id int);
CREATE POLICY p ON r34c.fresh USING (query_to_xmlschema('SELECT 1', true, false, '') IS NOT NULL);
ROLLBACK;
-- a view reading ts_stat()
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE VIEW r34c.words AS SELECT word FROM ts_stat('SELECT to_tsvector(note) FROM r34c.notes');
ROLLBACK;
-- a trigger's WHEN with cursor_to_xml()
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE TRIGGER t BEFORE INSERT ON r34c.notes FOR EACH ROW
  WHEN (cursor_to_xml('c', 1, true, false, '') IS NOT NULL) EXECUTE FUNCTION suppress_redundant_updates_trigger();
ROLLBACK;
-- a domain's CHECK with query_to_xml_and_xmlschema()
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE DOMAIN r34c.dq AS int CHECK (query_to_xml_and_xmlschema('SELECT ' || VALUE, true, false, '') IS NOT NULL);
ROLLBACK;
\set VERBOSITY default
-- the messages
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE TYPE r34c.irange AS RANGE (subtype = int4, subtype_diff = r34c.older_diff);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34c.notes ADD CONSTRAINT q
  CHECK (query_to_xml('SELECT ' || id, true, false, '') IS NOT NULL) NOT VALID;
ROLLBACK;
-- still allowed in the tagged transaction: a built-in subtype_diff, a built-in
-- that runs no SQL string, ts_rewrite with three tsqueries
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE TYPE r34c.brange AS RANGE (subtype = int4, subtype_diff = int4range_subdiff);
CREATE TABLE r34c.bslots (id int, span r34c.brange);
INSERT INTO r34c.bslots SELECT g, r34c.brange(g, g + 5) FROM generate_series(1, 300) g;
CREATE INDEX bslots_span ON r34c.bslots USING gist (span);
-- (on its own table: a constraint on the humans' older one is refused, red team 35, F9)
ALTER TABLE r34c.bslots ADD CONSTRAINT len CHECK (length(span::text) < 100) NOT VALID;
ALTER TABLE r34c.bslots ADD CONSTRAINT tsq
  CHECK (ts_rewrite('a'::tsquery, 'a'::tsquery, 'b'::tsquery) IS NOT NULL) NOT VALID;
COMMIT;

-- a registered agent: another role's SECURITY INVOKER subtype_diff (error: YG002);
-- its own works (it runs as the agent)
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r34c-1"
\set SHOW_CONTEXT never
CREATE TYPE r34cb.hrange AS RANGE (subtype = int4, subtype_diff = r34c.su_diff);
CREATE FUNCTION r34cb.own_diff(int4, int4) RETURNS float8 LANGUAGE sql IMMUTABLE
  AS 'SELECT ($1 - $2)::float8';
CREATE TYPE r34cb.orange AS RANGE (subtype = int4, subtype_diff = r34cb.own_diff);
CREATE TABLE r34cb.slots (id int, span r34cb.orange);
INSERT INTO r34cb.slots SELECT g, r34cb.orange(g, g + 5) FROM generate_series(1, 300) g;
CREATE INDEX ON r34cb.slots USING gist (span);
INSERT INTO r34cb.slots VALUES (1000, '[10,20)');
SELECT count(*) FROM r34cb.slots;

-- register_agent() lists a range type the role made before, whose
-- subtype_diff is another role's SECURITY INVOKER function
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE ROLE regress_r34c_late LOGIN;
GRANT USAGE ON SCHEMA r34c TO regress_r34c_late;
GRANT CREATE ON SCHEMA r34cb TO regress_r34c_late;
GRANT EXECUTE ON FUNCTION r34c.su_diff(int4, int4) TO regress_r34c_late;
SET ROLE regress_r34c_late;
CREATE TYPE r34cb.late_range AS RANGE (subtype = int4, subtype_diff = r34c.su_diff);
CREATE TYPE r34cb.late_fine AS RANGE (subtype = int4, subtype_diff = int4range_subdiff);
RESET ROLE;
SELECT agent_guard.register_agent('regress_r34c_late');
SELECT agent_guard.unregister_agent('regress_r34c_late');
DROP TYPE r34cb.late_range, r34cb.late_fine;
REVOKE USAGE ON SCHEMA r34c FROM regress_r34c_late;
REVOKE CREATE ON SCHEMA r34cb FROM regress_r34c_late;
REVOKE EXECUTE ON FUNCTION r34c.su_diff(int4, int4) FROM regress_r34c_late;
DROP ROLE regress_r34c_late;

-- the humans' side: the role untagged may store the same code, and writes
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE FUNCTION r34c.sdiff(int4, int4) RETURNS float8 LANGUAGE sql IMMUTABLE
  AS 'SELECT ($1 - $2)::float8';
CREATE TYPE r34c.irange AS RANGE (subtype = int4, subtype_diff = r34c.sdiff);
CREATE TYPE r34c.orange AS RANGE (subtype = int4, subtype_diff = r34c.older_diff);
ALTER TABLE r34c.slots ADD COLUMN span r34c.irange;
UPDATE r34c.slots SET span = r34c.irange(id, id + 5);
INSERT INTO r34c.slots SELECT g, 'a', r34c.irange(g, g + 5) FROM generate_series(11, 400) g;
CREATE INDEX slots_span ON r34c.slots USING gist (span);
INSERT INTO r34c.slots VALUES (5000, 'human', '[10,20)');
ALTER TABLE r34c.notes ADD CONSTRAINT q CHECK (ts_rewrite('a'::tsquery,
  'SELECT ''a''::tsquery, ''b''::tsquery FROM (SELECT ' || id || ') s') IS NOT NULL) NOT VALID;
CREATE POLICY p ON r34c.notes USING (query_to_xmlschema('SELECT 1', true, false, '') IS NOT NULL);
INSERT INTO r34c.notes VALUES (3, 'hello');
INSERT INTO r34c.bslots VALUES (1000, '[10,20)');
SELECT id, note FROM r34c.notes;
SELECT (SELECT count(*) FROM r34c.slots) AS slots, (SELECT count(*) FROM r34c.bslots) AS bslots;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- on record
SELECT agent_guard._flush_requests();
SELECT request_id, agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT array_agg(id ORDER BY id) AS orders FROM r34c.ord;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r34c.ord');
DROP SCHEMA r34c CASCADE;
DROP SCHEMA r34cb CASCADE;
