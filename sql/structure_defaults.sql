--
-- structure_defaults: what an agent puts into a protected table that runs,
-- or is checked, in humans' writes of it (issue 16; red team 4, finding 9).
-- From the agent's side: a column default that calls a function or
-- operator that is not the system's, or casts to a domain with
-- constraints (ADD COLUMN ... DEFAULT, also a volatile one that would run
-- for every row at once; ALTER COLUMN ... SET DEFAULT), and a generated
-- column, wait for a human (YG003); a publication that ships a protected
-- table (with a column list, a row filter, or neither; CREATE or ALTER
-- PUBLICATION; through its partitioned parent), new options of a
-- publication that ships one, and REPLICA IDENTITY are refused (YG004):
-- the table, its defaults, replica identity and publications, its rows and
-- the log intact, humans' inserts, updates and deletes still working.
-- The system's code can fail too (red team 12, finding 2): a default that
-- is not a constant, one of the system's functions known not to fail or
-- nextval() of the column's own sequence, and an index or statistics
-- expression or a partial index's predicate, wait for a human (YG003).
-- From the human's side: the same statements work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA sd AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA sd TO regress_human;
-- publications need CREATE on the database
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
SET ROLE regress_bot;
CREATE TABLE sd.t (id int PRIMARY KEY, v text, n int);
GRANT SELECT, INSERT, UPDATE, DELETE ON sd.t TO regress_human;
-- traps: they fail for everyone but the agent
CREATE FUNCTION sd.trap() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    IF session_user <> 'regress_bot' THEN RAISE EXCEPTION 't is unavailable'; END IF;
    RETURN 0;
END $$;
CREATE FUNCTION sd.zero(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF session_user <> 'regress_bot' THEN RAISE EXCEPTION 't is unavailable'; END IF;
    RETURN 0;
END $$;
CREATE FUNCTION sd.plus(int, int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + $2 + sd.zero(0)';
CREATE OPERATOR sd.### (LEFTARG = int, RIGHTARG = int, FUNCTION = sd.plus);
CREATE DOMAIN sd.tag AS text CHECK (session_user = 'regress_bot');
-- the agent's own tables: a plain one, a partitioned one a human
-- protects, and an inheritance parent whose child a human protects
CREATE TABLE sd.mine (id int PRIMARY KEY, v text);
CREATE TABLE sd.pp (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE sd.pp_1 PARTITION OF sd.pp FOR VALUES FROM (0) TO (100);
GRANT SELECT, INSERT, UPDATE, DELETE ON sd.pp TO regress_human;
CREATE TABLE sd.base (id int, v text);
CREATE TABLE sd.kid (PRIMARY KEY (id)) INHERITS (sd.base);
GRANT SELECT, INSERT, UPDATE, DELETE ON sd.kid TO regress_human;
-- a publication of the agent's, made before its table was protected:
-- inserts only, so a column list without the key refuses no write
CREATE TABLE sd.early (id int PRIMARY KEY, v text);
GRANT SELECT, INSERT, UPDATE, DELETE ON sd.early TO regress_human;
SET client_min_messages = error;    -- not the warning on wal_level
CREATE PUBLICATION regress_sd_early FOR TABLE sd.early (v) WITH (publish = 'insert');
RESET client_min_messages;
RESET ROLE;
-- a human's function, for the human's side
CREATE FUNCTION public.regress_sd_one() RETURNS int LANGUAGE sql STABLE AS 'SELECT 1';
SELECT agent_guard.protect('sd.t', false);
SELECT agent_guard.protect('sd.pp', false);
SELECT agent_guard.protect('sd.kid', false);
SELECT agent_guard.protect('sd.early', false);
INSERT INTO sd.t VALUES (1, 'one', 1), (2, 'two', 2);
INSERT INTO sd.early VALUES (1, 'one');

CREATE FUNCTION public.regress_sd_state() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT format('columns: %s', (SELECT string_agg(format('%s %s', a.attname, format_type(a.atttypid, a.atttypmod)), ',' ORDER BY a.attnum)
                                    FROM pg_attribute a WHERE a.attrelid = 'sd.t'::regclass AND a.attnum > 0 AND NOT a.attisdropped))
    UNION ALL
    SELECT format('defaults: %s', (SELECT string_agg(format('%s=%s', a.attname, pg_get_expr(d.adbin, d.adrelid)), ',' ORDER BY a.attnum)
                                     FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                                    WHERE d.adrelid = 'sd.t'::regclass))
    UNION ALL
    SELECT format('replica identity: %s', (SELECT relreplident FROM pg_class WHERE oid = 'sd.t'::regclass))
    UNION ALL
    SELECT format('publications: %s', (SELECT string_agg(format('%s %s.%s (%s) %s %s', p.pubname, pt.schemaname, pt.tablename,
                                                                array_to_string(pt.attnames, ','), coalesce(pt.rowfilter, '-'),
                                                                concat_ws('/', CASE WHEN p.pubinsert THEN 'i' END, CASE WHEN p.pubupdate THEN 'u' END,
                                                                          CASE WHEN p.pubdelete THEN 'd' END)),
                                                         '; ' ORDER BY p.pubname, pt.tablename)
                                         FROM pg_publication p JOIN pg_publication_tables pt ON pt.pubname = p.pubname
                                        WHERE pt.schemaname = 'sd'))
    UNION ALL
    SELECT format('rows: %s', (SELECT string_agg(format('%s %s %s', id, v, n), '; ' ORDER BY id) FROM sd.t))
    UNION ALL
    SELECT format('log verifies: %s', (SELECT ok FROM agent_guard.verify_log()))
$$;
SELECT * FROM public.regress_sd_state();

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-sd"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SET client_min_messages = error;    -- not the warning on wal_level
CREATE SEQUENCE sd.s_free;
CREATE SEQUENCE sd.s_short MAXVALUE 2;
CREATE SEQUENCE sd.s_own OWNED BY sd.t.n;
GRANT USAGE ON SEQUENCE sd.s_own TO regress_human;   -- humans may use it (red team 30, F3)
CREATE TEMP SEQUENCE ts;
-- error: a default that runs the agent's code in humans' inserts (YG003)
ALTER TABLE sd.t ADD COLUMN c int DEFAULT sd.trap();
ALTER TABLE sd.t ADD COLUMN IF NOT EXISTS c int DEFAULT sd.trap();
ALTER TABLE sd.t ADD COLUMN c int DEFAULT (1 OPERATOR(sd.###) 1);
ALTER TABLE sd.t ADD COLUMN c text DEFAULT 'x'::sd.tag;
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT sd.trap();
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT 2 + sd.zero(0);
ALTER TABLE sd.t ALTER COLUMN v SET DEFAULT 'x'::sd.tag;
ALTER TABLE sd.t ALTER COLUMN v DROP DEFAULT, ALTER COLUMN n SET DEFAULT sd.trap();
DO $$ BEGIN EXECUTE 'ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT sd.trap()'; END $$;
-- error: through a parent of the agent's, to its protected child (YG003)
ALTER TABLE sd.base ALTER COLUMN v SET DEFAULT sd.trap()::text;
ALTER TABLE sd.base ADD COLUMN c int DEFAULT sd.trap();
-- error: volatile, it would also run at once, for every row (YG003)
ALTER TABLE sd.t ADD COLUMN c int DEFAULT sd.trap() + (random() * 0)::int;
-- error: the system's code that fails when the agent wants it to, in
-- humans' inserts, rollback_run() and ANALYZE (YG003; red team 12, finding 2):
-- a constant that cannot be computed, a stable function, nextval() of a
-- sequence the column does not own (never granted, used up) or of a
-- temporary one; an index expression, a partial index's predicate, a
-- statistics expression, whatever they call
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT (1/0);
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT 3000000000;
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT current_setting('no.such')::int;
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT nextval('sd.s_free');
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT nextval('pg_temp.ts');
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT nextval('sd.s_short');
ALTER TABLE sd.base ALTER COLUMN v SET DEFAULT (1/0)::text;
CREATE INDEX ON sd.t ((1 / (CASE WHEN id > 1000 THEN 0 ELSE 1 END)));
CREATE INDEX ON sd.t (v) WHERE 1 / (CASE WHEN id > 1000 THEN 0 ELSE 1 END) > 0;
CREATE INDEX ON sd.t (lower(v));
CREATE STATISTICS sd.st_x ON (1 / (CASE WHEN id > 1001 THEN 0 ELSE 1 END)), v FROM sd.t;
-- error: a generated column (YG003, as before)
ALTER TABLE sd.t ADD COLUMN g int GENERATED ALWAYS AS (sd.zero(id)) STORED;
-- error: a publication that ships a protected table (YG004)
CREATE PUBLICATION regress_sd_p1 FOR TABLE sd.t (v, n);
CREATE PUBLICATION regress_sd_p2 FOR TABLE sd.t WHERE (n > 0);
CREATE PUBLICATION regress_sd_p3 FOR TABLE sd.t;
CREATE PUBLICATION regress_sd_p4 FOR TABLE sd.mine, sd.t (v) WITH (publish = 'insert');
CREATE PUBLICATION regress_sd_p5 FOR TABLE sd.pp;
CREATE PUBLICATION regress_sd_p6 FOR TABLE sd.pp_1 (id);
CREATE PUBLICATION regress_sd_p8 FOR TABLE sd.base;
DO $$ BEGIN EXECUTE 'CREATE PUBLICATION regress_sd_p7 FOR TABLE sd.t (v)'; END $$;
-- allowed: a publication of the agent's own table (of the parent alone)
CREATE PUBLICATION regress_sd_mine FOR TABLE sd.mine (v), ONLY sd.base WITH (publish = 'insert');
-- error: ... but not a protected table added to it (YG004)
ALTER PUBLICATION regress_sd_mine ADD TABLE sd.t (v);
ALTER PUBLICATION regress_sd_mine SET TABLE sd.mine, sd.t WHERE (n > 0);
ALTER PUBLICATION regress_sd_mine ADD TABLE sd.pp;
ALTER PUBLICATION regress_sd_mine ADD TABLE sd.kid;
-- error: new options of a publication that ships a protected table (YG004):
-- with updates published, its column list would refuse humans' updates
ALTER PUBLICATION regress_sd_early SET (publish = 'insert, update, delete');
ALTER PUBLICATION regress_sd_early SET (publish_via_partition_root = true);
DO $$ BEGIN EXECUTE 'ALTER PUBLICATION regress_sd_early SET (publish = ''insert, delete'')'; END $$;
-- error: the replica identity (YG004, as before)
ALTER TABLE sd.t REPLICA IDENTITY FULL;
ALTER TABLE sd.t REPLICA IDENTITY NOTHING;
\set VERBOSITY default
RESET client_min_messages;
-- the messages, once (the request's number left out)
CREATE FUNCTION pg_temp.show(stmt text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m text; d text; h text;
BEGIN
    EXECUTE stmt;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RAISE NOTICE E'%\nmessage: %\ndetail: %\nhint: %', SQLSTATE,
        regexp_replace(m, '[0-9]+', 'N'), d, regexp_replace(h, '[0-9]+', 'N');
END $$;
SELECT pg_temp.show('ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT sd.trap()');
SELECT pg_temp.show('CREATE PUBLICATION regress_sd_p1 FOR TABLE sd.t (v, n)');
SELECT pg_temp.show('ALTER PUBLICATION regress_sd_early SET (publish = ''insert, update'')');
-- allowed: defaults of the system's code, volatile ones too (the table is
-- rewritten with the system's code only); a rename of the publication
-- that ships a protected table, and taking the table out of it
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT 7;
ALTER TABLE sd.t ADD COLUMN c text DEFAULT lower('X');
ALTER TABLE sd.t ADD COLUMN at timestamptz DEFAULT clock_timestamp();
-- allowed: a constant PostgreSQL computes now, the system's functions
-- known not to fail, nextval() of the column's own sequence, plain
-- column indexes and statistics
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT 2 + 3;
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT nextval('sd.s_own');
ALTER TABLE sd.t ALTER COLUMN v SET DEFAULT gen_random_uuid()::text;
ALTER TABLE sd.t ALTER COLUMN v SET DEFAULT current_user;
ALTER TABLE sd.t ALTER COLUMN v DROP DEFAULT;
CREATE INDEX t_vn_idx ON sd.t (id, n);
CREATE STATISTICS sd.st_ok ON v, n FROM sd.t;
DROP STATISTICS sd.st_ok;
DROP INDEX sd.t_vn_idx;
ALTER TABLE sd.t ALTER COLUMN n DROP DEFAULT;
-- allowed: the agent's own table alone (ONLY: not its protected child)
ALTER TABLE ONLY sd.base ALTER COLUMN v SET DEFAULT sd.trap()::text;
ALTER PUBLICATION regress_sd_early RENAME TO regress_sd_early2;
ALTER PUBLICATION regress_sd_mine DROP TABLE ONLY sd.base;

-- the table as it was, but for the allowed changes; the requests on record
\c "dbname=contrib_regression user=regress_su options="
SELECT * FROM public.regress_sd_state();
SELECT count(*) AS rows_with_at FROM sd.t WHERE at IS NOT NULL;
SELECT adrelid::regclass, pg_get_expr(adbin, adrelid) FROM pg_attrdef
 WHERE adrelid IN ('sd.base'::regclass, 'sd.kid'::regclass) ORDER BY 1;
SELECT pubname FROM pg_publication WHERE pubname LIKE 'regress\_sd%' ORDER BY 1;
SELECT agent_guard._flush_requests();
SELECT kind, status, statement, reason FROM agent_guard.requests
 WHERE request_id > :req_before AND run_id = 'run-sd' ORDER BY request_id;

-- humans insert, update and delete as before
\c "dbname=contrib_regression user=regress_human options="
INSERT INTO sd.t (id, v) VALUES (3, 'three');
UPDATE sd.t SET v = 'two!' WHERE id = 2;
DELETE FROM sd.t WHERE id = 3;
INSERT INTO sd.pp VALUES (5, 'five');
UPDATE sd.pp SET v = 'five!' WHERE id = 5;
-- sd.early is still in the agent's publication, inserts only
INSERT INTO sd.early VALUES (2, 'two');
UPDATE sd.early SET v = 'one!' WHERE id = 1;
DELETE FROM sd.early WHERE id = 2;
SELECT id, v FROM sd.early ORDER BY id;
INSERT INTO sd.kid (id) VALUES (1);
SELECT id, v FROM sd.kid;
SELECT id, v, n, c FROM sd.t ORDER BY id;

-- the human's side: the same statements work for a human
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
ALTER TABLE sd.t ADD COLUMN h int DEFAULT public.regress_sd_one();
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT public.regress_sd_one() + 1;
ALTER TABLE sd.t ADD COLUMN g int GENERATED ALWAYS AS (id * 2) STORED;
SET client_min_messages = error;
CREATE PUBLICATION regress_sd_h1 FOR TABLE sd.t (id, v) WHERE (id > 0);
RESET client_min_messages;
ALTER PUBLICATION regress_sd_h1 SET (publish = 'insert, update');
ALTER TABLE sd.t REPLICA IDENTITY FULL;
ALTER TABLE sd.t REPLICA IDENTITY DEFAULT;
BEGIN;
ALTER TABLE sd.t ALTER COLUMN n SET DEFAULT nextval('sd.s_free');
CREATE INDEX ON sd.t ((1 / (CASE WHEN id > 1000 THEN 0 ELSE 1 END)));
CREATE INDEX ON sd.t (v) WHERE 1 / (CASE WHEN id > 1000 THEN 0 ELSE 1 END) > 0;
CREATE STATISTICS sd.st_h ON (1 / (CASE WHEN id > 1001 THEN 0 ELSE 1 END)), v FROM sd.t;
ROLLBACK;
\c "dbname=contrib_regression user=regress_human options="
INSERT INTO sd.t (id, v) VALUES (4, 'four');
UPDATE sd.t SET v = 'four!' WHERE id = 4;
SELECT id, v, n, h, g FROM sd.t ORDER BY id;
\c "dbname=contrib_regression user=regress_su options="
SELECT * FROM public.regress_sd_state();

DROP PUBLICATION regress_sd_h1;
-- taking a protected table out of a publication, dropping it: the agent may
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-sd"
ALTER PUBLICATION regress_sd_early2 DROP TABLE sd.early;
DROP PUBLICATION regress_sd_early2;
DROP PUBLICATION regress_sd_mine;
\c "dbname=contrib_regression user=regress_su options="
SELECT pubname FROM pg_publication WHERE pubname LIKE 'regress\_sd%' ORDER BY 1;
DROP FUNCTION public.regress_sd_state();
SELECT agent_guard.unprotect('sd.t');
SELECT agent_guard.unprotect('sd.pp');
SELECT agent_guard.unprotect('sd.kid');
SELECT agent_guard.unprotect('sd.early');
DROP SCHEMA sd CASCADE;
DROP FUNCTION public.regress_sd_one();
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
