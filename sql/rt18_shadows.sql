--
-- rt18_shadows: shadows the owner check missed (red team 18a).
-- F7: an agent's CREATE EXTENSION of a trusted extension (intarray): its
-- script runs as the bootstrap superuser, who owns the operators, and the
-- extension is the agent's.  intarray's @>, <@, && (int4[], int4[]) match
-- a human's int[] better than pg_catalog's anyarray ones.  A member of an
-- extension an agent role owns counts as the agent's.
-- F8: JOIN ... USING (col) and NATURAL JOIN choose = by name through the
-- search_path; in a human's utility statement (BEGIN ATOMIC, a view, a
-- policy) they count as = written alone.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_r18_human LOGIN;
CREATE SCHEMA r18h AUTHORIZATION regress_r18_human;   -- the human's
CREATE SCHEMA r18b AUTHORIZATION regress_bot;         -- the agent's, on the human's search_path
GRANT USAGE ON SCHEMA r18h, r18b TO PUBLIC;
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;   -- trusted extensions
-- request ids that do not depend on the tests before
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 800000, false) AS ids_from;

\c "dbname=contrib_regression user=regress_r18_human options="
CREATE TABLE r18h.docs (id int PRIMARY KEY, tags int[], email varchar(100));
INSERT INTO r18h.docs SELECT g, CASE WHEN g % 3 = 0 THEN ARRAY[1, NULL] ELSE ARRAY[g] END,
  'u' || g || '@x.org' FROM generate_series(1, 9) g;
CREATE TABLE r18h.hdocs (id int, email varchar(100));   -- not protected

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r18h.docs');

-- before the extension: pg_catalog's operators
\c "dbname=contrib_regression user=regress_r18_human options=-csearch_path=r18h,r18b"
SELECT count(*) AS contains_1 FROM docs WHERE tags @> ARRAY[1];

-- F7: a trusted extension's script runs as the bootstrap superuser, and
-- PostgreSQL does not ask whether the caller may create in the target
-- schema: refused (YG004, on record) into pg_catalog (every human's
-- statement would choose its operators) or the human's schema; nothing
-- created
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r18-0"
\set SHOW_CONTEXT never
CREATE EXTENSION intarray SCHEMA pg_catalog;
CREATE EXTENSION intarray SCHEMA r18h;
SET search_path = pg_catalog;
CREATE EXTENSION intarray;
RESET search_path;
SELECT count(*) AS created FROM pg_extension WHERE extname = 'intarray';
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT agent_id, run_id, kind, status, statement
  FROM agent_guard.requests WHERE run_id = 'run-r18-0' ORDER BY request_id;
SELECT count(*) AS blocked FROM agent_guard.events
 WHERE operation = 'BLOCKED' AND run_id = 'run-r18-0';

-- the agent installs intarray into its own schema on the human's search_path
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r18-1"
CREATE EXTENSION intarray SCHEMA r18b;
\c "dbname=contrib_regression user=regress_su options="
SELECT e.extowner::regrole AS ext_owner, o.oprowner::regrole <> 'regress_bot'::regrole AS op_not_agents
  FROM pg_extension e, pg_operator o
 WHERE e.extname = 'intarray' AND o.oid = 'r18b.@>(int4[], int4[])'::regoperator;

\c "dbname=contrib_regression user=regress_r18_human options=-csearch_path=r18h,r18b"
\set SHOW_CONTEXT never
-- refused: reads and writes that would run the extension's operators
SELECT count(*) FROM docs WHERE tags @> ARRAY[1];
DELETE FROM docs WHERE tags && ARRAY[999];
UPDATE docs SET email = email WHERE tags <@ ARRAY[1, 2, 3];
-- refused: utility statements that would store them
CREATE VIEW r18h.v1 AS SELECT id FROM docs WHERE tags @> ARRAY[1];
CREATE FUNCTION r18h.f1() RETURNS bigint LANGUAGE sql
  BEGIN ATOMIC SELECT count(*) FROM r18h.docs WHERE tags && ARRAY[2]; END;
CREATE POLICY p1 ON hdocs USING (ARRAY[id] <@ ARRAY[1, 2]);
SELECT count(*) AS created FROM pg_class WHERE relname = 'v1';
SELECT count(*) AS created FROM pg_proc WHERE proname = 'f1';
SELECT count(*) AS created FROM pg_policy WHERE polname = 'p1';
SELECT count(*) AS rows_left FROM docs;
-- runs: the built-in written with its schema; the extension's functions
-- that shadow nothing, written with theirs
SELECT count(*) AS contains_1 FROM docs WHERE tags OPERATOR(pg_catalog.@>) ARRAY[1];
SELECT r18b.icount(ARRAY[1, 2, 3]) AS icount;
-- runs: a search_path without the agent's schema
SET search_path = r18h;
SELECT count(*) AS contains_1 FROM docs WHERE tags @> ARRAY[1];
CREATE VIEW r18h.v1 AS SELECT id FROM docs WHERE tags @> ARRAY[1];
SELECT count(*) AS via_view FROM r18h.v1;
DROP VIEW r18h.v1;

-- the same extension a human installs is a human's: it runs
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r18-2"
DROP EXTENSION intarray;
\c "dbname=contrib_regression user=regress_su options="
CREATE EXTENSION intarray SCHEMA r18b;
\c "dbname=contrib_regression user=regress_r18_human options=-csearch_path=r18h,r18b"
-- (intarray's @>: rows without NULLs only, else "array must not contain nulls")
SELECT count(*) AS ext_contains_1
  FROM (SELECT tags FROM docs WHERE id % 3 <> 0 OFFSET 0) s WHERE tags @> ARRAY[1];
\c "dbname=contrib_regression user=regress_su options="
DROP EXTENSION intarray;

-- F8: the agent's = on varchar, and a table to join with
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r18-3"
CREATE FUNCTION r18b.vc_eq(varchar, varchar) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR r18b.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = r18b.vc_eq);
CREATE TABLE r18b.vip (email varchar(100));
INSERT INTO r18b.vip VALUES ('nobody@x.org');
GRANT SELECT ON r18b.vip TO PUBLIC;

\c "dbname=contrib_regression user=regress_r18_human options=-csearch_path=r18h,r18b"
\set SHOW_CONTEXT never
-- refused: a statement (the parse walker, as before)
SELECT count(*) FROM docs JOIN vip USING (email);
-- refused: no = in the text, but USING and NATURAL choose it
CREATE FUNCTION r18h.n_vip() RETURNS bigint LANGUAGE sql
  BEGIN ATOMIC SELECT count(*) FROM r18h.docs JOIN vip USING (email); END;
CREATE VIEW r18h.v2 AS SELECT id FROM docs NATURAL JOIN (SELECT email FROM vip) s;
CREATE POLICY p2 ON hdocs USING (EXISTS (SELECT 1 FROM docs d NATURAL JOIN vip));
CREATE POLICY p3 ON hdocs USING (EXISTS (SELECT 1 FROM docs d LEFT JOIN vip USING (email)));
CREATE RULE r2 AS ON INSERT TO hdocs DO ALSO
  SELECT 1 FROM docs d JOIN (SELECT id AS hid FROM hdocs) h ON h.hid > d.id JOIN vip USING (email);
-- refused: nested joins, the inner one closed by USING
CREATE VIEW r18h.v3 AS SELECT d.id FROM docs d JOIN (hdocs h JOIN vip USING (email)) ON d.id > h.id;
SELECT count(*) AS created FROM pg_proc WHERE proname = 'n_vip';
SELECT count(*) AS created FROM pg_class WHERE relname IN ('v2', 'v3');
SELECT count(*) AS created FROM pg_policy WHERE polname IN ('p2', 'p3');
SELECT count(*) AS created FROM pg_rewrite WHERE rulename = 'r2';
-- runs: the agent's = written with its schema, in a policy whose USING
-- is no join's
CREATE POLICY p4 ON hdocs USING (email OPERATOR(r18b.=) 'x'::varchar);
-- runs: the built-in = written with its schema
CREATE FUNCTION r18h.n_vip() RETURNS bigint LANGUAGE sql
  BEGIN ATOMIC SELECT count(*) FROM r18h.docs d JOIN vip v ON d.email OPERATOR(pg_catalog.=) v.email; END;
SELECT r18h.n_vip() AS n_vip;
DROP FUNCTION r18h.n_vip();
-- runs: the agent's schema off the search_path (its table named with it)
SET search_path = r18h;
CREATE FUNCTION r18h.n_vip() RETURNS bigint LANGUAGE sql
  BEGIN ATOMIC SELECT count(*) FROM r18h.docs JOIN r18b.vip USING (email); END;
CREATE VIEW r18h.v2 AS SELECT id FROM docs NATURAL JOIN (SELECT email FROM r18b.vip) s;
SELECT r18h.n_vip() AS n_vip, (SELECT count(*) FROM r18h.v2) AS via_view;
SELECT count(*) AS agents_eq_stored FROM pg_depend
 WHERE objid = 'r18h.n_vip()'::regprocedure AND refobjid = 'r18b.=(varchar, varchar)'::regoperator;

\c "dbname=contrib_regression user=regress_su options="
SET client_min_messages = warning;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
DROP SCHEMA r18b CASCADE;
DROP SCHEMA r18h CASCADE;
DROP ROLE regress_r18_human;
