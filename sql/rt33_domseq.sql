--
-- rt33_domseq: red team 33, F8: a key column with no default of its own
-- whose domain has DEFAULT nextval('s') draws from s (PostgreSQL applies
-- the domain's default): an agent's write of a key s has yet to issue is
-- refused (YG004, on record), also through a domain over that domain;
-- keys s issued, keys outside its range and the default itself still
-- work.  From the human's side: the same writes work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1016500, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r33d;
GRANT USAGE ON SCHEMA r33d TO regress_bot, regress_human;
CREATE SEQUENCE r33d.tseq;
CREATE DOMAIN r33d.ticket_id AS int DEFAULT nextval('r33d.tseq');
CREATE DOMAIN r33d.sub_ticket AS r33d.ticket_id;
CREATE TABLE r33d.tix (id r33d.ticket_id PRIMARY KEY, t text);
CREATE TABLE r33d.subtix (id r33d.sub_ticket PRIMARY KEY, t text);
-- a default of the column's own wins over its domain's
CREATE TABLE r33d.own (id r33d.ticket_id DEFAULT 0 PRIMARY KEY, t text);
INSERT INTO r33d.tix (t) VALUES ('h1');
SELECT agent_guard.protect('r33d.tix');
SELECT agent_guard.protect('r33d.subtix');
SELECT agent_guard.protect('r33d.own');
GRANT SELECT, INSERT, UPDATE, DELETE ON r33d.tix, r33d.subtix, r33d.own TO regress_bot, regress_human;
GRANT USAGE ON SEQUENCE r33d.tseq TO regress_bot, regress_human;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt33-domseq"
\set SHOW_CONTEXT never
INSERT INTO r33d.tix VALUES (2, 'agent'), (3, 'agent'), (4, 'agent');
\set VERBOSITY sqlstate
-- error: YG004 each
INSERT INTO r33d.tix VALUES (1000, 'agent');
UPDATE r33d.tix SET id = 5 WHERE id = 1;
INSERT INTO r33d.subtix VALUES (7, 'agent');
\set VERBOSITY default
-- allowed: the default, a key the sequence issued, one outside its range,
-- a column with a default of its own
INSERT INTO r33d.tix (t) VALUES ('agent default') RETURNING id;
INSERT INTO r33d.subtix (t) VALUES ('agent default') RETURNING id;
DELETE FROM r33d.tix WHERE id = 2;
INSERT INTO r33d.tix VALUES (-5, 'below the start');
INSERT INTO r33d.own VALUES (50, 'own default');

\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
-- the human's inserts by the default do not collide; explicit keys work
INSERT INTO r33d.tix (t) VALUES ('h2') RETURNING id;
BEGIN;
INSERT INTO r33d.tix VALUES (1000, 'human');
UPDATE r33d.tix SET id = 1001 WHERE id = 1000;
INSERT INTO r33d.subtix VALUES (7, 'human');
SELECT count(*) AS human_rows FROM r33d.tix WHERE t = 'human';
ROLLBACK;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT id, t, ag_deleted_at IS NOT NULL AS soft_deleted FROM r33d.tix ORDER BY id;
SELECT id, t FROM r33d.subtix ORDER BY id;
SELECT agent_guard._flush_requests() AS flushed;
SELECT agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r33d.tix');
SELECT agent_guard.unprotect('r33d.subtix');
SELECT agent_guard.unprotect('r33d.own');
DROP SCHEMA r33d CASCADE;
