--
-- copyfrom: humans COPY FROM into soft-delete tables (row security would
-- refuse it); agents keep PostgreSQL's refusal
--
\c "dbname=contrib_regression user=regress_su options="
CREATE SCHEMA cf;
CREATE TABLE cf.items (id int PRIMARY KEY, name text NOT NULL, qty int DEFAULT 1,
                       total int GENERATED ALWAYS AS (qty * 10) STORED);
CREATE TABLE cf.audit (id int PRIMARY KEY, v text);
SELECT agent_guard.protect('cf.items');
SELECT agent_guard.protect('cf.audit');
GRANT USAGE ON SCHEMA cf TO regress_human, regress_bot;
GRANT SELECT, INSERT ON cf.items TO regress_human, regress_bot;
CREATE FUNCTION cf.shout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$;
CREATE TRIGGER shout BEFORE INSERT ON cf.items FOR EACH ROW EXECUTE FUNCTION cf.shout();

\c "dbname=contrib_regression user=regress_human options="
-- a human: every column, then a column list (the defaults fill the rest)
COPY cf.items (id, name, qty) FROM STDIN;
1	apple	3
2	pear	\N
\.
COPY cf.items (id, name) FROM STDIN WITH (FORMAT csv);
3,plum
\.
-- every column (the stamp columns too, as for any COPY without a list)
COPY cf.items FROM STDIN WITH (FORMAT csv, HEADER true) WHERE id > 4;
id,name,qty,ag_agent_id,ag_run_id,ag_deleted_at
4,skipped,1,,,
5,fig,2,,,
\.
SELECT id, name, qty, total, ag_agent_id, ag_run_id, ag_deleted_at FROM cf.items ORDER BY id;
-- error: a bad row fails the whole COPY, nothing is kept
COPY cf.items (id, name) FROM STDIN;
6	kiwi
7	\N
\.
-- error: an unknown column (psql skips the data of a COPY that fails)
COPY cf.items (id, nope) FROM STDIN;
10	x
\.
-- error: no INSERT privilege on the table, said before the data is sent
COPY cf.audit FROM STDIN;
10	x	\N	\N	\N
\.
SELECT count(*) FROM cf.items;
-- nothing is left behind
SELECT count(*) AS staging_tables FROM pg_class WHERE relname LIKE 'ag\_copy\_from\_%';
-- in a transaction that rolls back, nothing is kept either
BEGIN;
COPY cf.items (id, name) FROM STDIN;
8	lime
\.
ROLLBACK;
SELECT count(*) FROM cf.items WHERE id = 8;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-copyfrom"
-- error: an agent keeps PostgreSQL's refusal
COPY cf.items (id, name) FROM STDIN;
9	agent
\.
\c "dbname=contrib_regression user=regress_su options="
SELECT count(*) FROM cf.items WHERE id = 9;
DROP SCHEMA cf CASCADE;
