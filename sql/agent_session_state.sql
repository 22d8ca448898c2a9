--
-- agent_session_state: what a human's session holds that an agent's code,
-- running in it, may not use (issue 16, red team 8, findings 2 and 3).
-- A cursor the human opened ran its query with the human's rights: the
-- agent's function may not FETCH from it, MOVE it or CLOSE it (SQL, or
-- PL/pgSQL through SPI; a live query, a cursor held WITH HOLD, a FOR
-- loop's); a procedure of the agent's may not end the transaction under
-- the human's open cursor.  A large-object descriptor the human opened is
-- the session's: the agent's code (a function, a view) may not read,
-- write, move or close it.  A procedure or function with SET options of
-- the agent's may not change the session's settings, which would stay
-- (red team 10: a search_path left to the agent's schema); nor may the
-- agent's code send notifications as the human's session.
-- From the human's side: its cursors and descriptors keep every row and
-- byte, and the agent's own cursors, large objects and procedures work.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_ss_human LOGIN;                 -- a human no agent is a member of
CREATE SCHEMA ss AUTHORIZATION regress_ss_human;    -- the human's
GRANT USAGE ON SCHEMA ss TO PUBLIC;
CREATE SCHEMA ssb AUTHORIZATION regress_bot;        -- the agent's
GRANT USAGE ON SCHEMA ssb TO PUBLIC;

\c "dbname=contrib_regression user=regress_ss_human options="
CREATE TABLE ss.secret (id int PRIMARY KEY, s text);  -- the agent may not read it
INSERT INTO ss.secret SELECT i, 'secret ' || i FROM generate_series(1, 4) i;
CREATE TABLE ss.many (id int PRIMARY KEY);
INSERT INTO ss.many SELECT generate_series(1, 25);
-- an API of the human's the agent may call: it loops over a table the
-- agent may not read, calling the hook it is given for each row
CREATE FUNCTION ss.process_batch(hook regprocedure) RETURNS int LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE r record; n int := 0;
BEGIN
    FOR r IN SELECT id FROM ss.many ORDER BY id LOOP
        EXECUTE format('SELECT %s($1)', hook::regproc) USING r.id;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
REVOKE EXECUTE ON FUNCTION ss.process_batch(regprocedure) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ss.process_batch(regprocedure) TO regress_bot;
SELECT lo_from_bytea(737373, 'the human''s document') AS lo;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ss-1"
SELECT * FROM ss.secret;                            -- the agent may not read it
-- take one row from a cursor by name: PL/pgSQL's FETCH, through SPI
CREATE FUNCTION ssb.take(name text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE c refcursor := name; r record;
BEGIN FETCH c INTO r; RETURN r::text; END $$;
-- the same, caught inside the agent's code
CREATE FUNCTION ssb.take_quietly(name text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE c refcursor := name; r record;
BEGIN FETCH c INTO r; RETURN r::text;
EXCEPTION WHEN others THEN RETURN 'refused: ' || SQLERRM; END $$;
CREATE FUNCTION ssb.skip(name text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE c refcursor := name;
BEGIN MOVE FORWARD 2 IN c; END $$;
CREATE FUNCTION ssb.shut(name text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE c refcursor := name;
BEGIN CLOSE c; END $$;
-- SQL FETCH and MOVE, as a SQL function runs them
CREATE FUNCTION ssb.sql_fetch() RETURNS SETOF int LANGUAGE sql AS $$
MOVE FORWARD 1 IN hc; SELECT 1 $$;
CREATE FUNCTION ssb.xml(name text) RETURNS xml LANGUAGE sql AS
$$ SELECT cursor_to_xml(name::refcursor, 10, false, false, '') $$;
-- a procedure that ends the transaction
CREATE PROCEDURE ssb.commits() LANGUAGE plpgsql AS $$
BEGIN COMMIT; END $$;
-- the human's open large objects, by descriptor
CREATE FUNCTION ssb.lo_take(fd int) RETURNS bytea LANGUAGE sql AS 'SELECT loread(fd, 100)';
CREATE FUNCTION ssb.lo_scribble(fd int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN PERFORM lo_lseek(fd, 0, 0); RETURN lowrite(fd, 'forged'); END $$;
CREATE FUNCTION ssb.lo_shut(fd int) RETURNS int LANGUAGE sql AS 'SELECT lo_close(fd)';
-- settings that would stay in the human's session (red team 10, finding 1)
CREATE FUNCTION ssb.path_opt() RETURNS text LANGUAGE plpgsql SET work_mem = '5MB' AS $$
BEGIN PERFORM set_config('search_path', 'ssb, pg_catalog, public', false); RETURN 'done'; END $$;
CREATE FUNCTION ssb.path_set() RETURNS text LANGUAGE plpgsql SET work_mem = '5MB' AS $$
BEGIN SET search_path = ssb, pg_catalog, public; RETURN 'done'; END $$;
CREATE PROCEDURE ssb.path_proc() LANGUAGE plpgsql AS $$
BEGIN SET search_path = ssb, pg_catalog, public; END $$;
CREATE FUNCTION ssb.path_plain() RETURNS text LANGUAGE plpgsql AS $$
BEGIN SET search_path = ssb, pg_catalog, public; RETURN current_setting('search_path'); END $$;
CREATE FUNCTION ssb.lower(text) RETURNS text LANGUAGE sql AS $$SELECT 'hijacked'$$;
-- notifications that would go out as the human's session's (finding 6)
CREATE FUNCTION ssb.notify_sql() RETURNS void LANGUAGE plpgsql AS $$
BEGIN NOTIFY ss_forged, '{"request_id": 1}'; END $$;
CREATE FUNCTION ssb.notify_fn() RETURNS void LANGUAGE sql AS
$$ SELECT pg_notify('ss_forged', '{"request_id": 1}') $$;
-- a large-object descriptor moved or closed from the agent's view (finding 3)
CREATE VIEW ssb.lo_move AS SELECT lo_lseek(0, 3, 0) AS pos;
CREATE VIEW ssb.lo_where AS SELECT lo_tell64(0) AS pos;
CREATE VIEW ssb.lo_gone AS SELECT lo_close(0) AS closed;
GRANT SELECT ON ssb.lo_move, ssb.lo_where, ssb.lo_gone TO PUBLIC;
-- a hook for the human's API that takes rows from every cursor it finds
-- (pg_cursors, which shows the human's statements, is refused in the
-- agent's code in a human's session since red team 18a, F6: the hook
-- tries the names PostgreSQL gives unnamed cursors, a PL/pgSQL loop's)
CREATE TABLE ssb.loot (t text);
GRANT SELECT, INSERT ON ssb.loot TO PUBLIC;
CREATE TABLE ssb.tries (code text);  -- why each name failed
GRANT SELECT, INSERT ON ssb.tries TO PUBLIC;
CREATE FUNCTION ssb.hook(id int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE c refcursor; r record; probe refcursor; n int;
BEGIN
    -- the number the next unnamed cursor gets tells the names of the latest
    OPEN probe FOR SELECT 1;
    n := substring(probe::text FROM '[0-9]+')::int;
    CLOSE probe;
    -- an integer loop: a query's loop would be a portal of the hook's own
    FOR i IN greatest(1, n - 20)..n - 1 LOOP
        BEGIN
            c := '<unnamed portal ' || i || '>';
            FETCH c INTO r;
            IF FOUND THEN INSERT INTO ssb.loot VALUES (row_to_json(r)::text); END IF;
        EXCEPTION WHEN others THEN INSERT INTO ssb.tries VALUES (SQLSTATE);
        END;
    END LOOP;
    RETURN 0;
END $$;
CREATE FUNCTION ssb.go() RETURNS int LANGUAGE sql AS $$ SELECT ss.process_batch('ssb.hook(int)') $$;
-- the agent's own: a cursor it opens and returns, a large object by its OID
CREATE TABLE ssb.mine (id int);
INSERT INTO ssb.mine VALUES (1), (2);
GRANT SELECT ON ssb.mine TO PUBLIC;
CREATE FUNCTION ssb.own_cursor() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'agent_own';
BEGIN OPEN c FOR SELECT id FROM ssb.mine ORDER BY id; RETURN c; END $$;
CREATE FUNCTION ssb.read_own() RETURNS text LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'agent_own'; r record;
BEGIN FETCH c INTO r; RETURN r::text; END $$;
SELECT lo_from_bytea(747474, 'the agent''s note') AS agent_lo;
GRANT SELECT ON LARGE OBJECT 747474 TO PUBLIC;
CREATE FUNCTION ssb.lo_own() RETURNS text LANGUAGE sql AS
$$ SELECT convert_from(lo_get(747474), 'UTF8') $$;

\c "dbname=contrib_regression user=regress_ss_human options="
\set VERBOSITY default
\set SHOW_CONTEXT never
-- a live cursor of the human's: FETCH, MOVE and CLOSE from the agent's code
BEGIN;
DECLARE hc SCROLL CURSOR FOR SELECT id, s FROM ss.secret ORDER BY id;
SELECT ssb.take('hc');
ROLLBACK;
BEGIN;
DECLARE hc SCROLL CURSOR FOR SELECT id, s FROM ss.secret ORDER BY id;
SELECT ssb.take_quietly('hc');                      -- caught by the agent: nothing read
SAVEPOINT s;
SELECT ssb.skip('hc');
ROLLBACK TO s;
SELECT ssb.sql_fetch();
ROLLBACK TO s;
SELECT ssb.xml('hc');
ROLLBACK TO s;
SELECT ssb.shut('hc');
ROLLBACK TO s;
FETCH ALL FROM hc;                                  -- still open: every row, from the first
COMMIT;
-- a cursor held from an earlier transaction reads from its store
DECLARE held CURSOR WITH HOLD FOR SELECT id, s FROM ss.secret ORDER BY id;
SELECT ssb.take('held');
SELECT ssb.take_quietly('held');
SELECT ssb.shut('held');
FETCH ALL FROM held;
CLOSE held;
-- a cursor over a human's DELETE ... RETURNING, run into its store at the
-- first FETCH: the rest of its rows stay the human's
BEGIN;
CREATE FUNCTION pg_temp.open_ret() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'hret';
BEGIN OPEN c FOR DELETE FROM ss.secret WHERE id > 2 RETURNING id, s; RETURN c; END $$;
SELECT pg_temp.open_ret();
FETCH 1 FROM hret;
SELECT ssb.take('hret');
ROLLBACK;
-- a PL/pgSQL FOR loop's cursor (it fetches ten rows at a time): the
-- agent's function in its body takes none of them
DO $$
DECLARE c CURSOR FOR SELECT i FROM generate_series(1, 25) i; seen int := 0; codes text[] := '{}';
BEGIN
    c := 'hloop';
    FOR r IN c LOOP
        seen := seen + 1;
        BEGIN
            PERFORM ssb.take('hloop');
        EXCEPTION WHEN others THEN
            codes := array_append(codes, SQLSTATE::text);
        END;
    END LOOP;
    RAISE NOTICE 'the loop saw % rows; the agent''s call failed % times with %',
        seen, cardinality(codes), (SELECT array_agg(DISTINCT x) FROM unnest(codes) x);
END $$;
-- the human's API, called by the agent's function: its loop's cursor is
-- the human's, not the agent's hook's to take rows from (red team 10, finding 2)
SELECT ssb.go() AS rows_the_api_processed;
SELECT count(*) AS stolen FROM ssb.loot;
-- it found the loop's cursor by its name, and PostgreSQL refused to run it
SELECT count(*) FILTER (WHERE code = '55000') > 0 AS found_and_refused FROM ssb.tries;
-- the human's side: the API called directly, the same
SELECT ss.process_batch('ssb.hook(int)') AS rows_the_api_processed;
SELECT count(*) AS stolen FROM ssb.loot;
-- it found the loop's cursor by its name, and PostgreSQL refused to run it
SELECT count(*) FILTER (WHERE code = '55000') > 0 AS found_and_refused FROM ssb.tries;
-- a procedure of the agent's may not end the transaction under an open cursor
DO $$
DECLARE c refcursor := 'hx'; r record;
BEGIN
    OPEN c FOR SELECT id FROM ss.secret ORDER BY id;
    CALL ssb.commits();
END $$;
-- the human's side: without an open cursor it commits, as before
DO $$ BEGIN CALL ssb.commits(); END $$;
CALL ssb.commits();
-- the agent's own cursor is the agent's to read, in the human's session too
BEGIN;
SELECT ssb.own_cursor();
SELECT ssb.read_own();
FETCH ALL FROM agent_own;
COMMIT;

-- large objects: the human's open descriptor
BEGIN;
SELECT lo_open(737373, x'60000'::int) AS fd \gset
SELECT ssb.lo_take(:fd);
ROLLBACK;
BEGIN;
SELECT lo_open(737373, x'60000'::int) AS fd \gset
SELECT ssb.lo_scribble(:fd);
ROLLBACK;
BEGIN;
SELECT lo_open(737373, x'60000'::int) AS fd \gset
SELECT ssb.lo_shut(:fd);
ROLLBACK;
BEGIN;
SELECT lo_open(737373, x'60000'::int) AS fd \gset
SELECT * FROM ssb.lo_move;
ROLLBACK;
BEGIN;
SELECT lo_open(737373, x'60000'::int) AS fd \gset
SELECT * FROM ssb.lo_where;
ROLLBACK;
BEGIN;
SELECT lo_open(737373, x'60000'::int) AS fd \gset
SELECT * FROM ssb.lo_gone;
ROLLBACK;
-- the human's side: the document is intact, its descriptor works, and
-- the agent's code reads its own large object by OID
BEGIN;
SELECT lo_open(737373, x'40000'::int) AS fd \gset
SELECT convert_from(loread(:fd, 100), 'UTF8') AS document;
SELECT ssb.lo_own();
SELECT lo_close(:fd);
COMMIT;
-- settings: a function with SET options or a procedure of the agent's may
-- not change the session's; a plain function's changes are rolled back
SET search_path = ss, public;
SELECT ssb.path_opt();
SELECT ssb.path_set();
CALL ssb.path_proc();
SELECT ssb.path_plain();
SHOW search_path;
SELECT lower('SECRET');                             -- the system's lower()
-- notifications (on a channel of their own: the guard's channel,
-- agent_guard, carries the sealer's notices of these very refusals, which
-- arrive whenever the sealer writes them; the refusal is the same)
LISTEN ss_forged;
SELECT ssb.notify_sql();
SELECT ssb.notify_fn();
UNLISTEN ss_forged;
-- the human's side: the human's own SET and NOTIFY work
SET work_mem = '6MB';
SHOW work_mem;
RESET work_mem;
NOTIFY regress_ss_channel;
-- the human's own cursor around the agent's calls: every row
BEGIN;
DECLARE hc CURSOR FOR SELECT id FROM ss.secret ORDER BY id;
FETCH 1 FROM hc;
SELECT ssb.lo_own();
FETCH ALL FROM hc;
COMMIT;

\c "dbname=contrib_regression user=regress_su options="
SELECT lo_unlink(737373), lo_unlink(747474);
DROP SCHEMA ssb CASCADE;
DROP SCHEMA ss CASCADE;
DROP OWNED BY regress_ss_human;
DROP ROLE regress_ss_human;
