--
-- structure_parents: what an agent's statement on a parent passes down to
-- a protected inheritance child or partition (issue 16).  The agent owns
-- the parents and the protected tables under them (a human protected the
-- agent's tables).  PostgreSQL applies a parent's ALTER TABLE (a CHECK,
-- NOT NULL, a new column, a default, a type, a key) to its children, and
-- clones a partitioned table's indexes and row triggers to its partitions:
-- each gets the decision the direct act on the protected table gets
-- (README "Structure of a protected table"), judged on what PostgreSQL
-- really creates or changes (object-access hook, src/reach.c).  From the
-- agent's side: the SQLSTATE, the request, the protected tables' structure
-- and rows intact, humans' writes still working; what does not reach the
-- protected table (ONLY, what PostgreSQL does not pass down) is allowed.
-- From the human's side: the same statements work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA sp AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA sp TO regress_human;
SET ROLE regress_bot;
-- an inheritance parent and its child
CREATE TABLE sp.base (id int, a int, v text);
CREATE TABLE sp.kid (PRIMARY KEY (id)) INHERITS (sp.base);
-- a partitioned table (with the stamp columns, so that a partition can be
-- protected) and two partitions
CREATE TABLE sp.pp (id int, a int, v text, ag_agent_id text, ag_run_id text) PARTITION BY RANGE (id);
CREATE TABLE sp.pp_1 PARTITION OF sp.pp FOR VALUES FROM (0) TO (100);
CREATE TABLE sp.pp_2 PARTITION OF sp.pp FOR VALUES FROM (100) TO (200);
ALTER TABLE sp.pp_1 ADD PRIMARY KEY (id);
GRANT SELECT, INSERT, UPDATE, DELETE ON sp.kid, sp.pp_1 TO regress_human;
CREATE FUNCTION sp.zero(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF session_user <> 'regress_bot' THEN RAISE EXCEPTION 'unavailable'; END IF;
    RETURN 0;
END $$;
CREATE FUNCTION sp.trig() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'no writes'; END $$;
CREATE FUNCTION sp.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
RESET ROLE;
SELECT agent_guard.protect('sp.kid', false);
SELECT agent_guard.protect('sp.pp_1', false);
INSERT INTO sp.kid (id, a, v) VALUES (1, NULL, 'one'), (2, 2, 'two');
INSERT INTO sp.pp (id, a, v) VALUES (1, NULL, 'one'), (150, NULL, 'x');
-- a human's row trigger on the agent's partitioned table (calling the
-- agent's function): PostgreSQL clones it to the protected partition
CREATE TRIGGER h BEFORE INSERT ON sp.pp FOR EACH ROW EXECUTE FUNCTION sp.noop();

CREATE FUNCTION public.regress_sp_state() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT format('%s columns: %s', r, (SELECT string_agg(format('%s %s%s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                                                   CASE WHEN a.attnotnull THEN ' not null' END,
                                                                   CASE WHEN a.attidentity <> '' THEN ' identity' END,
                                                                   CASE WHEN a.atthasdef THEN ' default ' || pg_get_expr(d.adbin, d.adrelid) END),
                                                            ', ' ORDER BY a.attnum)
                                         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                                        WHERE a.attrelid = r AND a.attnum > 0 AND NOT a.attisdropped))
      FROM unnest(ARRAY['sp.kid'::regclass, 'sp.pp_1'::regclass]) r
    UNION ALL
    SELECT format('%s constraints: %s', r, (SELECT string_agg(format('%s %s', contype, pg_get_constraintdef(oid)), ', ' ORDER BY contype, pg_get_constraintdef(oid))
                                             FROM pg_constraint WHERE conrelid = r AND contype <> 'n'))
      FROM unnest(ARRAY['sp.kid'::regclass, 'sp.pp_1'::regclass]) r
    UNION ALL
    SELECT format('%s indexes: %s', r, (SELECT string_agg(pg_get_indexdef(indexrelid), ', ' ORDER BY pg_get_indexdef(indexrelid))
                                         FROM pg_index WHERE indrelid = r))
      FROM unnest(ARRAY['sp.kid'::regclass, 'sp.pp_1'::regclass]) r
    UNION ALL
    SELECT format('%s triggers: %s', r, (SELECT string_agg(tgname, ', ' ORDER BY tgname)
                                          FROM pg_trigger WHERE tgrelid = r AND NOT tgisinternal))
      FROM unnest(ARRAY['sp.kid'::regclass, 'sp.pp_1'::regclass]) r
    UNION ALL
    SELECT format('%s row security: %s', r, (SELECT relrowsecurity FROM pg_class WHERE oid = r))
      FROM unnest(ARRAY['sp.kid'::regclass, 'sp.pp_1'::regclass]) r
    UNION ALL
    SELECT format('kid rows: %s', (SELECT string_agg(format('%s %s %s', id, a, v), '; ' ORDER BY id) FROM sp.kid))
    UNION ALL
    SELECT format('pp_1 rows: %s', (SELECT string_agg(format('%s %s %s', id, a, v), '; ' ORDER BY id) FROM sp.pp_1))
    UNION ALL
    SELECT format('log verifies: %s', (SELECT ok FROM agent_guard.verify_log()))
$$;
SELECT * FROM public.regress_sp_state();

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-sp"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: through the inheritance parent, to protected child sp.kid (YG003)
ALTER TABLE sp.base ADD CONSTRAINT c CHECK (false) NOT VALID;
ALTER TABLE sp.base ADD COLUMN x int NOT NULL DEFAULT 0;
ALTER TABLE sp.base ALTER COLUMN v SET NOT NULL;
ALTER TABLE sp.base ALTER COLUMN id SET DEFAULT 0;
ALTER TABLE sp.base ALTER COLUMN a TYPE bigint;
ALTER TABLE sp.base DROP COLUMN a;
ALTER TABLE sp.base ALTER COLUMN v SET STORAGE PLAIN;
ALTER TABLE sp.base ADD COLUMN y int GENERATED ALWAYS AS (id * 2) STORED;
DO $$ BEGIN EXECUTE 'ALTER TABLE sp.base ADD CONSTRAINT c CHECK (a > 0) NOT VALID'; END $$;
-- a retype of the parent needs approval itself (see the approvals below)
ALTER TABLE sp.base ALTER COLUMN a TYPE bigint, ALTER COLUMN v SET NOT NULL;
-- error: through the partitioned parent, to protected partition sp.pp_1 (YG003)
ALTER TABLE sp.pp ADD CONSTRAINT c CHECK (false) NOT VALID;
ALTER TABLE sp.pp ADD COLUMN x int NOT NULL DEFAULT 0;
ALTER TABLE sp.pp ALTER COLUMN v SET NOT NULL;
ALTER TABLE sp.pp ALTER COLUMN id SET DEFAULT 0;
ALTER TABLE sp.pp ALTER COLUMN a TYPE bigint;
ALTER TABLE sp.pp DROP COLUMN a;
ALTER TABLE sp.pp ADD UNIQUE (id, a);
CREATE UNIQUE INDEX ON sp.pp (id, v);
CREATE INDEX ON sp.pp ((sp.zero(a)));
CREATE INDEX ON sp.pp (a) WHERE sp.zero(a) = 0;
-- error: a stamp column of the protected partition (YG004)
ALTER TABLE sp.pp ALTER COLUMN ag_agent_id SET DEFAULT 'bot';
ALTER TABLE sp.pp ALTER COLUMN ag_run_id SET NOT NULL;
ALTER TABLE sp.pp ADD CONSTRAINT s CHECK (ag_agent_id IS NULL) NOT VALID;
CREATE UNIQUE INDEX ON sp.pp (id, ag_run_id);
-- allowed: a key on the parent that takes the partition's key as its own
-- (no index or constraint is added to the partition)
ALTER TABLE sp.pp ADD PRIMARY KEY (id);
-- error: ... but dropping it drops the partition's key, by which the log
-- identifies its rows (YG004)
ALTER TABLE sp.pp DROP CONSTRAINT pp_pkey;
DO $$ BEGIN EXECUTE 'ALTER TABLE sp.pp DROP CONSTRAINT pp_pkey'; END $$;
-- error: a unique index on the parent, now that the partition's key is
-- taken, is a new index on the partition (YG003)
CREATE UNIQUE INDEX ON sp.pp (id);
-- error: a row trigger cloned to the protected partition (YG004)
CREATE TRIGGER t BEFORE INSERT ON sp.pp FOR EACH ROW EXECUTE FUNCTION sp.trig();
DO $$ BEGIN EXECUTE 'CREATE TRIGGER t AFTER UPDATE ON sp.pp FOR EACH ROW EXECUTE FUNCTION sp.trig()'; END $$;
-- error: the clone of the human's trigger on the protected partition,
-- disabled, renamed or dropped with the parent's (YG004)
ALTER TABLE sp.pp DISABLE TRIGGER h;
ALTER TABLE sp.pp DISABLE TRIGGER USER;
ALTER TRIGGER h ON sp.pp RENAME TO h2;
DROP TRIGGER h ON sp.pp;
\set VERBOSITY default
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
SELECT pg_temp.show('ALTER TABLE sp.base ADD CONSTRAINT c CHECK (false) NOT VALID');
SELECT pg_temp.show('ALTER TABLE sp.pp ALTER COLUMN ag_agent_id SET DEFAULT ''bot''');
SELECT pg_temp.show('CREATE TRIGGER t BEFORE INSERT ON sp.pp FOR EACH ROW EXECUTE FUNCTION sp.trig()');
SELECT pg_temp.show('ALTER TABLE sp.pp DROP CONSTRAINT pp_pkey');
SELECT pg_temp.show('ALTER TABLE sp.pp DISABLE TRIGGER h');
SELECT pg_temp.show('DROP TRIGGER h ON sp.pp');
-- error: an expression index the partitioned parent passes down to the
-- protected partition, even of the system's functions (YG003; red team 12,
-- finding 2)
\set VERBOSITY sqlstate
CREATE INDEX ON sp.pp (lower(v));
\set VERBOSITY default
-- allowed: what does not reach the protected table
ALTER TABLE ONLY sp.base ALTER COLUMN v SET STORAGE PLAIN;
ALTER TABLE ONLY sp.base ALTER COLUMN a SET DEFAULT 5;
ALTER TABLE sp.base ADD CONSTRAINT n CHECK (a > 0) NO INHERIT;
ALTER TABLE sp.base ENABLE ROW LEVEL SECURITY;
ALTER TABLE sp.pp ENABLE ROW LEVEL SECURITY;
CREATE TRIGGER t BEFORE INSERT ON sp.base FOR EACH ROW EXECUTE FUNCTION sp.trig();
CREATE TRIGGER s BEFORE INSERT ON sp.pp FOR EACH STATEMENT EXECUTE FUNCTION sp.trig();
CREATE UNIQUE INDEX ON sp.base (a);
CREATE INDEX ON ONLY sp.pp ((sp.zero(a)));
-- allowed: what the direct act on the protected table may do
ALTER TABLE sp.base ADD COLUMN z int;
ALTER TABLE sp.base ALTER COLUMN v SET DEFAULT 'v';
ALTER TABLE sp.pp ALTER COLUMN v SET DEFAULT lower('V');
ALTER TABLE sp.pp ALTER COLUMN v SET STORAGE EXTERNAL;
CREATE INDEX ON sp.pp (a);
CREATE INDEX ON sp.pp (a, id);
-- allowed: the agent's own partition alone
ALTER TABLE sp.pp_2 ADD CONSTRAINT c2 CHECK (a > 0) NOT VALID;
CREATE TRIGGER t BEFORE INSERT ON sp.pp_2 FOR EACH ROW EXECUTE FUNCTION sp.trig();

-- the protected tables as they were, but for the allowed changes; the requests
\c "dbname=contrib_regression user=regress_su options="
SELECT * FROM public.regress_sp_state();
SELECT agent_guard._flush_requests();
SELECT kind, status, statement, reason FROM agent_guard.requests
 WHERE request_id > :req_before AND run_id = 'run-sp' ORDER BY request_id;

-- humans write the protected tables as before (the agent's parent's
-- row-security and statement trigger do not apply to the tables)
\c "dbname=contrib_regression user=regress_human options="
INSERT INTO sp.kid (id, a, v) VALUES (3, NULL, 'three');
UPDATE sp.kid SET a = NULL WHERE id = 2;
INSERT INTO sp.pp_1 (id, a, v) VALUES (3, NULL, 'three');
UPDATE sp.pp_1 SET a = -1 WHERE id = 1;
SELECT id, a, v, z FROM sp.kid ORDER BY id;
SELECT id, a, v FROM sp.pp_1 ORDER BY id;

-- approved, the agent's statement runs once (its request binds what it reached)
\c "dbname=contrib_regression user=regress_su options="
SELECT (agent_guard.approve(request_id, 'regress')).status FROM agent_guard.requests
 WHERE request_id > :req_before AND status = 'pending'
   AND statement = 'ALTER TABLE sp.pp ADD CONSTRAINT c CHECK (false) NOT VALID';
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-sp"
\set VERBOSITY sqlstate
ALTER TABLE sp.pp ADD CONSTRAINT c CHECK (false) NOT VALID;
-- error: its drop reaches the protected partition's CHECK, which humans'
-- writes may rely on (YG003); a human drops it
ALTER TABLE sp.pp DROP CONSTRAINT c;
\c "dbname=contrib_regression user=regress_su options="
ALTER TABLE sp.pp DROP CONSTRAINT c;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-sp"
\set VERBOSITY sqlstate
-- error: the approval was used (YG003)
ALTER TABLE sp.pp ADD CONSTRAINT c CHECK (false) NOT VALID;
-- error: sp.base has had a column added since its retype was refused: the
-- approval is bound to its columns as they are (red team 15B, F3), so this
-- is the request a human approves (YG003)
ALTER TABLE sp.base ALTER COLUMN a TYPE bigint, ALTER COLUMN v SET NOT NULL;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT conrelid::regclass, conname FROM pg_constraint WHERE conname = 'c' ORDER BY 1;
-- a retype of the parent, approved for the parent: what it passes down to
-- the protected child (the retype, NOT NULL from another subcommand, the
-- key it re-creates) is a request of its own
SELECT (agent_guard.approve(request_id, 'regress')).status FROM agent_guard.requests
 WHERE request_id > :req_before AND status = 'pending'
   AND statement = 'ALTER TABLE sp.base ALTER COLUMN a TYPE bigint, ALTER COLUMN v SET NOT NULL';
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-sp"
\set VERBOSITY sqlstate
ALTER TABLE sp.base ALTER COLUMN a TYPE bigint, ALTER COLUMN v SET NOT NULL;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT kind, status, reason FROM agent_guard.requests
 WHERE request_id > :req_before AND run_id = 'run-sp'
   AND statement = 'ALTER TABLE sp.base ALTER COLUMN a TYPE bigint, ALTER COLUMN v SET NOT NULL'
 ORDER BY request_id;
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a
 WHERE a.attrelid = 'sp.kid'::regclass AND a.attname IN ('a', 'v') ORDER BY 1;

-- a human may do all of it
\c "dbname=contrib_regression user=regress_su options="
DROP TRIGGER t ON sp.base;
DROP TRIGGER s ON sp.pp;
DROP TRIGGER t ON sp.pp_2;
ALTER TABLE sp.pp DISABLE TRIGGER h;
ALTER TABLE sp.pp ENABLE TRIGGER h;
ALTER TRIGGER h ON sp.pp RENAME TO h2;
DROP TRIGGER h2 ON sp.pp;
ALTER TABLE sp.base ADD CONSTRAINT c3 CHECK (id > 0) NOT VALID;
ALTER TABLE sp.base ADD COLUMN x int NOT NULL DEFAULT 0;
ALTER TABLE sp.base ALTER COLUMN id SET DEFAULT 0;
ALTER TABLE sp.base ALTER COLUMN v SET STORAGE PLAIN;
ALTER TABLE sp.base ALTER COLUMN a TYPE bigint;
ALTER TABLE sp.pp ADD CONSTRAINT c3 CHECK (id >= 0) NOT VALID;
ALTER TABLE sp.pp ADD COLUMN x int NOT NULL DEFAULT 0;
ALTER TABLE sp.pp ALTER COLUMN ag_agent_id SET DEFAULT NULL;
CREATE UNIQUE INDEX ON sp.pp (id);
CREATE TRIGGER t BEFORE INSERT ON sp.pp FOR EACH ROW EXECUTE FUNCTION sp.trig();
ALTER TABLE sp.pp ALTER COLUMN x TYPE bigint;
ALTER TABLE sp.pp DROP CONSTRAINT pp_pkey;
ALTER TABLE sp.pp_1 ADD PRIMARY KEY (id);
SELECT * FROM public.regress_sp_state();

DROP FUNCTION public.regress_sp_state();
SELECT agent_guard.unprotect('sp.kid');
SELECT agent_guard.unprotect('sp.pp_1');
DROP SCHEMA sp CASCADE;
