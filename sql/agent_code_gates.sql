--
-- agent_code_gates: an agent's code that runs in a human's session is gated
-- as the agent's own statement would be (red team 10, finding 4).  In its
-- own session the agent's TRUNCATE of a shared table waits for a human; the
-- same TRUNCATE in its function a human calls, or in its trigger a human's
-- write fires, is refused (YG004: no approval can be asked for there), and
-- so are its DROP, its DELETE or UPDATE without WHERE, its writes during a
-- freeze (YG006) or outside its policy (YG008), and its rows past
-- agent_guard.max_rows_per_statement.  Each refusal is on record under the
-- agent.  The human keeps every power, and the agent's ordinary writes
-- still work in the human's session.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
CREATE ROLE regress_acg_human LOGIN;          -- a human, not a superuser
CREATE SCHEMA acg;                            -- the humans' data, not protected
CREATE TABLE acg.loot (x text);
CREATE TABLE acg.loot2 (x text);
INSERT INTO acg.loot VALUES ('a'), ('b'), ('c');
INSERT INTO acg.loot2 VALUES ('d');
GRANT USAGE ON SCHEMA acg TO regress_bot, regress_acg_human;
GRANT ALL ON acg.loot, acg.loot2 TO regress_bot, regress_acg_human;
CREATE SCHEMA acgb AUTHORIZATION regress_bot;  -- the agent's
GRANT USAGE ON SCHEMA acgb TO regress_acg_human;

-- In its own session the agent's TRUNCATE waits for a human.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-acg-1"
\set VERBOSITY sqlstate
-- error: YG003
TRUNCATE acg.loot;
\set VERBOSITY default
-- The agent's objects.
CREATE TABLE acgb.stash (x text);
INSERT INTO acgb.stash VALUES ('kept');
CREATE TABLE acgb.audit (id int, x text);
CREATE TABLE acgb.inbox (id int, x text);     -- humans write here
GRANT SELECT ON acgb.stash, acgb.audit TO regress_acg_human;
GRANT SELECT, INSERT ON acgb.inbox TO regress_acg_human;
CREATE FUNCTION acgb.wipe() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE acg.loot;
    RETURN 'wiped';
END
$$;
CREATE FUNCTION acgb.drop_stash() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE acgb.stash;
    RETURN 'dropped';
END
$$;
CREATE FUNCTION acgb.delete_all() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM acg.loot;
    RETURN 'deleted';
END
$$;
CREATE FUNCTION acgb.update_all() RETURNS text LANGUAGE sql AS
    $$ UPDATE acg.loot SET x = 'gone' RETURNING 'updated' $$;
CREATE FUNCTION acgb.drop_column() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    ALTER TABLE acgb.stash DROP COLUMN x;
    RETURN 'dropped column';
END
$$;
-- its ordinary writes: a row of its own, a WHERE-qualified UPDATE
CREATE FUNCTION acgb.note(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO acgb.audit VALUES (1, t);
    UPDATE acg.loot SET x = x || '!' WHERE x = 'a';
    RETURN 'noted';
END
$$;
CREATE FUNCTION acgb.many(n int) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO acgb.audit SELECT g, 'many' FROM generate_series(1, n) g;
    RETURN 'many';
END
$$;
CREATE FUNCTION acgb.new_table() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    CREATE TABLE acgb.made (x int);
    RETURN 'made';
END
$$;
-- a column that dies with the agent's collation: DROP ... CASCADE
CREATE COLLATION acgb.coll FROM "C";
CREATE TABLE acgb.collated (id int, x text COLLATE acgb.coll);
INSERT INTO acgb.collated VALUES (1, 'kept');
GRANT SELECT ON acgb.collated TO regress_acg_human;
CREATE FUNCTION acgb.drop_collation() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    DROP COLLATION acgb.coll CASCADE;
    RETURN 'dropped collation';
END
$$;
-- the trigger a human's routine write fires
CREATE FUNCTION acgb.inbox_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.x = 'wipe' THEN
        TRUNCATE acg.loot;
    ELSIF NEW.x = 'drop' THEN
        DROP TABLE acgb.stash;
    ELSIF NEW.x = 'delete' THEN
        DELETE FROM acg.loot2;
    ELSE
        INSERT INTO acgb.audit VALUES (NEW.id, NEW.x);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER t AFTER INSERT ON acgb.inbox FOR EACH ROW EXECUTE FUNCTION acgb.inbox_trg();
-- a rule: no function of the agent runs, the rule's action is its code
CREATE TABLE acgb.ruled (id int);
GRANT INSERT ON acgb.ruled TO regress_acg_human;
CREATE RULE r AS ON INSERT TO acgb.ruled DO ALSO DELETE FROM acg.loot;

-- what must stay as it is
\c "dbname=contrib_regression user=regress_su options="
CREATE VIEW acg_state AS
    SELECT (SELECT string_agg(x, ',' ORDER BY x) FROM acg.loot) AS loot,
           (SELECT string_agg(x, ',' ORDER BY x) FROM acg.loot2) AS loot2,
           (SELECT string_agg(x, ',' ORDER BY x) FROM acgb.stash) AS stash,
           (SELECT count(*) FROM acgb.audit) AS audit;
GRANT SELECT ON acg_state TO regress_acg_human;

-- The human calls the agent's functions and writes its table.
\c "dbname=contrib_regression user=regress_acg_human options="
\set SHOW_CONTEXT never
SELECT * FROM acg_state;
-- the refusal, as the human sees it
DO $$
DECLARE
    m text; d text; h text;
BEGIN
    PERFORM acgb.wipe();
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RAISE NOTICE 'SQLSTATE %', SQLSTATE;
    RAISE NOTICE 'message: %', regexp_replace(m, 'request [0-9]+', 'request N');
    RAISE NOTICE 'detail: %', d;
    RAISE NOTICE 'hint: %', h;
END
$$;
\set VERBOSITY sqlstate
-- error: YG004, each destructive statement of the agent's code
SELECT acgb.wipe();
SELECT acgb.drop_stash();
SELECT acgb.delete_all();
SELECT acgb.update_all();
SELECT acgb.drop_column();
SELECT acgb.drop_collation();    -- (its NOTICE: the column it cascades to)
-- error: YG004, the same from the agent's trigger, fired by the human's INSERT
INSERT INTO acgb.inbox VALUES (1, 'wipe');
INSERT INTO acgb.inbox VALUES (2, 'drop');
INSERT INTO acgb.inbox VALUES (3, 'delete');
-- error: YG004, the agent's rule's DELETE without WHERE
INSERT INTO acgb.ruled VALUES (1);
-- error: YG004, more rows than agent_guard.max_rows_per_statement (1000)
SELECT acgb.many(1001);
\set VERBOSITY default
-- nothing happened
SELECT * FROM acg_state;
SELECT * FROM acgb.collated;
SELECT count(*) AS inbox FROM acgb.inbox;
-- the agent's ordinary writes work: its row, a WHERE-qualified UPDATE, a
-- trigger writing its audit table, rows up to the limit
SELECT acgb.note('first');
INSERT INTO acgb.inbox VALUES (4, 'hello');
SELECT acgb.many(1000);
SELECT * FROM acg_state;
-- so does its DDL that needs no approval
SELECT acgb.new_table();

-- A freeze of the agent, then of all agents: the agent's code writes nothing.
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.freeze('incident 7', 'regress_bot');
\c "dbname=contrib_regression user=regress_acg_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG006
SELECT acgb.note('frozen');
INSERT INTO acgb.inbox VALUES (5, 'frozen');
SELECT acgb.new_table();
\set VERBOSITY default
-- the human's own writes go on
INSERT INTO acg.loot2 VALUES ('by the human');
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unfreeze('regress_bot');
SELECT agent_guard.freeze('all hands');
\c "dbname=contrib_regression user=regress_acg_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG006
SELECT acgb.note('frozen too');
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unfreeze();
SELECT * FROM acg_state;

-- The agent's policy holds for its code in the human's session.
SELECT mode, tables FROM agent_guard.set_policy('regress_bot', 'read_only');
\c "dbname=contrib_regression user=regress_acg_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG008
SELECT acgb.note('read only');
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT mode, tables FROM agent_guard.set_policy('regress_bot', 'guarded', tables => '{acgb.audit}');
\c "dbname=contrib_regression user=regress_acg_human options="
\set SHOW_CONTEXT never
-- its audit row is on its list; acg.loot is not: error YG008
\set VERBOSITY sqlstate
SELECT acgb.note('tables');
\set VERBOSITY default
INSERT INTO acgb.inbox VALUES (6, 'listed');
\c "dbname=contrib_regression user=regress_su options="
SELECT mode, tables FROM agent_guard.set_policy('regress_bot', 'dml');
\c "dbname=contrib_regression user=regress_acg_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG008, DDL under dml
SELECT acgb.new_table();
\set VERBOSITY default
SELECT acgb.note('dml');
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.drop_policy('regress_bot');

-- The human keeps every power, in the same session, outside the agent's code.
\c "dbname=contrib_regression user=regress_acg_human options="
SELECT acgb.note('before');
TRUNCATE acg.loot2;
DELETE FROM acg.loot;
INSERT INTO acg.loot VALUES ('new');
UPDATE acg.loot SET x = 'newer';
SELECT * FROM acg_state;

-- Every refusal is on record, under the agent, never approvable.
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT agent_id, run_id, kind, status, statement, reason
  FROM agent_guard.requests WHERE login_role = 'regress_acg_human' ORDER BY request_id;
SELECT count(*) AS blocked_events FROM agent_guard.events
 WHERE operation = 'BLOCKED' AND login_role = 'regress_acg_human';

DROP VIEW acg_state;
DROP SCHEMA acgb CASCADE;
DROP SCHEMA acg CASCADE;
DROP ROLE regress_acg_human;
