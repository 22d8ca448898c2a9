--
-- rt20_reach: what a human's writes rely on, dropped by an agent.
-- An agent's DROP EXTENSION ... CASCADE (red team 19's note) dropped a
-- human's CHECK and unique index on a protected table, built on the
-- extension's members; the agent's own ALTER TABLE ... DROP CONSTRAINT
-- and DROP INDEX did the same directly.  A unique or exclusion
-- constraint or index is what humans' INSERT ... ON CONFLICT infers (the
-- drop makes their writes fail), a CHECK or foreign key keeps their data
-- valid.  Now: dropping a CHECK, unique, exclusion or foreign-key
-- constraint, or a unique index, of a protected table needs approval
-- (YG003) by whatever path (direct, CASCADE of an extension, a type, a
-- function, a referenced table), on record; a plain index is allowed.
-- An approval of the request lets the retry run once.  A statement that
-- drops the table with them is judged as the table's drop.
-- Humans do all of it without approval.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 850000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
CREATE SCHEMA r20 AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA r20 TO regress_human;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt20-setup"
\set SHOW_CONTEXT never
CREATE EXTENSION citext SCHEMA r20;
CREATE TABLE r20.owners (id int PRIMARY KEY);
INSERT INTO r20.owners VALUES (1), (2);
CREATE TABLE r20.accounts (id int PRIMARY KEY, email text, code text, owner int);
CREATE FUNCTION r20.valid_code(text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 <> ''''';

-- a human fills it, protects it and adds what their writes rely on
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
INSERT INTO r20.accounts VALUES (1, 'Ann@x.org', 'a', 1), (2, 'bob@x.org', 'b', 2);
SELECT agent_guard.protect('r20.accounts');
GRANT SELECT, INSERT, UPDATE, DELETE ON r20.accounts TO regress_human;
ALTER TABLE r20.accounts ADD CONSTRAINT email_ci CHECK (email::r20.citext <> 'nobody@x.org'::r20.citext);
CREATE UNIQUE INDEX accounts_email_ci ON r20.accounts ((email::r20.citext));
ALTER TABLE r20.accounts ADD CONSTRAINT code_valid CHECK (r20.valid_code(code));
ALTER TABLE r20.accounts ADD CONSTRAINT code_unique UNIQUE (code);
ALTER TABLE r20.accounts ADD CONSTRAINT owner_fk FOREIGN KEY (owner) REFERENCES r20.owners;
CREATE INDEX accounts_owner ON r20.accounts (owner);
CREATE FUNCTION public.regress_r20_state() RETURNS SETOF text LANGUAGE sql AS $$
SELECT * FROM (
SELECT 'constraint ' || conname || ' ' || contype::text AS what FROM pg_constraint
 WHERE conrelid = 'r20.accounts'::regclass AND contype <> 'n'
UNION ALL
SELECT 'index ' || c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'r20.accounts'::regclass
UNION ALL
SELECT 'rows ' || count(*) FROM r20.accounts) s
ORDER BY 1 $$;
SELECT * FROM public.regress_r20_state();
-- what the human's app does
INSERT INTO r20.accounts VALUES (3, 'cy@x.org', 'c', 1)
  ON CONFLICT ((email::r20.citext)) DO NOTHING;

-- the agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt20"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: the human's CHECK and unique index go with the extension (YG003)
DROP EXTENSION citext CASCADE;
-- error: the CHECK goes with the function (YG003)
DROP FUNCTION r20.valid_code(text) CASCADE;
-- error: the foreign key goes with the table it references (YG003)
DROP TABLE r20.owners CASCADE;
-- error: directly (YG003 each; a foreign key is not the key: it was refused
-- as one, YG004, its conindid being the referenced table's key)
ALTER TABLE r20.accounts DROP CONSTRAINT code_valid;
ALTER TABLE r20.accounts DROP CONSTRAINT code_unique;
ALTER TABLE r20.accounts DROP CONSTRAINT owner_fk;
DROP INDEX r20.accounts_email_ci;
-- error: inside a function, too (YG003)
DO $$ BEGIN EXECUTE 'ALTER TABLE r20.accounts DROP CONSTRAINT email_ci'; END $$;
-- a plain index is allowed
DROP INDEX r20.accounts_owner;
\set VERBOSITY default
-- the message names what the drop reaches
DROP EXTENSION citext CASCADE;
\set VERBOSITY sqlstate
SELECT count(*) AS rows_kept FROM r20.accounts;

\c "dbname=contrib_regression user=regress_su options="
SELECT * FROM public.regress_r20_state();
SELECT agent_guard._flush_requests();
SELECT kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before AND run_id = 'run-rt20' ORDER BY request_id;
SELECT request_id AS req_ext FROM agent_guard.requests
 WHERE request_id > :req_before AND run_id = 'run-rt20' AND statement = 'DROP EXTENSION citext CASCADE'
 ORDER BY request_id LIMIT 1 \gset
SELECT status FROM agent_guard.approve(:req_ext, 'citext goes; the human asked for it');
-- the human's writes still work meanwhile
INSERT INTO r20.accounts VALUES (4, 'dee@x.org', 'd', 2)
  ON CONFLICT ((email::r20.citext)) DO NOTHING;

-- approved: the retry runs, once
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt20"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
DROP EXTENSION citext CASCADE;
SELECT count(*) AS rows_kept FROM r20.accounts;
CREATE EXTENSION citext SCHEMA r20;

\c "dbname=contrib_regression user=regress_su options="
SELECT * FROM public.regress_r20_state();
SELECT status FROM agent_guard.requests WHERE request_id = :req_ext;

-- the human's side: the same drops, no approval
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
BEGIN;
ALTER TABLE r20.accounts DROP CONSTRAINT code_valid;
ALTER TABLE r20.accounts DROP CONSTRAINT code_unique;
DROP TABLE r20.owners CASCADE;
SELECT * FROM public.regress_r20_state();
ROLLBACK;
SELECT ok FROM agent_guard.verify_log();

-- a partitioned table's unique index: one approval covers the partitions'
-- indexes it drops with it (red team 21, finding 7); a domain's CHECK that
-- a protected column uses, dropped directly or through CASCADE (red team
-- 21, finding 6): approval (YG003)
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt20-parts"
\set SHOW_CONTEXT never
CREATE TABLE r20.parts (id int, code text, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE r20.parts_1 PARTITION OF r20.parts FOR VALUES FROM (0) TO (100);
CREATE FUNCTION r20.short(text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT length($1) < 10';
CREATE DOMAIN r20.code AS text CONSTRAINT code_short CHECK (r20.short(VALUE));
CREATE TABLE r20.coded (id int PRIMARY KEY, c r20.code);
\c "dbname=contrib_regression user=regress_su options="
INSERT INTO r20.parts VALUES (1, 'a'), (2, 'b');
INSERT INTO r20.coded VALUES (1, 'x');
SELECT agent_guard.protect('r20.parts');
SELECT agent_guard.protect('r20.coded');
CREATE UNIQUE INDEX parts_code ON r20.parts (id, code);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt20-parts"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG003 each
DROP INDEX r20.parts_code;
ALTER DOMAIN r20.code DROP CONSTRAINT code_short;
DROP FUNCTION r20.short(text) CASCADE;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before AND run_id = 'run-rt20-parts' ORDER BY request_id;
SELECT (agent_guard.approve(request_id, 'the index goes')).status FROM agent_guard.requests
 WHERE request_id > :req_before AND run_id = 'run-rt20-parts' AND statement = 'DROP INDEX r20.parts_code';
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt20-parts"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- approved: one approval, the partition's index with it
DROP INDEX r20.parts_code;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT count(*) AS unique_indexes_left FROM pg_index
 WHERE indrelid IN ('r20.parts'::regclass, 'r20.parts_1'::regclass) AND NOT indisprimary;
SELECT count(*) AS domain_checks FROM pg_constraint WHERE contypid = 'r20.code'::regtype;
-- the human's side
BEGIN;
ALTER DOMAIN r20.code DROP CONSTRAINT code_short;
ROLLBACK;
SELECT agent_guard.unprotect('r20.parts');
SELECT agent_guard.unprotect('r20.coded');

-- red team 19, finding 3's refusal: only a human's statement reaches it.
-- An agent role that may create roles cannot act as an agent at all
-- (YG001), so the refusal of a role named like an agent's schema is a
-- human's plain error (YG004), not an agent's request.
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot CREATEROLE;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt20-roles"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG001
CREATE ROLE r20;
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot NOCREATEROLE;
\set VERBOSITY sqlstate
-- error: YG004
CREATE ROLE r20;
CREATE ROLE regress_rt20_other;
-- error: YG004
ALTER ROLE regress_rt20_other RENAME TO r20;
DROP ROLE regress_rt20_other;
\set VERBOSITY default
SELECT count(*) AS roles_named_r20 FROM pg_roles WHERE rolname = 'r20';

-- cleanup
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unprotect('r20.accounts');
DROP SCHEMA r20 CASCADE;
DROP EXTENSION IF EXISTS citext;
DROP FUNCTION public.regress_r20_state();
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
