--
-- rights: no code of an agent runs with more rights than the agent's when a
-- human lists, restores, purges or rolls back its rows (issue 16, class 3)
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
CREATE ROLE regress_lead LOGIN;       -- a human who administers the agent's role
CREATE ROLE regress_ops LOGIN;        -- a human granted the agent's tables
CREATE ROLE regress_stranger LOGIN;   -- a human with no rights on them
GRANT regress_bot TO regress_lead;
CREATE SCHEMA sr AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA sr TO regress_lead, regress_ops, regress_stranger;
GRANT EXECUTE ON FUNCTION agent_guard.soft_deleted(regclass), agent_guard.restore(regclass, jsonb),
                          agent_guard.purge(regclass, interval),
                          agent_guard.rollback_run(text, boolean, text),
                          agent_guard.rollback_xact(xid8, boolean, text)
    TO regress_lead, regress_ops, regress_stranger;
-- what the agent would like to destroy: a superuser's table and a human's
CREATE SCHEMA srv;
GRANT USAGE ON SCHEMA srv TO PUBLIC;
CREATE TABLE srv.victim_su (id int);
CREATE TABLE srv.victim_ops (id int);
ALTER TABLE srv.victim_ops OWNER TO regress_ops;

-- The hostile agent's tables: every piece of code a table can run on a
-- write or a read calls sr.spy(), which notes who it runs as and tries to
-- drop the two tables and to make the agent a superuser.
SET ROLE regress_bot;
CREATE TABLE sr.seen (what text, who name, super boolean, tried text);
CREATE FUNCTION sr.spy(what text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    r text := '';
BEGIN
    -- in the agent's own session the gates would stop it anyway
    IF agent_guard.in_agent_session() THEN
        INSERT INTO sr.seen VALUES (what, current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), 'agent session');
        RETURN true;
    END IF;
    BEGIN
        DROP TABLE srv.victim_su;
        r := r || 'dropped victim_su ';
    EXCEPTION WHEN OTHERS THEN r := r || SQLSTATE || ' ';
    END;
    BEGIN
        DROP TABLE srv.victim_ops;
        r := r || 'dropped victim_ops ';
    EXCEPTION WHEN OTHERS THEN r := r || SQLSTATE || ' ';
    END;
    BEGIN
        ALTER ROLE regress_bot SUPERUSER;
        r := r || 'superuser';
    EXCEPTION WHEN OTHERS THEN r := r || SQLSTATE;
    END;
    INSERT INTO sr.seen VALUES (what, current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), r);
    RETURN true;
END
$$;
CREATE FUNCTION sr.spy_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sr.spy('trigger');
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
-- "immutable", so that an index may use it
CREATE FUNCTION sr.spy_idx(v text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM sr.spy('index');
    RETURN v;
END
$$;
-- a type with the agent's cast to json (the images keep its text and
-- never call the cast, red team 28a, finding 2: it does not run below)
CREATE TYPE sr.color AS ENUM ('red', 'green');
CREATE FUNCTION sr.color_json(c sr.color) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sr.spy('cast');
    RETURN to_json(c::text);
END
$$;
CREATE CAST (sr.color AS json) WITH FUNCTION sr.color_json(sr.color);
-- an operator = that a guard query might pick up through search_path
CREATE FUNCTION sr.eq(a int, b int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sr.spy('operator');
    RETURN a OPERATOR(pg_catalog.=) b;
END
$$;
CREATE OPERATOR sr.= (LEFTARG = int, RIGHTARG = int, FUNCTION = sr.eq);
CREATE TABLE sr.soft (id int PRIMARY KEY, v text, c sr.color, CHECK (sr.spy('check')));
CREATE TABLE sr.hard (id int PRIMARY KEY, v text, c sr.color, CHECK (sr.spy('check')));
CREATE INDEX ON sr.soft (sr.spy_idx(v));
CREATE INDEX ON sr.hard (sr.spy_idx(v));
GRANT SELECT, INSERT, UPDATE, DELETE ON sr.soft, sr.hard TO regress_ops;
INSERT INTO sr.soft VALUES (1, 'one', 'red'), (2, 'two', 'green'), (3, 'three', 'red');
INSERT INTO sr.hard VALUES (1, 'one', 'red'), (2, 'two', 'green');
RESET ROLE;
SELECT agent_guard.protect('sr.soft', true);
SELECT agent_guard.protect('sr.hard', false);
-- the triggers that call the agent's function, a human's, added after
-- protect() (which refuses an agent's own: sql/structure_code.sql)
CREATE TRIGGER spy BEFORE INSERT OR UPDATE OR DELETE ON sr.soft FOR EACH ROW EXECUTE FUNCTION sr.spy_trg();
CREATE TRIGGER spy BEFORE INSERT OR UPDATE OR DELETE ON sr.hard FOR EACH ROW EXECUTE FUNCTION sr.spy_trg();
-- the tables before the run (never to_jsonb() of these rows as a superuser
-- here: that would call the agent's cast with a superuser's rights)
CREATE VIEW sr_now AS
    SELECT 'soft' AS t, s.id, s.v, s.c::text AS c, s.ag_agent_id, s.ag_run_id, s.ag_deleted_at FROM sr.soft s
    UNION ALL
    SELECT 'hard', h.id, h.v, h.c::text, h.ag_agent_id, h.ag_run_id, NULL FROM sr.hard h;
CREATE TABLE sr_before AS SELECT * FROM sr_now;

-- the agent's run: inserts, updates and deletes in both tables
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-sr-1"
INSERT INTO sr.soft VALUES (4, 'four', 'green');
UPDATE sr.soft SET v = 'TWO', c = 'red' WHERE id = 2;
DELETE FROM sr.soft WHERE id IN (1, 3);
INSERT INTO sr.hard VALUES (3, 'three', 'green');
UPDATE sr.hard SET v = 'ONE' WHERE id = 1;
DELETE FROM sr.hard WHERE id = 2;
-- its code ran as itself so far
SELECT DISTINCT who, super FROM sr.seen;
\c "dbname=contrib_regression user=regress_su options="
TRUNCATE sr.seen;

-- A human who administers the agent's role lists, restores and purges the
-- soft-deleted rows, with the agent's operator first on the search_path.
\c "dbname=contrib_regression user=regress_lead options="
SET search_path = sr, public;
SELECT row_key, agent_id, run_id, row_data ->> 'v' AS v FROM agent_guard.soft_deleted('sr.soft') ORDER BY row_key;
SELECT agent_guard.restore('sr.soft', '{"id": 1}') ->> 'v' AS restored;
SELECT agent_guard.purge('sr.soft', interval '0') AS purged;
-- every piece of the agent's code ran, as the agent, and failed to escalate
\c "dbname=contrib_regression user=regress_su options="
SELECT what, who, super, tried, count(*) > 0 AS ran FROM sr.seen GROUP BY 1, 2, 3, 4 ORDER BY 1, 2;
SELECT to_regclass('srv.victim_su') AS victim_su, to_regclass('srv.victim_ops') AS victim_ops,
       (SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_bot') AS bot_super;
TRUNCATE sr.seen;
-- the restore and the purge are on record as the human's acts
SELECT operation, relation, row_key, agent_id, login_role, acting_role
  FROM agent_guard.events WHERE relation = 'sr.soft' AND operation IN ('RESTORE', 'PURGE') ORDER BY event_id;

-- A human with no rights on the tables can neither roll the run back nor
-- restore its rows.
\c "dbname=contrib_regression user=regress_stranger options="
SELECT count(*) FROM agent_guard.rollback_run('run-sr-1');
SELECT agent_guard.restore('sr.soft', '{"id": 3}');
SELECT count(*) FROM agent_guard.soft_deleted('sr.soft');
-- nor can one who may read them but not write them apply the rollback
\c "dbname=contrib_regression user=regress_su options="
REVOKE UPDATE ON sr.hard FROM regress_ops;
\c "dbname=contrib_regression user=regress_ops options="
SELECT count(*) FROM agent_guard.rollback_run('run-sr-1');
SELECT count(*) FROM agent_guard.rollback_run('run-sr-1', apply => true);
\c "dbname=contrib_regression user=regress_su options="
GRANT UPDATE ON sr.hard TO regress_ops;

-- A human granted the tables rolls the run back, with the agent's operator
-- on the path; rows 1 (restored since) and 3 (purged since) conflict.
\c "dbname=contrib_regression user=regress_ops options="
SET search_path = sr, public;
SELECT relation, operation, row_key, status FROM agent_guard.rollback_run('run-sr-1', true, 'skip') ORDER BY step;
\c "dbname=contrib_regression user=regress_su options="
SELECT what, who, super, tried, count(*) > 0 AS ran FROM sr.seen GROUP BY 1, 2, 3, 4 ORDER BY 1, 2;
SELECT to_regclass('srv.victim_su') AS victim_su, to_regclass('srv.victim_ops') AS victim_ops,
       (SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_bot') AS bot_super;
-- the tables are as before the run, but for the purged row 3
(SELECT 'before' AS only, * FROM sr_before EXCEPT SELECT 'before', * FROM sr_now)
UNION ALL
(SELECT 'now', * FROM sr_now EXCEPT SELECT 'now', * FROM sr_before)
ORDER BY 1, 2, 3;
SELECT operation, relation, agent_id, login_role, detail ->> 'action' AS action
  FROM agent_guard.events WHERE relation LIKE 'sr.%' AND operation = 'COMPENSATE' ORDER BY event_id;
-- and the log verifies
SELECT agent_guard.seal_log() >= 0 AS sealed;
SELECT ok, first_bad_event FROM agent_guard.verify_log();

-- The internal function that runs statements as a table's owner is not
-- for anyone to call.
\c "dbname=contrib_regression user=regress_lead options="
SELECT agent_guard._owner_query('sr.soft', 'SELECT NULL::jsonb');
\c "dbname=contrib_regression user=regress_su options="
GRANT EXECUTE ON FUNCTION agent_guard._owner_query(regclass, text, jsonb) TO regress_lead;
\c "dbname=contrib_regression user=regress_lead options="
SELECT agent_guard._owner_query('sr.soft', 'SELECT NULL::jsonb');
\c "dbname=contrib_regression user=regress_su options="
REVOKE EXECUTE ON FUNCTION agent_guard._owner_query(regclass, text, jsonb) FROM regress_lead;
-- nor for an agent
\c "dbname=contrib_regression user=regress_bot options="
SELECT agent_guard._owner_query('sr.soft', 'SELECT NULL::jsonb');

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unprotect('sr.soft');
SELECT agent_guard.unprotect('sr.hard');
DROP VIEW sr_now;
DROP TABLE sr_before;
DROP SCHEMA sr CASCADE;
DROP SCHEMA srv CASCADE;
DROP OWNED BY regress_lead, regress_ops, regress_stranger;
DROP ROLE regress_lead, regress_ops, regress_stranger;
