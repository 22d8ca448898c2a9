--
-- structure_code: structure an agent puts on a protected table that would
-- run code that is not the system's in humans' statements, or refuse
-- humans' writes, without a human (red team 4, findings 1, 7, 8, 11).
-- From the agent's side: an index or extended statistics whose expression
-- or predicate calls a function that is not the system's or casts to a
-- domain with constraints (any expression or predicate since red team 12,
-- finding 2), or that uses an operator class that is not the system's; a
-- column of a domain with constraints; SET STORAGE PLAIN: each
-- waits for a human (YG003), the table, its rows and the log intact, the
-- request on record.  protect() of a table the agent made refuses the
-- structure the agent left on it.  From the human's side: the same
-- statements work, and humans' reads and writes go on.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA sc AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA sc TO regress_human;
SET ROLE regress_bot;
CREATE TABLE sc.t (id int PRIMARY KEY, v text, n int);
GRANT SELECT, INSERT, UPDATE, DELETE ON sc.t TO regress_human;
-- a trap: fails for everyone but the agent
CREATE FUNCTION sc.zero(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF session_user <> 'regress_bot' THEN RAISE EXCEPTION 't is unavailable'; END IF;
    RETURN 0;
END $$;
CREATE DOMAIN sc.tag AS text CHECK (session_user = 'regress_bot');
CREATE DOMAIN sc.tag_nn AS text NOT NULL;
CREATE DOMAIN sc.tag2 AS sc.tag;          -- its base's CHECK
CREATE DOMAIN sc.free AS text;            -- no constraint
CREATE FUNCTION sc.cmp(int, int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT btint4cmp($1, $2)';
RESET ROLE;
-- an operator class over the agent's function (only a superuser makes one)
CREATE OPERATOR CLASS sc.int_ops FOR TYPE int USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 sc.cmp(int, int);
-- a human's functions and domain, for the human's side
CREATE FUNCTION public.regress_sc_same(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1';
CREATE DOMAIN public.regress_sc_code AS text CHECK (VALUE <> '');
SELECT agent_guard.protect('sc.t', false);
INSERT INTO sc.t VALUES (1, 'one', 1), (2, 'two', 2);

CREATE FUNCTION public.regress_sc_state() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT format('indexes: %s', (SELECT string_agg(i.indexrelid::regclass::text, ',' ORDER BY i.indexrelid::regclass::text COLLATE "C")
                                    FROM pg_index i WHERE i.indrelid = 'sc.t'::regclass))
    UNION ALL
    SELECT format('statistics: %s', (SELECT string_agg(stxname, ',' ORDER BY stxname COLLATE "C")
                                       FROM pg_statistic_ext WHERE stxrelid = 'sc.t'::regclass))
    UNION ALL
    SELECT format('columns: %s', (SELECT string_agg(format('%s %s %s', a.attname, format_type(a.atttypid, a.atttypmod), a.attstorage), ',' ORDER BY a.attnum)
                                    FROM pg_attribute a WHERE a.attrelid = 'sc.t'::regclass AND a.attnum > 0 AND NOT a.attisdropped))
    UNION ALL
    SELECT format('rows: %s', (SELECT string_agg(format('%s %s', id, left(v, 10)), '; ' ORDER BY id) FROM sc.t))
    UNION ALL
    SELECT format('log verifies: %s', (SELECT ok FROM agent_guard.verify_log()))
$$;
SELECT * FROM public.regress_sc_state();

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-sc"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: an index or statistics that runs the agent's function (YG003)
CREATE INDEX t_trap ON sc.t ((id + sc.zero(0)));
CREATE INDEX t_trap2 ON sc.t (id) WHERE sc.zero(id) = 0;
CREATE INDEX CONCURRENTLY t_trap3 ON sc.t ((sc.zero(n)));
CREATE STATISTICS sc.t_stats ON (id + sc.zero(0)), v FROM sc.t;
DO $$ BEGIN EXECUTE 'CREATE INDEX t_trap5 ON sc.t ((sc.zero(id)))'; END $$;
-- error: an operator class that is not the system's, by name (YG003)
CREATE INDEX t_trap4 ON sc.t (id sc.int_ops);
-- error: a cast to a domain with constraints checks them on every write (YG003)
CREATE INDEX t_trap6 ON sc.t ((v::sc.tag));
CREATE INDEX t_trap7 ON sc.t (id) WHERE v::sc.tag2 IS NOT NULL;
CREATE STATISTICS sc.t_stats2 ON (v::sc.tag), n FROM sc.t;
-- error: a column of a domain with constraints (YG003)
ALTER TABLE sc.t ADD COLUMN tag sc.tag;
ALTER TABLE sc.t ADD COLUMN tag sc.tag_nn;
ALTER TABLE sc.t ADD COLUMN tag sc.tag2;
-- error: PLAIN storage refuses long values (YG003)
ALTER TABLE sc.t ALTER COLUMN v SET STORAGE PLAIN;
ALTER TABLE sc.t ALTER COLUMN n SET STORAGE EXTERNAL, ALTER COLUMN v SET STORAGE plain;
\set VERBOSITY default
-- the message, once (the request's number left out)
DO $$
DECLARE
    m text; d text; h text;
BEGIN
    CREATE INDEX t_trap ON sc.t ((id + sc.zero(0)));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RAISE NOTICE E'%\nmessage: %\ndetail: %\nhint: %', SQLSTATE,
        regexp_replace(m, '[0-9]+', 'N'), d, regexp_replace(h, '[0-9]+', 'N');
END $$;
-- approval too (red team 12, finding 2): an expression or predicate of
-- the system's functions, an expression of statistics (they can fail on
-- the values the agent chooses, as 1 / 0 does)
\set VERBOSITY sqlstate
CREATE INDEX t_lower ON sc.t (lower(v)) WHERE n > 0;
CREATE INDEX t_free ON sc.t ((v::sc.free));
CREATE STATISTICS sc.t_expr ON (n + 1), v FROM sc.t;
\set VERBOSITY default
-- allowed: plain column indexes of the system's operator classes,
-- statistics on columns, an unconstrained domain, other storage
CREATE INDEX t_n ON sc.t (n int4_ops);
CREATE INDEX t_nv ON sc.t ((n), id);
CREATE STATISTICS sc.t_cols ON id, n FROM sc.t;
ALTER TABLE sc.t ADD COLUMN note sc.free;
ALTER TABLE sc.t ALTER COLUMN v SET STORAGE EXTERNAL;

-- the table as it was, but for the allowed changes; the requests on record
\c "dbname=contrib_regression user=regress_su options="
SELECT * FROM public.regress_sc_state();
SELECT agent_guard._flush_requests();
SELECT kind, status, statement, reason FROM agent_guard.requests
 WHERE request_id > :req_before AND run_id = 'run-sc' ORDER BY request_id;

-- humans read and write as before, long values included
\c "dbname=contrib_regression user=regress_human options="
SELECT count(*) FROM sc.t;
SELECT id FROM sc.t WHERE id = 1;
INSERT INTO sc.t (id, v) VALUES (3, repeat('x', 20000));
UPDATE sc.t SET v = repeat('y', 9000) WHERE id = 2;
SELECT id, length(v) FROM sc.t ORDER BY id;

-- the human's side: the same statements work for a human
\c "dbname=contrib_regression user=regress_su options="
CREATE INDEX t_trap ON sc.t ((id + public.regress_sc_same(0)));
CREATE INDEX t_trap2 ON sc.t (id) WHERE public.regress_sc_same(id) > 0;
CREATE INDEX t_trap4 ON sc.t (id sc.int_ops);
CREATE INDEX t_trap6 ON sc.t ((v::public.regress_sc_code));
CREATE STATISTICS sc.t_stats ON (id + public.regress_sc_same(0)), v FROM sc.t;
ALTER TABLE sc.t ADD COLUMN tag public.regress_sc_code;
DELETE FROM sc.t WHERE id IN (2, 3);
ALTER TABLE sc.t ALTER COLUMN v SET STORAGE PLAIN;
SELECT * FROM public.regress_sc_state();
\c "dbname=contrib_regression user=regress_human options="
INSERT INTO sc.t (id, v) VALUES (4, 'four');
SELECT id, v FROM sc.t WHERE id > 0 ORDER BY id;
\c "dbname=contrib_regression user=regress_su options="
DROP FUNCTION public.regress_sc_state();
SELECT agent_guard.unprotect('sc.t');
DROP TABLE sc.t;
DROP FUNCTION public.regress_sc_same(int);
DROP DOMAIN public.regress_sc_code;

--
-- protect() of a table the agent made: the structure it left there
--
SET ROLE regress_bot;
CREATE TABLE sc.notes (id int PRIMARY KEY, v text);
CREATE POLICY only_me ON sc.notes AS RESTRICTIVE USING (session_user = 'regress_bot');
CREATE TABLE sc.tasks (id int PRIMARY KEY, v text, ag_deleted_at timestamptz DEFAULT now());
CREATE TABLE sc.stamps (id int PRIMARY KEY, ag_agent_id text NOT NULL DEFAULT 'regress_bot');
CREATE TABLE sc.trig (id int PRIMARY KEY);
CREATE FUNCTION sc.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER a_noop BEFORE INSERT ON sc.trig FOR EACH ROW EXECUTE FUNCTION sc.noop();
-- a name like the guard's own triggers' is no way past
CREATE TRIGGER zz_agent_guard_x BEFORE UPDATE ON sc.trig FOR EACH ROW EXECUTE FUNCTION sc.noop();
CREATE RULE r AS ON DELETE TO sc.trig DO INSTEAD NOTHING;
CREATE TABLE sc.chk (id int PRIMARY KEY, ag_run_id text CHECK (ag_run_id IS NOT NULL));
CREATE TABLE sc.rls (id int PRIMARY KEY);
ALTER TABLE sc.rls ENABLE ROW LEVEL SECURITY;
-- a partitioned table: a partition's policy counts
CREATE TABLE sc.parts (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE sc.parts_1 PARTITION OF sc.parts FOR VALUES FROM (0) TO (100);
CREATE POLICY only_me ON sc.parts_1 AS RESTRICTIVE USING (session_user = 'regress_bot');
CREATE TABLE sc.ok (id int PRIMARY KEY, v text);
INSERT INTO sc.notes VALUES (1, 'note');
INSERT INTO sc.tasks (id, v, ag_deleted_at) VALUES (1, 'task', NULL);
GRANT SELECT, INSERT, UPDATE, DELETE ON sc.notes, sc.tasks, sc.stamps TO regress_human;
RESET ROLE;
-- error: each names what the agent left and how to remove it (42P16)
SELECT agent_guard.protect('sc.notes');
\echo :LAST_ERROR_SQLSTATE
SELECT agent_guard.protect('sc.tasks');
\echo :LAST_ERROR_SQLSTATE
SELECT agent_guard.protect('sc.stamps');
\echo :LAST_ERROR_SQLSTATE
SELECT agent_guard.protect('sc.trig');
\echo :LAST_ERROR_SQLSTATE
SELECT agent_guard.protect('sc.chk');
\echo :LAST_ERROR_SQLSTATE
SELECT agent_guard.protect('sc.rls', false);
\echo :LAST_ERROR_SQLSTATE
SELECT agent_guard.protect('sc.parts');
\echo :LAST_ERROR_SQLSTATE
-- nothing was protected, no stamp column added
SELECT relation FROM agent_guard.protected_tables WHERE relation::text LIKE 'sc.%';
SELECT attrelid::regclass, attname FROM pg_attribute
 WHERE attrelid::regclass::text LIKE 'sc.%' AND attname LIKE 'ag\_%' AND NOT attisdropped ORDER BY 1, 2;
-- a table with none of it is protected
SELECT agent_guard.protect('sc.ok');
-- removed as the hints say, protect() goes through
DROP POLICY only_me ON sc.notes;
ALTER TABLE sc.tasks ALTER COLUMN ag_deleted_at DROP DEFAULT;
ALTER TABLE sc.stamps ALTER COLUMN ag_agent_id DROP DEFAULT, ALTER COLUMN ag_agent_id DROP NOT NULL;
SELECT agent_guard.protect('sc.notes');
SELECT agent_guard.protect('sc.tasks');
SELECT agent_guard.protect('sc.stamps');
SELECT relation FROM agent_guard.protected_tables WHERE relation::text LIKE 'sc.%' ORDER BY 1;
-- humans see the rows; their new rows are theirs, not soft-deleted
\c "dbname=contrib_regression user=regress_human options="
SELECT id, v FROM sc.notes;
INSERT INTO sc.notes VALUES (2, 'mine');
INSERT INTO sc.tasks (id, v) VALUES (2, 'mine');
INSERT INTO sc.stamps (id) VALUES (1);
SELECT id, v, ag_agent_id, ag_deleted_at FROM sc.tasks ORDER BY id;
SELECT id, ag_agent_id FROM sc.stamps;
-- protect() again of a protected table (soft delete on) checks the stamps only:
-- a human's own policy, added after protect(), stays
\c "dbname=contrib_regression user=regress_su options="
CREATE POLICY human_view ON sc.notes AS PERMISSIVE USING (true);
SELECT agent_guard.protect('sc.notes');
SELECT agent_guard.unprotect(relation) FROM agent_guard.protected_tables
 WHERE relation::text LIKE 'sc.%' ORDER BY relation::text;
-- a human's own table keeps a human's own policies and triggers
CREATE TABLE public.regress_sc_h (id int PRIMARY KEY, v text);
CREATE POLICY mine ON public.regress_sc_h USING (true);
CREATE TRIGGER a_noop BEFORE INSERT ON public.regress_sc_h FOR EACH ROW EXECUTE FUNCTION sc.noop();
SELECT agent_guard.protect('public.regress_sc_h');
SELECT agent_guard.unprotect('public.regress_sc_h');
-- but not a default on a stamp column, whoever's table it is
ALTER TABLE public.regress_sc_h ALTER COLUMN ag_deleted_at SET DEFAULT now();
SELECT agent_guard.protect('public.regress_sc_h');
DROP TABLE public.regress_sc_h;
DROP SCHEMA sc CASCADE;
