--
-- agent_extensions: extensions' functions that run SQL, or act for the
-- session, with their caller's rights, in what an agent stores (issue 16,
-- red team 9, finding 3).  tablefunc is trusted: an agent with CREATE on
-- the database installs it itself; its crosstab() runs the query text it
-- is given.  In an agent's view, read by a human, that text would read
-- what the agent may not and call the human's functions with the human's
-- rights; dblink's functions would connect as the human.  Refused (YG002)
-- like the system's caller's-rights functions; from the human's side the
-- same calls work in the human's own statements.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_ext_human LOGIN;                -- a human no agent is a member of
CREATE SCHEMA xh AUTHORIZATION regress_ext_human;   -- the human's
GRANT USAGE ON SCHEMA xh TO PUBLIC;
CREATE SCHEMA xb AUTHORIZATION regress_bot;         -- the agent's
GRANT USAGE ON SCHEMA xb TO PUBLIC;
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink SCHEMA public;  -- not trusted: a superuser's
RESET client_min_messages;

\c "dbname=contrib_regression user=regress_ext_human options="
CREATE TABLE xh.secret (id int PRIMARY KEY, parent int, s text);
INSERT INTO xh.secret VALUES (1, NULL, 'the human''s secret'), (2, 1, 'its child');
CREATE TABLE xh.orders (id int PRIMARY KEY);
INSERT INTO xh.orders SELECT generate_series(1, 3);
CREATE FUNCTION xh.del_order(i int) RETURNS int LANGUAGE plpgsql
    AS 'BEGIN DELETE FROM xh.orders WHERE id = i; RETURN i; END';

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ext-1"
SELECT * FROM xh.secret;                            -- the agent may not read it
CREATE EXTENSION tablefunc SCHEMA xb;               -- trusted: the agent installs it
CREATE TABLE xb.loot (s text);
GRANT INSERT ON xb.loot TO PUBLIC;
CREATE FUNCTION xb.stash(t text) RETURNS text LANGUAGE plpgsql
    AS 'BEGIN INSERT INTO xb.loot VALUES (t); RETURN ''ok''; END';
CREATE VIEW xb.report AS
    SELECT xb.stash(c) AS r
      FROM xb.crosstab($q$SELECT 'r'::text, 'c'::text,
                         (SELECT string_agg(s, ',') FROM xh.secret) || ' ' || xh.del_order(3)::text$q$)
           AS t(row_name text, c text);
CREATE VIEW xb.tree AS
    SELECT * FROM xb.connectby('xh.secret', 'id', 'parent', '1', 0) AS t(k int, p int, l int);
CREATE VIEW xb.remote AS
    SELECT * FROM public.dblink('dbname=contrib_regression',
                                'SELECT s FROM xh.secret') AS t(s text);
GRANT SELECT ON xb.report, xb.tree, xb.remote TO PUBLIC;

\c "dbname=contrib_regression user=regress_ext_human options="
\set VERBOSITY default
SELECT * FROM xb.report;
SELECT * FROM xb.tree;
SELECT * FROM xb.remote;

\c "dbname=contrib_regression user=regress_su options="
\set VERBOSITY default
SELECT * FROM xb.report;
SELECT * FROM xb.remote;
SELECT count(*) AS loot FROM xb.loot;
SELECT count(*) AS orders_intact FROM xh.orders;

-- the human's side: the same calls in the human's own statements work
\c "dbname=contrib_regression user=regress_ext_human options="
SELECT * FROM xb.crosstab($q$SELECT 'r'::text, 'c'::text, s FROM xh.secret WHERE id = 1$q$)
    AS t(row_name text, c text);
SELECT * FROM xb.connectby('xh.secret', 'id', 'parent', '1', 0) AS t(k int, p int, l int);
\c "dbname=contrib_regression user=regress_su options="
SELECT * FROM public.dblink('dbname=contrib_regression', 'SELECT count(*) FROM xh.orders')
    AS t(n bigint);

\c "dbname=contrib_regression user=regress_su options="
DROP SCHEMA xb CASCADE;
DROP SCHEMA xh CASCADE;
DROP EXTENSION dblink;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
DROP OWNED BY regress_ext_human;
DROP ROLE regress_ext_human;
