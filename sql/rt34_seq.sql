--
-- rt34_seq: red team 34, F1, F2 and F3.  The draws of a sequence that
-- numbers a protected table that no plan of the agent's session shows.
-- F1: an agent's COPY FROM whose default draws such a sequence once per
-- row is judged per row (the stamp trigger, for the protected table's own
-- key) or refused (YG004, on record): into the agent's own table nothing
-- checks its rows.  A COPY's WHERE (or CHECK) that calls nextval() is not
-- blessed by its defaults: refused, even when a default's call is folded
-- away.
-- F2: an ALTER TABLE's new defaults are judged together: N of them draw N
-- times the table's rows; a USING, a domain column's default, a second
-- table of the statement are not blessed by a judged default: refused.
-- F3: an agent's code drawing such a sequence in a human's statement or in
-- ANALYZE (a statistics expression) is judged by the margin as in the
-- agent's session, and refused on record under the agent.
-- From the humans' side: the same ALTER TABLE and ANALYZE work, the same COPY
-- with the key in the input (red team 35: rt35_seq), and their own nextval()
-- is not judged.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1018000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r34q;
GRANT USAGE ON SCHEMA r34q TO regress_bot, regress_human;
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
CREATE SCHEMA r34qb AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA r34qb TO regress_human;
-- the humans' tables: smallserial keys (room 32767, margin 16383); the agent may use the sequences
CREATE TABLE r34q.tk (id smallserial PRIMARY KEY, t text);
CREATE TABLE r34q.tk2 (id smallserial PRIMARY KEY, t text);
CREATE TABLE r34q.tk3 (id smallserial PRIMARY KEY, t text);
SELECT agent_guard.protect(t, soft_delete => false) FROM unnest(ARRAY['r34q.tk', 'r34q.tk2', 'r34q.tk3']::regclass[]) t;
GRANT SELECT, INSERT ON r34q.tk, r34q.tk2, r34q.tk3 TO regress_bot, regress_human;
GRANT USAGE ON SEQUENCE r34q.tk_id_seq, r34q.tk2_id_seq, r34q.tk3_id_seq TO regress_bot, regress_human;
CREATE DOMAIN r34q.ticket AS int DEFAULT nextval('r34q.tk2_id_seq');
GRANT USAGE ON TYPE r34q.ticket TO regress_bot;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r34q-1"
\set SHOW_CONTEXT never
CREATE SEQUENCE r34qb.mine;
-- F1: COPY into the agent's own table, whose default draws the humans' sequence: refused, nothing drawn
CREATE TABLE r34qb.burn (id int DEFAULT nextval('r34q.tk_id_seq'), v text);
COPY r34qb.burn (v) FROM STDIN;
a
b
\.
-- into the protected table itself: judged per row (its key), allowed
COPY r34q.tk (t) FROM STDIN;
agent 1
agent 2
\.
-- its WHERE's nextval() is not blessed by the default's
\set VERBOSITY sqlstate
COPY r34q.tk (t) FROM STDIN WHERE nextval('r34q.tk_id_seq') < 0;
x
\.
-- nor by a default's call the planner folds away
CREATE TABLE r34qb.folded (id int DEFAULT CASE WHEN false THEN nextval('r34qb.mine') ELSE 0 END, v text);
COPY r34qb.folded (v) FROM STDIN WHERE nextval('r34q.tk_id_seq') < 0;
x
\.
\set VERBOSITY default
-- the agent's own sequence in its own table: as before
CREATE TABLE r34qb.mine_rows (id int DEFAULT nextval('r34qb.mine'), v text);
COPY r34qb.mine_rows (v) FROM STDIN;
a
b
\.
SELECT id, v FROM r34qb.mine_rows ORDER BY id;
-- F2: many new defaults in one ALTER TABLE draw together: 57 x 291 rows the page holds > the room
CREATE TABLE r34qb.wide (id int);
INSERT INTO r34qb.wide SELECT g FROM generate_series(1, 200) g;
\set ECHO none
SELECT 'ALTER TABLE r34qb.wide ' || string_agg(format('ADD COLUMN c%s int DEFAULT nextval(%L)', g, 'r34q.tk_id_seq'), ', ')
  FROM generate_series(1, 57) g \gexec
\set ECHO all
-- one is judged for 291 and draws 200
ALTER TABLE r34qb.wide ADD COLUMN c1 int DEFAULT nextval('r34q.tk_id_seq');
SELECT count(DISTINCT c1) FROM r34qb.wide;
\set VERBOSITY sqlstate
-- a USING next to a judged default: not blessed
CREATE TABLE r34qb.w4 (id int);
INSERT INTO r34qb.w4 SELECT g FROM generate_series(1, 100) g;
ALTER TABLE r34qb.w4 ADD COLUMN c int DEFAULT nextval('r34qb.mine'), ALTER COLUMN id TYPE bigint USING nextval('r34q.tk2_id_seq');
-- a domain column's default next to a judged default: not blessed
ALTER TABLE r34qb.w4 ADD COLUMN d int DEFAULT nextval('r34qb.mine'), ADD COLUMN e r34q.ticket;
-- a second table of the statement (an inheritance child): not blessed
CREATE TABLE r34qb.child (extra int) INHERITS (r34qb.w4);
INSERT INTO r34qb.child (id) VALUES (1);
ALTER TABLE r34qb.w4 ADD COLUMN f int DEFAULT nextval('r34qb.mine');
\set VERBOSITY default
-- a serial, and a default of its own sequence, on one table: as before
ALTER TABLE r34qb.child NO INHERIT r34qb.w4;
ALTER TABLE r34qb.w4 ADD COLUMN s serial, ADD COLUMN f int DEFAULT nextval('r34qb.mine');
SELECT count(DISTINCT s), count(DISTINCT f) FROM r34qb.w4;
-- F3: the agent's code for a human's statement and for ANALYZE
CREATE FUNCTION r34qb.stats() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE x bigint; BEGIN FOR i IN 1..20000 LOOP x := nextval('r34q.tk3_id_seq'); END LOOP; RETURN x; END $$;
CREATE VIEW r34qb.report AS SELECT r34qb.stats() AS last;
GRANT SELECT ON r34qb.report TO regress_human;
CREATE FUNCTION r34qb.drawn(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM nextval('r34q.tk3_id_seq') FROM generate_series(1, 20); RETURN $1; END $$;
CREATE TABLE r34qb.st (id int, t text) WITH (autovacuum_enabled = false);
INSERT INTO r34qb.st SELECT g, 'x' || g FROM generate_series(1, 3000) g;
CREATE STATISTICS r34qb.st_s ON (r34qb.drawn(t)), id FROM r34qb.st;

-- the human's read of the agent's view: drawn to the margin, then refused under the agent
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT last FROM r34qb.report;
-- the human's own nextval() is not judged
SELECT count(nextval('r34q.tk3_id_seq')) FROM generate_series(1, 100);

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- ANALYZE runs the agent's statistics expression: refused under the agent
ANALYZE r34qb.st;
-- the humans' side: the same ALTER TABLE works; the same COPY runs the
-- agent's default, which draws per row with no check: refused under the
-- agent since red team 35 (rt35_seq); with the column read from the input it works
COPY r34qb.burn (v) FROM STDIN;
a
b
\.
COPY r34qb.burn (id, v) FROM STDIN;
203	a
204	b
\.
SELECT id, v FROM r34qb.burn ORDER BY id;
CREATE TABLE r34q.hwide (id int);
INSERT INTO r34q.hwide SELECT g FROM generate_series(1, 3) g;
ALTER TABLE r34q.hwide ADD COLUMN a int DEFAULT nextval('r34q.tk2_id_seq'), ADD COLUMN b int DEFAULT nextval('r34q.tk2_id_seq'),
  ALTER COLUMN id TYPE bigint USING nextval('r34q.tk2_id_seq');
SELECT count(*), count(DISTINCT a), count(DISTINCT b) FROM r34q.hwide;
-- what the agent left: the margin at least
SELECT s.seqrelid::regclass AS seq, v.last_value, s.seqmax - v.last_value AS left
  FROM pg_sequence s, LATERAL (SELECT pg_sequence_last_value(s.seqrelid) AS last_value) v
 WHERE s.seqrelid IN ('r34q.tk_id_seq'::regclass, 'r34q.tk2_id_seq'::regclass, 'r34q.tk3_id_seq'::regclass)
 ORDER BY 1;

\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
INSERT INTO r34q.tk (t) VALUES ('human') RETURNING id;
INSERT INTO r34q.tk3 (t) VALUES ('human') RETURNING id;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT t, ag_agent_id IS NOT NULL AS agent_row FROM r34q.tk ORDER BY id;
-- on record
SELECT agent_guard._flush_requests();
SELECT request_id, agent_id, kind, status, left(statement, 60) AS statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
DROP SCHEMA r34q CASCADE;
DROP SCHEMA r34qb CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
