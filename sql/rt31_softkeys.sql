--
-- rt31_softkeys: red team 30, F7.  Rows an agent soft-deleted keep their
-- values, so they kept holding their unique and exclusion keys: a human's
-- INSERT of such a key failed, ON CONFLICT DO UPDATE failed on the hiding
-- policy, ON CONFLICT DO NOTHING dropped the human's row without a word,
-- MERGE failed, an UPDATE setting a key failed, a booking the agent
-- "cancelled" kept its slot.  Now a human's write wins, as it would have
-- over the hard delete the agent asked for: the soft-deleted rows holding
-- the keys the human's row needs are purged first (as the table's owner,
-- each logged as PURGE with its image), then the row goes in.
-- From the agent's side: unchanged, its insert of such a key still fails.
-- The human needs no DELETE privilege; live rows are never purged.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1004000, false) AS ids_from;
SELECT coalesce(max(event_id), 0) AS ev_before FROM agent_guard.events \gset
CREATE SCHEMA r31u;
GRANT USAGE ON SCHEMA r31u TO regress_bot, regress_human;
CREATE TABLE r31u.customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text);
INSERT INTO r31u.customers SELECT g, 'e' || g || '@x', 'c' || g FROM generate_series(1, 10) g;
CREATE TABLE r31u.bookings (id int PRIMARY KEY, during int4range NOT NULL,
                            EXCLUDE USING gist (during WITH &&));
INSERT INTO r31u.bookings VALUES (1, '[1,5)'), (2, '[10,15)');
CREATE TABLE r31u.codes (id int PRIMARY KEY, code text NOT NULL, active boolean NOT NULL DEFAULT true);
CREATE UNIQUE INDEX codes_lower_active ON r31u.codes (lower(code)) WHERE active;
INSERT INTO r31u.codes VALUES (1, 'ABC'), (2, 'DEF');
CREATE TABLE r31u.orders (id int, region int, note text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE r31u.orders_1 PARTITION OF r31u.orders FOR VALUES IN (1);
CREATE TABLE r31u.orders_2 PARTITION OF r31u.orders FOR VALUES IN (2);
INSERT INTO r31u.orders VALUES (1, 1, 'o1'), (2, 2, 'o2');
CREATE TABLE r31u.team (id int PRIMARY KEY, name text);
CREATE TABLE r31u.member (id int PRIMARY KEY, team int REFERENCES r31u.team);   -- NO ACTION
INSERT INTO r31u.team VALUES (1, 'a'), (2, 'b');
INSERT INTO r31u.member VALUES (10, 1), (11, 1), (20, 2);
SELECT agent_guard.protect('r31u.customers');
SELECT agent_guard.protect('r31u.orders');
SELECT agent_guard.protect('r31u.team');
SELECT agent_guard.protect('r31u.member');
SELECT agent_guard.protect('r31u.bookings');
SELECT agent_guard.protect('r31u.codes');
GRANT SELECT, INSERT, UPDATE, DELETE ON r31u.customers, r31u.bookings, r31u.codes, r31u.orders,
                                        r31u.team, r31u.member TO regress_bot;
-- the human may write, not delete
GRANT SELECT, INSERT, UPDATE ON r31u.customers, r31u.bookings, r31u.codes, r31u.orders TO regress_human;
GRANT SELECT, INSERT, UPDATE, DELETE ON r31u.team, r31u.member TO regress_human;
-- while no row may be soft-deleted, humans' writes do not look
SELECT relation, soft_rows FROM agent_guard.protected_tables WHERE relation::text LIKE 'r31u.%' ORDER BY 1;

-- the agent's side: soft deletes, then its own inserts of those keys fail as before
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31u-a"
\set SHOW_CONTEXT never
DELETE FROM r31u.customers WHERE id BETWEEN 2 AND 9;
DELETE FROM r31u.bookings WHERE id = 1;
DELETE FROM r31u.codes WHERE id = 1;
DELETE FROM r31u.orders WHERE id = 2;
DELETE FROM r31u.member WHERE team = 1;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- an agent's soft delete flips the flag (committed with it)
SELECT relation, soft_rows FROM agent_guard.protected_tables WHERE relation::text LIKE 'r31u.%' ORDER BY 1;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31u-a"
\set SHOW_CONTEXT never
-- error: a soft-deleted row still holds the key
INSERT INTO r31u.customers VALUES (8, 'agent@x', 'agent');
-- error: the same, for ON CONFLICT
INSERT INTO r31u.customers VALUES (7, 'agent@x', 'agent') ON CONFLICT (id) DO NOTHING;
-- error: a unique violation on the other unique column
INSERT INTO r31u.customers VALUES (100, 'e6@x', 'agent');
-- error: the exclusion constraint
INSERT INTO r31u.bookings VALUES (100, '[2,3)');
SELECT count(*) AS agent_sees FROM r31u.customers;

-- the human's side: every form of write of those keys goes in
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT count(*) AS human_sees FROM r31u.customers WHERE id BETWEEN 2 AND 8;
-- plain INSERT
INSERT INTO r31u.customers VALUES (8, 'human8@x', 'human');
-- ON CONFLICT DO UPDATE: the human's row is inserted fresh
INSERT INTO r31u.customers VALUES (7, 'sync7@x', 'sync')
    ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email;
-- ON CONFLICT DO NOTHING: the row is not dropped
INSERT INTO r31u.customers VALUES (6, 'sync6@x', 'sync') ON CONFLICT (id) DO NOTHING;
-- MERGE: not matched, inserted
MERGE INTO r31u.customers c USING (VALUES (5, 'm5@x')) v(id, e) ON c.id = v.id
  WHEN MATCHED THEN UPDATE SET email = v.e
  WHEN NOT MATCHED THEN INSERT (id, email, name) VALUES (v.id, v.e, 'merge');
-- another unique column: a new account with a deleted account's address
INSERT INTO r31u.customers VALUES (104, 'e4@x', 'new owner of e4');
-- an UPDATE that sets a key a soft-deleted row holds
UPDATE r31u.customers SET email = 'e3@x' WHERE id = 1;
-- COPY
COPY r31u.customers (id, email, name) FROM stdin;
2	copy2@x	copy
\.
-- an exclusion constraint: the cancelled booking's slot is free
INSERT INTO r31u.bookings VALUES (3, '[2,4)');
-- a partial unique index on an expression
INSERT INTO r31u.codes VALUES (3, 'abc');
-- a partition's row
INSERT INTO r31u.orders VALUES (2, 2, 'human');
-- live rows still conflict: PostgreSQL's own errors, nothing purged
-- error: duplicate key
INSERT INTO r31u.customers VALUES (10, 'x@x', 'dup');
-- error: duplicate email
INSERT INTO r31u.customers VALUES (200, 'e10@x', 'dup');
INSERT INTO r31u.customers VALUES (10, 'x@x', 'dup') ON CONFLICT (id) DO NOTHING;
-- error: overlapping a live booking
INSERT INTO r31u.bookings VALUES (4, '[12,13)');
SELECT id, email, name, ag_agent_id, ag_deleted_at FROM r31u.customers ORDER BY id;
SELECT id, during FROM r31u.bookings ORDER BY id;
SELECT id, code FROM r31u.codes ORDER BY id;
SELECT tableoid::regclass AS part, id, region, note FROM r31u.orders ORDER BY id;
-- a foreign key with no action: the parent whose referencing rows are all
-- soft-deleted cannot be deleted yet (Limitations)
SELECT count(*) AS members_seen FROM r31u.member WHERE team = 1;
-- error: still referenced
DELETE FROM r31u.team WHERE id = 1;

-- the way out for the parent: the table's owner purges the members, then
-- the human's delete goes through
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.purge('r31u.member', '0');
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
DELETE FROM r31u.team WHERE id = 1;
SELECT id FROM r31u.team ORDER BY id;

-- on record: one PURGE per purged row, with its image, by the human
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT relation, operation, row_key, old_row ->> 'email' AS email, old_row ->> 'ag_run_id' AS deleted_in,
       login_role, acting_role, agent_id
  FROM agent_guard.events
 WHERE event_id > :ev_before AND operation = 'PURGE'
 ORDER BY event_id;
SELECT row_key FROM agent_guard.soft_deleted('r31u.customers');
SELECT ok FROM agent_guard.verify_log();
-- the agent's run rolled back afterwards: the rows the human's writes
-- purged are conflicts (changed after the run: abort changes nothing),
-- skip brings back the row no human write needed (id 9)
SELECT step, relation, operation, row_key, status
  FROM agent_guard.rollback_run('r31u-a') ORDER BY step;
\set VERBOSITY terse
-- error: conflicts
SELECT count(*) FROM agent_guard.rollback_run('r31u-a', true);
\set VERBOSITY default
SELECT step, relation, row_key, status
  FROM agent_guard.rollback_run('r31u-a', true, 'skip') ORDER BY step;
SELECT id, email, name, ag_deleted_at FROM r31u.customers ORDER BY id;
SELECT ok FROM agent_guard.verify_log();
SELECT request_id - 1004000 AS req, kind, agent_id FROM agent_guard.requests WHERE request_id >= 1004000 ORDER BY 1;

-- a purge whose ON DELETE CASCADE would reach a live row (here one an
-- agent wrote last, under the soft-deleted row a human pointed it at: the
-- agent's soft delete cascades to the live rows of the time, rt33_softfk)
-- is refused (YG050): the human's insert fails, nothing is purged
CREATE TABLE r31u.p2 (id int PRIMARY KEY);
CREATE TABLE r31u.c2 (id int PRIMARY KEY, p int REFERENCES r31u.p2 ON DELETE CASCADE, note text);
INSERT INTO r31u.p2 VALUES (1);
SELECT agent_guard.protect('r31u.p2');
SELECT agent_guard.protect('r31u.c2');
GRANT SELECT, INSERT, UPDATE, DELETE ON r31u.p2, r31u.c2 TO regress_bot;
GRANT SELECT, INSERT ON r31u.p2 TO regress_human;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31u-b"
\set SHOW_CONTEXT never
DELETE FROM r31u.p2 WHERE id = 1;
\c "dbname=contrib_regression user=regress_su options="
INSERT INTO r31u.c2 VALUES (1, 1, 'human');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31u-b"
\set SHOW_CONTEXT never
UPDATE r31u.c2 SET note = 'agent' WHERE id = 1;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
-- error: YG050
INSERT INTO r31u.p2 VALUES (1);
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT id, p, ag_agent_id FROM r31u.c2;
SELECT row_key FROM agent_guard.soft_deleted('r31u.p2');
SELECT agent_guard.unprotect(r) FROM unnest(ARRAY['r31u.p2', 'r31u.c2']::regclass[]) r;

-- red team 32, F1: the soft-deleted row is referenced by a human's live row
-- through ON DELETE CASCADE (and SET NULL), pointed at it after the agent's
-- soft delete: an implicit purge would delete or change it unseen, so the
-- human's insert and upsert are refused (YG050), nothing is purged, the
-- human's rows stay as they were
CREATE TABLE r31u.cust (id int PRIMARY KEY, email text UNIQUE);
CREATE TABLE r31u.ord (id int PRIMARY KEY, cust int REFERENCES r31u.cust ON DELETE CASCADE);
CREATE TABLE r31u.ord2 (id int PRIMARY KEY, cust int REFERENCES r31u.cust ON DELETE SET NULL);
INSERT INTO r31u.cust VALUES (3, 'c3@x');
SELECT agent_guard.protect('r31u.cust');
SELECT agent_guard.protect('r31u.ord');
GRANT SELECT, INSERT, UPDATE, DELETE ON r31u.cust TO regress_bot;
GRANT SELECT, INSERT, UPDATE ON r31u.cust TO regress_human;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31u-c"
\set SHOW_CONTEXT never
DELETE FROM r31u.cust WHERE id = 3;
\c "dbname=contrib_regression user=regress_su options="
INSERT INTO r31u.ord VALUES (30, 3);
INSERT INTO r31u.ord2 VALUES (31, 3);
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
-- error: YG050 (another key, the e-mail)
INSERT INTO r31u.cust VALUES (100, 'c3@x');
-- error: YG050 (the upsert of the same row)
INSERT INTO r31u.cust VALUES (3, 'c3@y') ON CONFLICT (id) DO UPDATE SET email = excluded.email;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT (SELECT count(*) FROM r31u.ord) AS orders, (SELECT cust FROM r31u.ord2 WHERE id = 31) AS ord2_cust;
SELECT row_key FROM agent_guard.soft_deleted('r31u.cust');
SELECT count(*) AS purge_events FROM agent_guard.events WHERE relation = 'r31u.cust' AND operation = 'PURGE';
SELECT ok FROM agent_guard.verify_log();
SELECT agent_guard.unprotect(r) FROM unnest(ARRAY['r31u.cust', 'r31u.ord']::regclass[]) r;

-- cleanup
SELECT agent_guard.unprotect(r) FROM unnest(ARRAY['r31u.customers', 'r31u.bookings', 'r31u.codes', 'r31u.orders', 'r31u.team', 'r31u.member']::regclass[]) r;
DROP SCHEMA r31u CASCADE;
