--
-- output_settings_types: the geometric types and the reg* types print the
-- same for every agent (red team 16, finding 3).  Their output functions
-- read extra_float_digits (coordinates), search_path (a name is qualified
-- only when search_path does not find it) and quote_all_identifiers.  An
-- agent with all three set its own way writes rows a human wrote: the
-- images are those a session with default settings logs for the same
-- rows, and rollback_run() restores every value exactly.  Before, the
-- images held '(1e+03,0.1)' for the point (1234.5678,0.1) and 'pg_class'
-- for os_ty.pg_class, which a rollback read back as pg_catalog.pg_class.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE SCHEMA os_ty;
GRANT USAGE ON SCHEMA os_ty TO regress_bot;
-- objects of the agent's schema, one of them named like a catalog table
CREATE TABLE os_ty.pg_class (x int);
CREATE TYPE os_ty.mood AS ENUM ('ok');
CREATE FUNCTION os_ty.f(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
CREATE OPERATOR os_ty.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4pl);
CREATE COLLATION os_ty.coll FROM "C";
CREATE TEXT SEARCH DICTIONARY os_ty.dict (TEMPLATE = simple);
CREATE TEXT SEARCH CONFIGURATION os_ty.cfg (COPY = simple);
CREATE TYPE os_ty.pin AS (p point, c regclass);
CREATE TABLE os_ty.geo (id int PRIMARY KEY, pt point, bx box, ci circle, ls lseg, pa path,
                        po polygon, li line, pts point[], n int);
CREATE TABLE os_ty.names (id int PRIMARY KEY, rc regclass, rp regproc, rpd regprocedure,
                          ro regoper, rop regoperator, rt regtype, rcfg regconfig,
                          rd regdictionary, rn regnamespace, rr regrole, rcoll regcollation,
                          rcs regclass[], pin os_ty.pin, n int);
INSERT INTO os_ty.geo VALUES
    (1, '(1234.5678,0.1)', '((1234.5678,0.1),(0.3,0.7))', '<(1234.5678,0.1),2.5>',
     '[(1234.5678,0.1),(0.3,0.7)]', '[(1234.5678,0.1),(0.3,0.7),(1,1)]',
     '((1234.5678,0.1),(0.3,0.7),(1,1))', '{1234.5678,0.1,-0.3}',
     '{"(1234.5678,0.1)","(1e-300,3)"}', 0),
    (2, '(0.1,0.2)', '((1,1),(0,0))', '<(0,0),0.30000000000000004>', '[(0,0),(1,1)]',
     '((0,0),(1,1))', '((0,0),(1,1),(2,0))', '{1,-1,0.1}', '{}', 0);
INSERT INTO os_ty.names VALUES
    (1, 'os_ty.pg_class', 'os_ty.f', 'os_ty.f(int)', 'os_ty.===', 'os_ty.===(int,int)',
     'os_ty.mood', 'os_ty.cfg', 'os_ty.dict', 'os_ty', 'regress_bot', 'os_ty.coll',
     '{os_ty.pg_class,pg_class}', ROW('(1234.5678,0.1)', 'os_ty.pg_class'), 0),
    (2, 'pg_class', 'int4pl', 'int4pl(int,int)', '|/', '+(int,int)', 'int4',
     'simple', 'simple', 'pg_catalog', 'regress_su', '"C"', '{}', NULL, 0);
-- a copy written by an agent with default settings
CREATE TABLE os_ty.geo_d (LIKE os_ty.geo INCLUDING ALL);
CREATE TABLE os_ty.names_d (LIKE os_ty.names INCLUDING ALL);
INSERT INTO os_ty.geo_d SELECT * FROM os_ty.geo;
INSERT INTO os_ty.names_d SELECT * FROM os_ty.names;
GRANT SELECT, UPDATE, DELETE ON os_ty.geo, os_ty.names, os_ty.geo_d, os_ty.names_d TO regress_bot;
SELECT agent_guard.protect('os_ty.geo', soft_delete => false);
SELECT agent_guard.protect('os_ty.names', soft_delete => false);
SELECT agent_guard.protect('os_ty.geo_d', soft_delete => false);
SELECT agent_guard.protect('os_ty.names_d', soft_delete => false);
CREATE TABLE os_ty_before_geo AS SELECT * FROM os_ty.geo;
CREATE TABLE os_ty_before_names AS SELECT * FROM os_ty.names;

-- the hostile agent: its own schema first, floats cut to one digit, every name quoted
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-osty-1"
SET search_path = os_ty, pg_catalog;
SET extra_float_digits = -15;
SET quote_all_identifiers = on;
-- how this session prints them
SELECT '(1234.5678,0.1)'::point AS pt, 'os_ty.pg_class'::regclass AS rc, 'os_ty'::regnamespace AS rn;
UPDATE geo SET n = 1 WHERE id > 0;
UPDATE names SET n = 1 WHERE id > 0;
DELETE FROM geo WHERE id = 2;
DELETE FROM names WHERE id = 1;
-- the same writes with default settings
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-osty-2"
UPDATE os_ty.geo_d SET n = 1 WHERE id > 0;
UPDATE os_ty.names_d SET n = 1 WHERE id > 0;
DELETE FROM os_ty.geo_d WHERE id = 2;
DELETE FROM os_ty.names_d WHERE id = 1;

\c "dbname=contrib_regression user=regress_su options="
-- the images: names qualified unless in pg_catalog, coordinates exact
SELECT e.relation, e.operation, e.old_row - 'ag_agent_id' - 'ag_run_id' AS old_row
  FROM agent_guard.events e WHERE e.run_id = 'run-osty-1' ORDER BY e.event_id;
-- every image of the hostile run is the default session's image of the same row
SELECT h.relation, h.operation, h.row_key,
       h.old_row - 'ag_run_id' = d.old_row - 'ag_run_id' AS same_old,
       h.new_row - 'ag_run_id' IS NOT DISTINCT FROM d.new_row - 'ag_run_id' AS same_new
  FROM agent_guard.events h
  JOIN agent_guard.events d ON d.run_id = 'run-osty-2' AND d.relation = h.relation || '_d'
                           AND d.operation = h.operation AND d.row_key = h.row_key
 WHERE h.run_id = 'run-osty-1' ORDER BY h.event_id;
-- the rollback, from a session with the same settings, restores every value
SET search_path = os_ty, pg_catalog;
SET extra_float_digits = -15;
SET quote_all_identifiers = on;
SELECT step, relation, operation, status FROM agent_guard.rollback_run('run-osty-1', apply => true) ORDER BY step;
RESET search_path;
SELECT 'geo' AS t, count(*) AS rows,
       count(*) FILTER (WHERE record_image_eq(ROW(a.pt, a.bx, a.ci, a.ls, a.pa, a.po, a.li, a.pts, a.n),
                                              ROW(b.pt, b.bx, b.ci, b.ls, b.pa, b.po, b.li, b.pts, b.n))) AS exact
  FROM os_ty.geo a JOIN os_ty_before_geo b USING (id)
UNION ALL
SELECT 'names', count(*),
       count(*) FILTER (WHERE record_image_eq(ROW(a.rc, a.rp, a.rpd, a.ro, a.rop, a.rt, a.rcfg, a.rd, a.rn, a.rr,
                                                  a.rcoll, a.rcs, a.pin, a.n),
                                              ROW(b.rc, b.rp, b.rpd, b.ro, b.rop, b.rt, b.rcfg, b.rd, b.rn, b.rr,
                                                  b.rcoll, b.rcs, b.pin, b.n)))
  FROM os_ty.names a JOIN os_ty_before_names b USING (id);
SELECT rc::oid = 'os_ty.pg_class'::regclass::oid AS still_os_ty_pg_class FROM os_ty.names WHERE id = 1;
