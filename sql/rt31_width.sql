--
-- rt31_width: structure changes an agent could make to a protected table
-- that make humans' writes fail for their size or for the sequence a
-- default draws from (red team 30, findings 1, 2, 3; issue 16).
-- F1: columns that make a row humans may write too big for a page (many
-- fixed-width columns, in one ALTER or several; a long default of a column
-- TOAST cannot move out), or the table near the column limit: approval
-- (YG003), judged on the columns as the statement left them.
-- F2: a plain index whose entry can be longer than its access method
-- takes (B-tree on text, an INCLUDE column, BRIN, GIN on text[]): approval;
-- bounded keys (varchar(100)), hash, and GIN on jsonb stay allowed.
-- F3: a default drawing from a sequence the column owns, an agent's, that
-- humans may not use, that is nearly used up, or that cycles: approval;
-- one granted to humans with room stays allowed.
-- Each: refused with its SQLSTATE, the request on record, the table and
-- the log intact, humans' writes of wide and long rows still working;
-- the same statements from a human work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1001000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r31w AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA r31w TO regress_human;
SET ROLE regress_bot;
CREATE TABLE r31w.wide (id int PRIMARY KEY, v text);
CREATE TABLE r31w.cols (id int PRIMARY KEY);
CREATE TABLE r31w.notes (id int PRIMARY KEY, body text, code varchar(100), tags text[], doc jsonb);
CREATE TABLE r31w.t6 (id int PRIMARY KEY, v text, n int);
CREATE TABLE r31w.pp (id int, body text, ag_agent_id text, ag_run_id text) PARTITION BY RANGE (id);
CREATE TABLE r31w.pp_1 PARTITION OF r31w.pp FOR VALUES FROM (0) TO (100);
ALTER TABLE r31w.pp_1 ADD PRIMARY KEY (id);
INSERT INTO r31w.pp VALUES (1, 'one');
INSERT INTO r31w.wide SELECT g, 'w' || g FROM generate_series(1, 5) g;
INSERT INTO r31w.cols VALUES (1);
INSERT INTO r31w.notes VALUES (1, 'short', 'c1', '{a}', '{"a": 1}');
INSERT INTO r31w.t6 VALUES (1, 'a', 1);
GRANT SELECT, INSERT, UPDATE, DELETE ON r31w.wide, r31w.cols, r31w.notes, r31w.t6, r31w.pp, r31w.pp_1 TO regress_human;
RESET ROLE;
SELECT agent_guard.protect('r31w.wide'), agent_guard.protect('r31w.cols'),
       agent_guard.protect('r31w.notes'), agent_guard.protect('r31w.t6'),
       agent_guard.protect('r31w.pp_1', false);
-- what each table looks like, for the checks below
CREATE FUNCTION public.regress_r31w_state() RETURNS TABLE (tbl text, ncols bigint, defaults bigint, indexes text)
LANGUAGE sql AS $$
    SELECT c.relname::text,
           (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
           (SELECT count(*) FROM pg_attrdef d WHERE d.adrelid = c.oid),
           (SELECT coalesce(string_agg(i.relname, ',' ORDER BY i.relname), '') FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
             WHERE x.indrelid = c.oid)
      FROM pg_class c WHERE c.relnamespace = 'r31w'::regnamespace AND c.relkind = 'r' ORDER BY c.relname
$$;
SELECT * FROM public.regress_r31w_state();

-- the agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31w-agent"
\set SHOW_CONTEXT never
UPDATE r31w.wide SET v = 'agent' WHERE id = 1;
\set VERBOSITY sqlstate
-- F1: 130 columns of name (64 bytes, storage plain) with a default (YG003)
\set ECHO none
SELECT format('ALTER TABLE r31w.wide %s', string_agg(format('ADD COLUMN n%s name DEFAULT %L', g, 'x'), ', '))
  FROM generate_series(1, 130) g \gexec
\set ECHO all
-- the same without a default: a human's row of them would not fit either
\set ECHO none
SELECT format('ALTER TABLE r31w.wide %s', string_agg(format('ADD COLUMN n%s name', g), ', '))
  FROM generate_series(1, 130) g \gexec
\set ECHO all
\set VERBOSITY default
-- allowed: 40 of them (about 2.7 kB)
\set ECHO none
SELECT format('ALTER TABLE r31w.wide %s', string_agg(format('ADD COLUMN n%s name DEFAULT %L', g, 'x'), ', '))
  FROM generate_series(1, 40) g \gexec
\set ECHO all
\set VERBOSITY sqlstate
-- several ALTERs in a row: the one that passes the limit waits (YG003)
\set ECHO none
SELECT format('ALTER TABLE r31w.wide %s', string_agg(format('ADD COLUMN m%s name', g), ', '))
  FROM generate_series(1, 40) g \gexec
\set ECHO all
DO $$ BEGIN
  FOR g IN 1..40 LOOP EXECUTE format('ALTER TABLE r31w.wide ADD COLUMN m%s name', g); END LOOP;
END $$;
-- a long default of a column TOAST cannot move out (oidvector: storage plain)
ALTER TABLE r31w.cols ADD COLUMN o oidvector;
\set VERBOSITY default
\set VERBOSITY sqlstate
\set ECHO none
SELECT format('ALTER TABLE r31w.cols ALTER COLUMN o SET DEFAULT %L::oidvector', string_agg(g::text, ' '))
  FROM generate_series(1, 400) g \gexec
\set ECHO all
-- through the agent's partitioned parent, to its protected partition (YG003)
\set ECHO none
SELECT format('ALTER TABLE r31w.pp %s', string_agg(format('ADD COLUMN n%s name DEFAULT %L', g, 'x'), ', '))
  FROM generate_series(1, 130) g \gexec
\set ECHO all
CREATE INDEX ON r31w.pp (body);
-- the column count: 800 booleans (YG003)
\set ECHO none
SELECT format('ALTER TABLE r31w.cols %s', string_agg(format('ADD COLUMN b%s bool', g), ', '))
  FROM generate_series(1, 800) g \gexec
\set ECHO all
-- F2: indexes whose entries can be too long (YG003)
CREATE INDEX notes_body_idx ON r31w.notes (body);
CREATE INDEX notes_inc_idx ON r31w.notes (id) INCLUDE (body);
CREATE INDEX notes_brin_idx ON r31w.notes USING brin (body);
CREATE INDEX notes_tags_idx ON r31w.notes USING gin (tags);
CREATE INDEX notes_doc_btree_idx ON r31w.notes (doc);
DO $$ BEGIN EXECUTE 'CREATE INDEX notes_body_idx ON r31w.notes (body)'; END $$;
\set VERBOSITY default
-- allowed: a bounded key, hash, GIN on jsonb, fixed-width keys
CREATE INDEX notes_code_idx ON r31w.notes (code);
CREATE INDEX notes_hash_idx ON r31w.notes USING hash (body);
CREATE INDEX notes_doc_idx ON r31w.notes USING gin (doc);
CREATE INDEX notes_id_idx ON r31w.notes (id, code);
-- F3: a default drawing from the column's own sequence, an agent's
ALTER TABLE r31w.t6 ADD COLUMN seqcol bigint;
CREATE SEQUENCE r31w.s_short MAXVALUE 2 OWNED BY r31w.t6.seqcol;
CREATE SEQUENCE r31w.s_nogrant OWNED BY r31w.t6.seqcol;
CREATE SEQUENCE r31w.s_late START 2147483000 OWNED BY r31w.t6.n;
CREATE SEQUENCE r31w.s_cycle CYCLE OWNED BY r31w.t6.seqcol;
CREATE SEQUENCE r31w.s_ok OWNED BY r31w.t6.seqcol;
CREATE SEQUENCE r31w.s_int OWNED BY r31w.t6.n;
GRANT USAGE ON SEQUENCE r31w.s_short, r31w.s_late, r31w.s_cycle, r31w.s_ok, r31w.s_int TO regress_human;
\set VERBOSITY sqlstate
ALTER TABLE r31w.t6 ALTER COLUMN seqcol SET DEFAULT nextval('r31w.s_short');
ALTER TABLE r31w.t6 ALTER COLUMN seqcol SET DEFAULT nextval('r31w.s_nogrant');
ALTER TABLE r31w.t6 ALTER COLUMN n SET DEFAULT nextval('r31w.s_late');
ALTER TABLE r31w.t6 ALTER COLUMN seqcol SET DEFAULT nextval('r31w.s_cycle');
-- a serial column (its new sequence, not granted to the human who inserts,
-- numbers the protected table: its OWNED BY waits already)
ALTER TABLE r31w.t6 ADD COLUMN sc serial;
\set VERBOSITY default
-- allowed: granted to every role that may insert, with room
ALTER TABLE r31w.t6 ALTER COLUMN seqcol SET DEFAULT nextval('r31w.s_ok');
ALTER TABLE r31w.t6 ALTER COLUMN n SET DEFAULT nextval('r31w.s_int');
\set VERBOSITY sqlstate
-- and now relied upon: changing the sequence waits for a human (YG003)
ALTER SEQUENCE r31w.s_ok MAXVALUE 5;
ALTER SEQUENCE r31w.s_int AS smallint;
ALTER SEQUENCE r31w.s_ok RESTART WITH 9223372036854775000;
\set VERBOSITY default

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed;
SELECT request_id, agent_id, run_id, kind, status, statement ~ '^(ALTER|CREATE|DO)' AS statement_kept, reason
  FROM agent_guard.requests WHERE request_id > :req_before ORDER BY request_id;
SELECT * FROM public.regress_r31w_state();
SELECT (SELECT count(*) FROM r31w.pp) AS pp_rows, (SELECT count(*) FROM r31w.wide) AS wide_rows, (SELECT count(*) FROM r31w.notes) AS notes_rows,
       (SELECT count(*) FROM r31w.t6) AS t6_rows, (SELECT count(*) FROM r31w.cols) AS cols_rows;
SELECT ok FROM agent_guard.verify_log();

-- a human approves the 40 more columns (about 5.2 kB): the agent's same
-- statement then runs
SELECT (agent_guard.approve(request_id, 'fits')).status
  FROM agent_guard.requests
 WHERE request_id > :req_before AND statement LIKE 'ALTER TABLE r31w.wide ADD COLUMN m1 name,%';
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31w-agent"
\set SHOW_CONTEXT never
\set ECHO none
SELECT format('ALTER TABLE r31w.wide %s', string_agg(format('ADD COLUMN m%s name', g), ', '))
  FROM generate_series(1, 40) g \gexec
\set ECHO all
SELECT count(*) AS wide_columns FROM pg_attribute WHERE attrelid = 'r31w.wide'::regclass AND attnum > 0;

-- humans' writes of wide and long rows still work
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
INSERT INTO r31w.wide (id, v) VALUES (100, 'human');
UPDATE r31w.wide SET v = 'h' WHERE id = 2;
INSERT INTO r31w.notes (id, body) VALUES (2, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 100) g));
UPDATE r31w.notes SET body = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 300) g) WHERE id = 1;
INSERT INTO r31w.t6 (id, v) VALUES (100, 'human'), (101, 'human'), (102, 'human');
INSERT INTO r31w.pp VALUES (2, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 100) g));
SELECT id, seqcol IS NOT NULL AS numbered, n IS NOT NULL AS n_numbered FROM r31w.t6 ORDER BY id;
SELECT id, length(body) FROM r31w.notes ORDER BY id;
-- the agent's run can still be rolled back
\c "dbname=contrib_regression user=regress_su options="
SELECT count(*) AS steps FROM agent_guard.rollback_run('r31w-agent', true);
SELECT id, v FROM r31w.wide WHERE id = 1;

-- the human's side: the same statements work
\c "dbname=contrib_regression user=regress_su options="
CREATE SCHEMA r31h AUTHORIZATION regress_human;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
CREATE TABLE r31h.t (id int PRIMARY KEY, body text, n bigint);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r31h.t');
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
\set ECHO none
SELECT format('ALTER TABLE r31h.t %s', string_agg(format('ADD COLUMN n%s name DEFAULT %L', g, 'x'), ', '))
  FROM generate_series(1, 130) g \gexec
\set ECHO all
CREATE INDEX t_body_idx ON r31h.t (body);
CREATE SEQUENCE r31h.s MAXVALUE 2 OWNED BY r31h.t.n;
ALTER TABLE r31h.t ALTER COLUMN n SET DEFAULT nextval('r31h.s');
SELECT count(*) AS columns FROM pg_attribute WHERE attrelid = 'r31h.t'::regclass AND attnum > 0;

-- cleanup
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unprotect('r31w.wide'), agent_guard.unprotect('r31w.cols'),
       agent_guard.unprotect('r31w.notes'), agent_guard.unprotect('r31w.t6'), agent_guard.unprotect('r31w.pp_1'),
       agent_guard.unprotect('r31h.t');
DROP SCHEMA r31w CASCADE;
DROP SCHEMA r31h CASCADE;
DROP FUNCTION public.regress_r31w_state();
