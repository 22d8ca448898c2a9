--
-- rt33_softtrg: red team 33, F2.  A human's write purges the soft-deleted
-- rows that hold its keys (red team 30, F7), but never where a foreign key
-- with an ON DELETE action references the table (red team 32, F1).  The
-- table's own DELETE triggers and rules are the same kind of thing: an
-- application's cascade by trigger deleted a human's live row of another
-- protected table inside the human's INSERT, with no event; a BEFORE DELETE
-- trigger that keeps rows or a DO ALSO rule made the insert fail for a
-- reason it never chose.  Now the human's write is refused (YG050), naming
-- the trigger or rule, and nothing is written or purged; the table's owner
-- decides with agent_guard.purge().  A disabled trigger fires nothing: the
-- purge goes on.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1014000, false) AS ids_from;
SELECT coalesce(max(event_id), 0) AS ev_before FROM agent_guard.events \gset
CREATE SCHEMA r33t;
GRANT USAGE ON SCHEMA r33t TO regress_bot, regress_human;
-- an application-level cascade by trigger, no foreign-key action
CREATE TABLE r33t.accounts (id int PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE r33t.notes (id int PRIMARY KEY, acct int, note text);
CREATE FUNCTION r33t.acct_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN DELETE FROM r33t.notes WHERE acct = OLD.id; RETURN OLD; END $$;
CREATE TRIGGER acct_gone AFTER DELETE ON r33t.accounts FOR EACH ROW EXECUTE FUNCTION r33t.acct_gone();
INSERT INTO r33t.accounts SELECT g, 'a' || g || '@x' FROM generate_series(1, 5) g;
INSERT INTO r33t.notes SELECT g, g, 'note ' || g FROM generate_series(1, 5) g;
-- rows the application keeps: its BEFORE DELETE trigger skips the delete
CREATE TABLE r33t.vips (id int PRIMARY KEY, handle text NOT NULL UNIQUE);
CREATE FUNCTION r33t.keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER keep BEFORE DELETE ON r33t.vips FOR EACH ROW EXECUTE FUNCTION r33t.keep();
INSERT INTO r33t.vips VALUES (1, 'v1'), (2, 'v2');
-- a DO ALSO rule on DELETE
CREATE TABLE r33t.tags (id int PRIMARY KEY, tag text NOT NULL UNIQUE);
CREATE TABLE r33t.tag_log (tag text);
CREATE RULE tag_gone AS ON DELETE TO r33t.tags DO ALSO INSERT INTO r33t.tag_log VALUES (OLD.tag);
INSERT INTO r33t.tags VALUES (1, 't1'), (2, 't2');
-- a statement trigger on a partition of a partitioned table
CREATE TABLE r33t.parts (id int, region int, code text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE r33t.parts_1 PARTITION OF r33t.parts FOR VALUES IN (1);
CREATE TABLE r33t.parts_2 PARTITION OF r33t.parts FOR VALUES IN (2);
CREATE FUNCTION r33t.stmt() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER parts_2_del AFTER DELETE ON r33t.parts_2 FOR EACH STATEMENT EXECUTE FUNCTION r33t.stmt();
INSERT INTO r33t.parts VALUES (1, 1, 'p1'), (2, 2, 'p2');
-- a DELETE trigger on a table the purge's cascade reaches
CREATE TABLE r33t.fam (id int PRIMARY KEY, code text NOT NULL UNIQUE);
CREATE TABLE r33t.kid (id int PRIMARY KEY, fam int REFERENCES r33t.fam ON DELETE CASCADE);
CREATE TRIGGER kid_gone AFTER DELETE ON r33t.kid FOR EACH ROW EXECUTE FUNCTION r33t.acct_gone();
INSERT INTO r33t.fam VALUES (1, 'f1'), (2, 'f2');
INSERT INTO r33t.kid VALUES (1, 1), (2, 2);
-- a DELETE trigger that is disabled fires nothing
CREATE TABLE r33t.quiet (id int PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TRIGGER quiet_gone AFTER DELETE ON r33t.quiet FOR EACH ROW EXECUTE FUNCTION r33t.acct_gone();
ALTER TABLE r33t.quiet DISABLE TRIGGER quiet_gone;
INSERT INTO r33t.quiet VALUES (1, 'q1'), (2, 'q2');
SELECT agent_guard.protect(t) FROM unnest(ARRAY['r33t.accounts', 'r33t.notes', 'r33t.vips', 'r33t.tags',
                                                'r33t.parts', 'r33t.quiet', 'r33t.fam', 'r33t.kid']::regclass[]) t;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA r33t TO regress_bot, regress_human;

-- the agent's side: soft deletes, allowed as before (the rule logs the agent's delete)
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r33t-a"
\set SHOW_CONTEXT never
DELETE FROM r33t.accounts WHERE id = 4;
DELETE FROM r33t.vips WHERE id = 2;
DELETE FROM r33t.tags WHERE id = 2;
DELETE FROM r33t.parts WHERE id = 2;
DELETE FROM r33t.quiet WHERE id = 2;
-- cascades to its kid, soft-deleted too
DELETE FROM r33t.fam WHERE id = 1;

-- the human's side: a write that needs those keys
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
-- error: the account's AFTER DELETE trigger would delete the human's note 4
INSERT INTO r33t.accounts VALUES (104, 'a4@x');
\echo :LAST_ERROR_SQLSTATE
-- error: the BEFORE DELETE trigger would keep the row
INSERT INTO r33t.vips VALUES (102, 'v2');
\echo :LAST_ERROR_SQLSTATE
-- error: the DO ALSO rule
INSERT INTO r33t.tags VALUES (102, 't2') ON CONFLICT DO NOTHING;
\echo :LAST_ERROR_SQLSTATE
-- error: the partition's statement trigger
INSERT INTO r33t.parts VALUES (2, 2, 'human');
\echo :LAST_ERROR_SQLSTATE
-- error: the purge would cascade to the soft-deleted kid, whose DELETE trigger would fire
INSERT INTO r33t.fam VALUES (101, 'f1');
\echo :LAST_ERROR_SQLSTATE
-- the disabled trigger fires nothing: the soft-deleted row is purged, the row goes in
INSERT INTO r33t.quiet VALUES (102, 'q2');
SELECT * FROM r33t.quiet ORDER BY id;
-- nothing was written, nothing purged, the human's notes all there
SELECT id, note FROM r33t.notes ORDER BY id;
SELECT count(*) AS accounts, count(*) FILTER (WHERE email = 'a4@x') AS a4 FROM r33t.accounts;
SELECT count(*) AS tag_log FROM r33t.tag_log;

-- the table's owner decides: an explicit purge fires the trigger, as asked
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- the kid the agent's delete cascaded to is still there, soft-deleted
SELECT id, fam, ag_deleted_at IS NOT NULL AS soft_deleted FROM r33t.kid ORDER BY id;
SELECT agent_guard.purge('r33t.accounts', '0 seconds');
SELECT id, note FROM r33t.notes ORDER BY id;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
INSERT INTO r33t.accounts VALUES (104, 'a4@x');

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT operation, relation, row_key, login_role
  FROM agent_guard.events WHERE event_id > :ev_before AND relation LIKE 'r33t.%'
 ORDER BY event_id;
SELECT ok FROM agent_guard.verify_log();
SELECT agent_guard.unprotect(t) FROM unnest(ARRAY['r33t.accounts', 'r33t.notes', 'r33t.vips', 'r33t.tags',
                                                  'r33t.parts', 'r33t.quiet', 'r33t.fam', 'r33t.kid']::regclass[]) t;
DROP SCHEMA r33t CASCADE;
