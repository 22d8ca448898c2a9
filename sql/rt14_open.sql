--
-- rt14_open: open gaps of issue #16 (README, "not covered").
-- 1. nextval() in an agent's stored code (view, rule, column default,
--    policy, CHECK, domain), in a human's statement: PostgreSQL checks the
--    sequence's USAGE/UPDATE as the caller, so the agent's code could
--    advance or exhaust a human's sequence it may not touch.  Storing it is
--    refused (YG002) unless the sequence is named as a constant and the
--    agent may use or update it (its own serial); in a human's statement
--    such a call of code stored before (or given to the agent) is refused
--    (YG002), and the agent's freeze (YG006) and read_only policy (YG008)
--    hold for the calls it may make.  The written table's own sequence is
--    the write's.
-- 2. A column of a protected table whose type runs an agent's code (a
--    range's subtype_diff, a domain's CHECK; through arrays): a human's ADD
--    COLUMN / ALTER COLUMN TYPE and protect() warn, naming the agent's code;
--    the code runs as the agent.
-- 3. An agent session's NOTIFY and pg_notify(): refused (YG004) when the
--    queue is at least agent_guard.agent_notify_queue_limit full (0 here
--    stands in for a full queue), and past
--    agent_guard.agent_notify_max_per_xact notifications in a transaction;
--    a human's are not concerned.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
CREATE ROLE regress_r14_human LOGIN;          -- a human, not a superuser
CREATE SCHEMA r14 AUTHORIZATION regress_bot;  -- the agent's
GRANT USAGE ON SCHEMA r14 TO PUBLIC;
CREATE SCHEMA r14h AUTHORIZATION regress_r14_human;  -- the human's
GRANT USAGE ON SCHEMA r14h TO regress_bot;
\c "dbname=contrib_regression user=regress_r14_human options="
CREATE SEQUENCE r14h.hseq;                    -- the agent may not touch it
CREATE SEQUENCE r14h.shared_seq;
GRANT USAGE ON SEQUENCE r14h.shared_seq TO regress_bot;

-- 1. nextval() in an agent's stored code
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r14-1"
\set VERBOSITY sqlstate
-- error: YG002, the human's sequence in a view, a default, a CHECK, a rule,
-- a policy, a domain
CREATE VIEW r14.v_bad AS SELECT nextval('r14h.hseq') AS n;
CREATE TABLE r14.t_bad (id bigint DEFAULT nextval('r14h.hseq'), v text);
CREATE TABLE r14.t_bad (id bigint CHECK (nextval('r14h.hseq') > 0), v text);
CREATE DOMAIN r14.d_bad AS int CHECK (VALUE < nextval('r14h.hseq'));
-- error: YG002, a sequence not named as a constant
CREATE VIEW r14.v_bad AS SELECT nextval(('r14h.' || 'hseq')::regclass) AS n;
\set VERBOSITY default
-- the message says which sequence and why
CREATE VIEW r14.v_bad AS SELECT nextval('r14h.hseq') AS n;
-- allowed: its own serial, its own sequence, a sequence granted to it
CREATE TABLE r14.jobs (id serial PRIMARY KEY, v text);
CREATE SEQUENCE r14.counter;
CREATE TABLE r14.shared (id bigint DEFAULT nextval('r14h.shared_seq'), v text);
CREATE VIEW r14.v_counter AS SELECT nextval('r14.counter') AS n;
CREATE TABLE r14.log (v text);
\set VERBOSITY sqlstate
-- error: YG002, in a rule and a policy
CREATE RULE r_bad AS ON INSERT TO r14.log DO ALSO SELECT nextval('r14h.hseq');
CREATE POLICY p_bad ON r14.log USING (nextval('r14h.hseq') > 0);
\set VERBOSITY default
CREATE RULE r_count AS ON INSERT TO r14.log DO ALSO SELECT nextval('r14.counter');
GRANT SELECT, INSERT ON r14.jobs, r14.shared, r14.log TO regress_r14_human;
GRANT USAGE ON SEQUENCE r14.jobs_id_seq TO regress_r14_human;
GRANT SELECT ON r14.v_counter TO regress_r14_human;
GRANT USAGE ON SEQUENCE r14.counter TO regress_r14_human;

-- what an agent role was given (or stored before it was registered) is not
-- judged when stored: a human makes it and gives it to the agent
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE VIEW r14.v_given AS SELECT nextval('r14h.hseq') AS n;
CREATE TABLE r14.t_given (id bigint DEFAULT nextval('r14h.hseq'), v text);
CREATE TABLE r14.log_given (v text);
CREATE RULE r_given AS ON INSERT TO r14.log_given DO ALSO SELECT nextval('r14h.hseq');
ALTER VIEW r14.v_given OWNER TO regress_bot;
ALTER TABLE r14.t_given OWNER TO regress_bot;
ALTER TABLE r14.log_given OWNER TO regress_bot;
GRANT SELECT ON r14.v_given TO regress_r14_human;
GRANT SELECT, INSERT ON r14.t_given, r14.log_given TO regress_r14_human;

\c "dbname=contrib_regression user=regress_r14_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG002, the agent's view, default and rule would advance the
-- human's sequence with the human's rights
SELECT n FROM r14.v_given;
INSERT INTO r14.t_given (v) VALUES ('x');
INSERT INTO r14.log_given VALUES ('x');
\set VERBOSITY default
INSERT INTO r14.t_given (v) VALUES ('x');
-- the sequence did not move
SELECT last_value, is_called FROM r14h.hseq;
-- the human's own call, in a statement of its own, works
SELECT nextval('r14h.hseq');
-- the agent's own serial, its own sequence, a granted one: work
INSERT INTO r14.jobs (v) VALUES ('a') RETURNING id;
INSERT INTO r14.shared (v) VALUES ('b') RETURNING id;
SELECT n FROM r14.v_counter;
INSERT INTO r14.log VALUES ('c');
-- the human's table's own serial, in a statement that reads the agent's
-- view: the write's own sequence, not the agent's code
CREATE TABLE r14h.copies (id serial, n bigint);
INSERT INTO r14h.copies (n) SELECT n FROM r14.v_counter RETURNING id, n;

-- the agent's freeze and read_only policy hold for its code's nextval()
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT coalesce(max(request_id), 0) AS r14_before FROM agent_guard.requests \gset
SELECT agent_guard.freeze('incident 14', 'regress_bot');
\c "dbname=contrib_regression user=regress_r14_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG006, the agent's view and rule advance its sequence
SELECT n FROM r14.v_counter;
INSERT INTO r14.log VALUES ('frozen');
\set VERBOSITY default
-- the human's insert into the agent's table with its serial: the write's own
INSERT INTO r14.jobs (v) VALUES ('during the freeze') RETURNING id;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.unfreeze('regress_bot');
SELECT mode FROM agent_guard.set_policy('regress_bot', 'read_only');
\c "dbname=contrib_regression user=regress_r14_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG008
SELECT n FROM r14.v_counter;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.drop_policy('regress_bot');
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, reason FROM agent_guard.requests WHERE request_id > :r14_before
 ORDER BY request_id;
SELECT last_value FROM r14.counter;
\c "dbname=contrib_regression user=regress_r14_human options="
SELECT n FROM r14.v_counter;

-- 2. a column whose type runs an agent's code
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r14-2"
CREATE FUNCTION r14.slot_diff(a int, b int) RETURNS float8
    LANGUAGE sql IMMUTABLE AS 'SELECT (a - b)::float8';
CREATE TYPE r14.slot AS RANGE (subtype = int, subtype_diff = r14.slot_diff);
CREATE FUNCTION r14.dom_ok(v int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'dom_ok runs as %', current_user;
    RETURN v >= 0;
END $$;
CREATE DOMAIN r14.pos AS int CHECK (r14.dom_ok(VALUE));
CREATE DOMAIN r14.plain_pos AS int CHECK (VALUE > 0);
\c "dbname=contrib_regression user=regress_r14_human options="
\set SHOW_CONTEXT never
CREATE TABLE r14h.rooms (id int PRIMARY KEY, early r14.slot[]);
INSERT INTO r14h.rooms VALUES (1, NULL);
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- protect() warns of the column the table had (an array of the range)
SELECT agent_guard.protect('r14h.rooms');
\c "dbname=contrib_regression user=regress_r14_human options="
\set SHOW_CONTEXT never
-- a human's ADD COLUMN and ALTER COLUMN TYPE warn
ALTER TABLE r14h.rooms ADD COLUMN booked r14.slot;
ALTER TABLE r14h.rooms ADD COLUMN seats int;
ALTER TABLE r14h.rooms ALTER COLUMN seats TYPE r14.pos;
-- a type that runs no agent's code, a domain of the agent whose CHECK
-- calls only the system's functions: no warning
ALTER TABLE r14h.rooms ADD COLUMN span int4range;
ALTER TABLE r14h.rooms ADD COLUMN floor r14.plain_pos;
-- the agent's CHECK runs as the agent in the human's write
UPDATE r14h.rooms SET booked = r14.slot(1, 5), seats = 3;
SELECT id, booked, seats FROM r14h.rooms;
-- the agent's side: its ADD COLUMN of the type on its protected table
-- needs approval (structure.c), and is not warned of again
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r14-2b"
CREATE TABLE r14.desks (id int PRIMARY KEY);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r14.desks');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r14-2b"
\set VERBOSITY sqlstate
-- error: YG003
ALTER TABLE r14.desks ADD COLUMN later r14.slot;
\set VERBOSITY default

-- 3. an agent's NOTIFY and pg_notify()
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
ALTER ROLE regress_bot SET agent_guard.agent_notify_queue_limit = 0;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r14-3"
\set VERBOSITY sqlstate
-- error: YG004, an agent cannot move its limits
SET agent_guard.agent_notify_queue_limit = 1;
SET agent_guard.agent_notify_max_per_xact = 1000000;
-- error: YG004, the queue is "full" for agents
NOTIFY r14_channel, 'one';
SELECT pg_notify('r14_channel', 'two');
DO $$ BEGIN PERFORM pg_notify('r14_channel', 'three'); END $$;
\set VERBOSITY default
NOTIFY r14_channel, 'one';
\c "dbname=contrib_regression user=regress_r14_human options="
-- a human's notifications are not concerned
NOTIFY r14_channel, 'human';
SELECT pg_notify('r14_channel', 'human');
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot RESET agent_guard.agent_notify_queue_limit;
ALTER ROLE regress_bot SET agent_guard.agent_notify_max_per_xact = 3;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r14-3b"
SHOW agent_guard.agent_notify_queue_limit;
BEGIN;
NOTIFY r14_channel, '1';
SELECT pg_notify('r14_channel', '2');
NOTIFY r14_channel, '3';
\set VERBOSITY sqlstate
-- error: YG004, the fourth
NOTIFY r14_channel, '4';
ROLLBACK;
-- error: YG004, one statement that calls pg_notify() for many rows
SELECT count(pg_notify('r14_channel', g::text)) FROM generate_series(1, 10) g;
\set VERBOSITY default
SELECT count(pg_notify('r14_channel', g::text)) FROM generate_series(1, 10) g;
-- a new transaction counts afresh
SELECT count(pg_notify('r14_channel', g::text)) FROM generate_series(1, 3) g;
NOTIFY r14_channel, 'again';
\c "dbname=contrib_regression user=regress_r14_human options="
BEGIN;
SELECT count(pg_notify('r14_channel', g::text)) FROM generate_series(1, 10) g;
COMMIT;
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot RESET agent_guard.agent_notify_max_per_xact;
SELECT agent_guard._flush_requests();
