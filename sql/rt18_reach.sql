--
-- rt18_reach: red team 18a's findings on reach and structure.
-- F1: an agent's CREATE EXTENSION isn and btree_gist (trusted) complete
-- (before, the reliance walk of each new member followed isn's
-- cross-type operator families without remembering what it had seen:
-- the backend grew without bound); the guard's decisions on them stay
-- right: ALTER EXTENSION ... DROP of a type a protected table uses, a
-- GiST index of btree_gist's operator class on a protected table.
-- F2: ALTER EXTENSION ... ADD SCHEMA of a schema holding a collation or a
-- text search configuration a protected table uses: refused (YG004).  The
-- reverse order: a type, domain, collation or empty schema made a member
-- first (allowed: nothing relies on it), then ADD COLUMN of it (or
-- COLLATE, or ALTER TYPE ... ADD ATTRIBUTE of a row type a protected
-- column uses): refused (YG004); ALTER COLUMN ... TYPE: approval (YG003).
-- Taken out of the extension again, the same ADD COLUMN is allowed.
-- F4: ATTACH PARTITION of the agent's partitioned table, with a protected
-- partition below it, under a new parent (a narrow bound, a partition
-- key calling the agent's function, as DEFAULT): approval (YG003); the
-- function in an ancestor's partition key is relied upon (CREATE OR
-- REPLACE refused); a new partition (CREATE TABLE ... PARTITION OF,
-- ATTACH PARTITION) of a parent whose DEFAULT partition is protected or
-- has one below it: approval.
-- From the human's side: the same statements work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
CREATE SCHEMA r18 AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA r18 TO regress_human;

-- F1: the agent installs two trusted extensions with large operator families
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt18"
\set SHOW_CONTEXT never
CREATE EXTENSION isn SCHEMA r18;
CREATE EXTENSION btree_gist SCHEMA r18;
CREATE EXTENSION fuzzystrmatch SCHEMA r18;
SELECT extname, extowner::regrole FROM pg_extension
 WHERE extname IN ('isn', 'btree_gist', 'fuzzystrmatch') ORDER BY extname;
-- the agent's tables, to be protected
CREATE SCHEMA r18c;
CREATE COLLATION r18c.coll FROM "C";
CREATE TEXT SEARCH CONFIGURATION r18c.cfg (COPY = pg_catalog.english);
CREATE TABLE r18.docs (id int PRIMARY KEY, v text COLLATE r18c.coll,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('r18c.cfg'::regconfig, v)) STORED,
    code r18.ean13);
INSERT INTO r18.docs (id, v) VALUES (1, 'alpha'), (2, 'beta');
CREATE TABLE r18.t4 (id int PRIMARY KEY, v text, pt int);
INSERT INTO r18.t4 VALUES (1, 'keep me', 1);
CREATE TYPE r18.pt AS (a int);
CREATE TABLE r18.t5 (id int PRIMARY KEY, p r18.pt);
INSERT INTO r18.t5 VALUES (1, ROW(1));
CREATE TABLE r18.q (id int PRIMARY KEY, v text, ag_agent_id text, ag_run_id text,
                    ag_deleted_at timestamptz) PARTITION BY RANGE (id);
CREATE TABLE r18.qp PARTITION OF r18.q FOR VALUES FROM (0) TO (1000);
INSERT INTO r18.q (id, v) SELECT g, 'q' || g FROM generate_series(1, 5) g;
CREATE TABLE r18.d (id int PRIMARY KEY, v text, ag_agent_id text, ag_run_id text,
                    ag_deleted_at timestamptz) PARTITION BY RANGE (id);
CREATE TABLE r18.dd PARTITION OF r18.d DEFAULT;
INSERT INTO r18.d (id, v) VALUES (7, 'd7');
GRANT USAGE ON SCHEMA r18c TO regress_human;
GRANT SELECT, INSERT, UPDATE, DELETE ON r18.docs, r18.t4, r18.t5, r18.q, r18.qp, r18.d, r18.dd
   TO regress_human;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r18.docs', false);
SELECT agent_guard.protect('r18.t4', false);
SELECT agent_guard.protect('r18.t5', false);
SELECT agent_guard.protect('r18.qp', false);
SELECT agent_guard.protect('r18.dd', false);

CREATE FUNCTION public.regress_r18_state() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT format('%s columns: %s', c, (SELECT string_agg(format('%s %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum)
                                          FROM pg_attribute WHERE attrelid = c AND attnum > 0 AND NOT attisdropped))
      FROM unnest('{r18.docs,r18.t4,r18.pt}'::regclass[]) c
    UNION ALL
    SELECT format('parents of r18.q: %s', (SELECT coalesce(string_agg(inhparent::regclass::text, ', ' ORDER BY inhparent::regclass::text), '-')
                                            FROM pg_inherits WHERE inhrelid = 'r18.q'::regclass))
    UNION ALL
    SELECT format('partitions of r18.d: %s', (SELECT string_agg(inhrelid::regclass::text, ', ' ORDER BY inhrelid::regclass::text)
                                               FROM pg_inherits WHERE inhparent = 'r18.d'::regclass))
    UNION ALL
    SELECT format('added members: %s', (SELECT coalesce(string_agg(pg_describe_object(d.classid, d.objid, 0), ', ' ORDER BY pg_describe_object(d.classid, d.objid, 0)), '-')
                                          FROM pg_depend d
                                         WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                                           AND pg_describe_object(d.classid, d.objid, 0) ~ '(r18c|r18e|r18\.mood|r18\.memo)'
                                           AND pg_describe_object(d.classid, d.objid, 0) !~ '\[\]$'))
    UNION ALL
    SELECT format('rows: docs %s, t4 %s, qp %s, dd %s', (SELECT count(*) FROM r18.docs), (SELECT count(*) FROM r18.t4),
                  (SELECT count(*) FROM r18.qp), (SELECT count(*) FROM r18.dd))
    UNION ALL
    SELECT format('protected: %s', (SELECT string_agg(t::text, ', ' ORDER BY t::text) FROM unnest('{r18.docs,r18.t4,r18.t5,r18.qp,r18.dd}'::regclass[]) t
                                     WHERE EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = t AND tgname LIKE 'zz_agent_guard%')))
    UNION ALL
    SELECT format('log verifies: %s', (SELECT ok FROM agent_guard.verify_log()))
$$;
SELECT * FROM public.regress_r18_state();

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt18"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- F1: the decisions on the new extensions' objects: a member a protected
-- table uses taken out (YG004), a GiST index of btree_gist's operator
-- class on a protected table (YG003)
ALTER EXTENSION isn DROP TYPE r18.ean13;
CREATE INDEX ON r18.t4 USING gist (id r18.gist_int4_ops);
-- F2: error: a schema holding the collation and the text search
-- configuration the protected table uses (YG004), as the objects are
ALTER EXTENSION fuzzystrmatch ADD SCHEMA r18c;
ALTER EXTENSION fuzzystrmatch ADD COLLATION r18c.coll;
ALTER EXTENSION fuzzystrmatch ADD TEXT SEARCH CONFIGURATION r18c.cfg;
DO $$ BEGIN EXECUTE 'ALTER EXTENSION fuzzystrmatch ADD SCHEMA r18c'; END $$;
-- F2, the reverse order: members first, while nothing relies on them
-- (allowed)
CREATE TYPE r18.mood AS ENUM ('ok', 'bad');
CREATE DOMAIN r18.memo AS text;
CREATE SCHEMA r18e;
ALTER EXTENSION fuzzystrmatch ADD TYPE r18.mood;
ALTER EXTENSION fuzzystrmatch ADD DOMAIN r18.memo;
ALTER EXTENSION fuzzystrmatch ADD SCHEMA r18e;
CREATE TYPE r18e.pair AS (a int, b int);
CREATE DOMAIN r18e.note AS text;
CREATE COLLATION r18e.c2 FROM "C";
-- error: then the protected table made to rely on them (YG004)
ALTER TABLE r18.t4 ADD COLUMN m r18.mood;
ALTER TABLE r18.t4 ADD COLUMN memo r18.memo;
ALTER TABLE r18.t4 ADD COLUMN p r18e.pair;
ALTER TABLE r18.t4 ADD COLUMN n r18e.note;
ALTER TABLE r18.t4 ADD COLUMN w text COLLATE r18e.c2;
ALTER TABLE r18.t4 ADD COLUMN ms r18.mood[];
DO $$ BEGIN EXECUTE 'ALTER TABLE r18.t4 ADD COLUMN m r18.mood'; END $$;
-- a row type a protected column uses (YG004)
ALTER TYPE r18.pt ADD ATTRIBUTE m r18.mood;
-- approval: a new type for a column (YG003, as any ALTER COLUMN ... TYPE)
ALTER TABLE r18.t4 ALTER COLUMN v TYPE r18.memo;
-- allowed: a type the extension's script made, and a member taken out
-- before the column is added
ALTER TABLE r18.t4 ADD COLUMN e r18.isbn;
ALTER EXTENSION fuzzystrmatch DROP TYPE r18.mood;
ALTER TABLE r18.t4 ADD COLUMN m r18.mood;
-- F4: error: the agent's partitioned table, with protected r18.qp below
-- it, under a new parent (YG003): a narrow bound, a partition key that
-- calls the agent's function, as DEFAULT
CREATE TABLE r18.r3 (LIKE r18.q) PARTITION BY RANGE (id);
CREATE FUNCTION r18.pk(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN 0; END $$;
CREATE TABLE r18.r4 (LIKE r18.q) PARTITION BY RANGE (r18.pk(id));
CREATE TABLE r18.r6 (LIKE r18.q) PARTITION BY RANGE (id);
ALTER TABLE r18.r3 ATTACH PARTITION r18.q FOR VALUES FROM (0) TO (61);
ALTER TABLE r18.r4 ATTACH PARTITION r18.q FOR VALUES FROM (0) TO (1);
ALTER TABLE r18.r6 ATTACH PARTITION r18.q DEFAULT;
DO $$ BEGIN EXECUTE 'ALTER TABLE r18.r3 ATTACH PARTITION r18.q FOR VALUES FROM (0) TO (61)'; END $$;
-- a new partition of a parent whose DEFAULT partition is protected (YG003)
CREATE TABLE r18.d1 PARTITION OF r18.d FOR VALUES FROM (100) TO (110);
CREATE TABLE r18.d2 (LIKE r18.d);
ALTER TABLE r18.d ATTACH PARTITION r18.d2 FOR VALUES FROM (200) TO (300);
\set VERBOSITY default
-- the messages
CREATE FUNCTION pg_temp.show(stmt text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text; d text; h text;
BEGIN
    EXECUTE stmt;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RAISE NOTICE E'%\nmessage: %\ndetail: %\nhint: %', SQLSTATE,
        regexp_replace(m, '[0-9]+', 'N'), d, regexp_replace(h, '[0-9]+', 'N');
END $$;
SELECT pg_temp.show('ALTER EXTENSION fuzzystrmatch ADD SCHEMA r18c');
SELECT pg_temp.show('ALTER TABLE r18.t4 ADD COLUMN memo r18.memo');
SELECT pg_temp.show('ALTER TABLE r18.t4 ADD COLUMN p r18e.pair');
SELECT pg_temp.show('ALTER TYPE r18.pt ADD ATTRIBUTE memo r18.memo');
SELECT pg_temp.show('ALTER TABLE r18.r4 ATTACH PARTITION r18.q FOR VALUES FROM (0) TO (1)');
SELECT pg_temp.show('CREATE TABLE r18.d1 PARTITION OF r18.d FOR VALUES FROM (100) TO (110)');
\set VERBOSITY default

-- the structure as it was, but for the allowed columns; the requests
\c "dbname=contrib_regression user=regress_su options="
SELECT * FROM public.regress_r18_state();
SELECT agent_guard._flush_requests();
SELECT kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before AND run_id = 'run-rt18' ORDER BY request_id;

-- the human's side: the same statements work for a human
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
BEGIN;
ALTER EXTENSION isn DROP TYPE r18.ean13;
CREATE INDEX ON r18.t4 USING gist (id r18.gist_int4_ops);
ALTER EXTENSION fuzzystrmatch ADD SCHEMA r18c;
ALTER EXTENSION fuzzystrmatch ADD TYPE r18.mood;
ALTER TABLE r18.t4 ADD COLUMN memo r18.memo;
ALTER TABLE r18.t4 ADD COLUMN p r18e.pair;
ALTER TABLE r18.t4 ADD COLUMN w text COLLATE r18e.c2;
ALTER TYPE r18.pt ADD ATTRIBUTE memo r18.memo;
ALTER TABLE r18.t4 ALTER COLUMN v TYPE r18.memo;
ALTER TABLE r18.r3 ATTACH PARTITION r18.q FOR VALUES FROM (0) TO (61);
CREATE TABLE r18.d1 PARTITION OF r18.d FOR VALUES FROM (100) TO (110);
SELECT * FROM public.regress_r18_state() WHERE regress_r18_state !~ '^(rows|log)';
ROLLBACK;
BEGIN;
DROP EXTENSION btree_gist;
CREATE EXTENSION btree_gist SCHEMA r18;
ROLLBACK;
-- F4: a human attaches r18.q under the agent's r18.r4, whose key calls
-- r18.pk: the function is relied upon (YG004 for the agent's CREATE OR
-- REPLACE); humans write the protected partition
ALTER TABLE r18.r4 ATTACH PARTITION r18.q FOR VALUES FROM (0) TO (1);
\c "dbname=contrib_regression user=regress_human options="
INSERT INTO r18.qp (id, v) VALUES (300, 'human row');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt18-f4"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE OR REPLACE FUNCTION r18.pk(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
  $$ BEGIN IF session_user <> 'regress_bot' THEN RAISE EXCEPTION 'no'; END IF; RETURN 0; END $$;
-- a human moves it under the agent's r18.r6 as its DEFAULT partition: a
-- new partition of r18.r6 narrows it (YG003)
\c "dbname=contrib_regression user=regress_su options="
ALTER TABLE r18.r4 DETACH PARTITION r18.q;
ALTER TABLE r18.r6 ATTACH PARTITION r18.q DEFAULT;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt18-f4"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE TABLE r18.r6_hi PARTITION OF r18.r6 FOR VALUES FROM (5000) TO (100000);
CREATE TABLE r18.sib (LIKE r18.q);
ALTER TABLE r18.r6 ATTACH PARTITION r18.sib FOR VALUES FROM (2000) TO (3000);
-- a DEFAULT partition of its own: allowed
CREATE TABLE r18.sib2 (LIKE r18.q);
CREATE TABLE r18.free (LIKE r18.q) PARTITION BY RANGE (id);
ALTER TABLE r18.free ATTACH PARTITION r18.sib2 DEFAULT;
CREATE TABLE r18.free_1 PARTITION OF r18.free FOR VALUES FROM (0) TO (10);
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_human options="
INSERT INTO r18.qp (id, v) VALUES (600, 'human row after');
UPDATE r18.qp SET v = 'x' WHERE id = 300;
SELECT id, v FROM r18.qp ORDER BY id;
\c "dbname=contrib_regression user=regress_su options="
-- the human's side: new partitions of r18.r6
BEGIN;
CREATE TABLE r18.r6_hi PARTITION OF r18.r6 FOR VALUES FROM (5000) TO (100000);
ALTER TABLE r18.r6 ATTACH PARTITION r18.sib FOR VALUES FROM (2000) TO (3000);
SELECT string_agg(inhrelid::regclass::text, ', ' ORDER BY inhrelid::regclass::text) AS r6_partitions FROM pg_inherits WHERE inhparent = 'r18.r6'::regclass;
ROLLBACK;
SELECT pg_get_functiondef('r18.pk(int)'::regprocedure) ~ 'RAISE' AS pk_replaced;
SELECT * FROM public.regress_r18_state() WHERE regress_r18_state ~ '^(parents|rows|log)';
SELECT agent_guard._flush_requests();
SELECT kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before AND run_id = 'run-rt18-f4' ORDER BY request_id;

\c "dbname=contrib_regression user=regress_su options="
DROP FUNCTION public.regress_r18_state();
SELECT agent_guard.unprotect('r18.docs');
SELECT agent_guard.unprotect('r18.t4');
SELECT agent_guard.unprotect('r18.t5');
SELECT agent_guard.unprotect('r18.qp');
SELECT agent_guard.unprotect('r18.dd');
SET client_min_messages = warning;
DROP EXTENSION isn, btree_gist, fuzzystrmatch CASCADE;
DROP SCHEMA r18, r18c CASCADE;
RESET client_min_messages;
