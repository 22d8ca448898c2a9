--
-- protect: which relations can be protected, by whom, and what it adds
--
\c "dbname=contrib_regression user=regress_su options="
CREATE SCHEMA app AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA app TO regress_human;
SET ROLE regress_bot;
CREATE TABLE app.customers (id int PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE app.notes (id int PRIMARY KEY, body text);
CREATE TABLE app.nokey (a int, b text);
CREATE TABLE app.ri (a int NOT NULL, b text);
CREATE UNIQUE INDEX ri_a ON app.ri (a);
ALTER TABLE app.ri REPLICA IDENTITY USING INDEX ri_a;
CREATE VIEW app.customer_names AS SELECT id, name FROM app.customers;
CREATE MATERIALIZED VIEW app.mv AS SELECT 1 AS x;
CREATE TABLE app.orders (id int, region text, amount numeric, PRIMARY KEY (id, region))
    PARTITION BY LIST (region);
CREATE TABLE app.orders_eu PARTITION OF app.orders FOR VALUES IN ('eu');
CREATE TABLE app.badstamp (id int PRIMARY KEY, ag_agent_id int);
RESET ROLE;
CREATE FOREIGN DATA WRAPPER regress_fdw;
CREATE SERVER regress_srv FOREIGN DATA WRAPPER regress_fdw;
CREATE FOREIGN TABLE app.remote (id int) SERVER regress_srv;
CREATE TEMP TABLE scratch (id int PRIMARY KEY);

-- a human (the superuser here) protects tables
SELECT agent_guard.protect('app.customers');
SELECT agent_guard.protect('app.notes', soft_delete => false);
SELECT agent_guard.protect('app.ri', false);
SELECT agent_guard.protect('app.orders');
\d app.customers

-- error: no primary key or replica identity
SELECT agent_guard.protect('app.nokey');
-- error: views, materialized views, foreign tables, temporary tables
SELECT agent_guard.protect('app.customer_names');
SELECT agent_guard.protect('app.mv');
SELECT agent_guard.protect('app.remote');
SELECT agent_guard.protect('scratch');
-- error: system catalogs and the extension's own tables
SELECT agent_guard.protect('pg_catalog.pg_class');
SELECT agent_guard.protect('agent_guard.events');
-- error: a partition of a protected table is covered already
SELECT agent_guard.protect('app.orders_eu');
-- error: a stamp column of the wrong type
SELECT agent_guard.protect('app.badstamp');
-- error: null arguments
SELECT agent_guard.protect(NULL);
SELECT agent_guard.protect('app.notes', NULL);
-- error: no such table
SELECT agent_guard.protect('app.nosuch');

-- partitions, present and future, carry the stamps and the triggers
CREATE TABLE app.orders_us PARTITION OF app.orders FOR VALUES IN ('us');
SELECT c.relname, t.tgname
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'app'::regnamespace AND t.tgname LIKE '%agent_guard%'
 ORDER BY 1, 2;
SELECT attrelid::regclass, attname FROM pg_attribute
 WHERE attrelid IN ('app.orders_eu'::regclass, 'app.orders_us'::regclass)
   AND attname LIKE 'ag\_%' ORDER BY attrelid::text, attname;

SELECT relation, soft_delete, key_columns, partitions FROM agent_guard.protected;

-- protecting again is harmless: no duplicate triggers, columns kept
SELECT agent_guard.protect('app.customers');
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'app.customers'::regclass;

-- error: an agent cannot protect or unprotect, even when granted EXECUTE
GRANT EXECUTE ON FUNCTION agent_guard.protect(regclass, boolean), agent_guard.unprotect(regclass)
    TO regress_bot, regress_human;
\c "dbname=contrib_regression user=regress_bot options="
SELECT agent_guard.unprotect('app.customers');
SELECT agent_guard.protect('app.notes');
-- error: a human who does not own the table cannot either
\c "dbname=contrib_regression user=regress_human options="
SELECT agent_guard.unprotect('app.customers');
\c "dbname=contrib_regression user=regress_su options="
REVOKE EXECUTE ON FUNCTION agent_guard.protect(regclass, boolean), agent_guard.unprotect(regclass)
    FROM regress_bot, regress_human;

-- unprotect removes the triggers, keeps the columns and their data
CREATE TABLE app.tmp (id int PRIMARY KEY);
SELECT agent_guard.protect('app.tmp');
SELECT agent_guard.unprotect('app.tmp');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'app.tmp'::regclass;
SELECT count(*) AS stamp_columns FROM pg_attribute
 WHERE attrelid = 'app.tmp'::regclass AND attname LIKE 'ag\_%' AND NOT attisdropped;
-- error: not protected
SELECT agent_guard.unprotect('app.tmp');
DROP TABLE app.tmp;

SELECT operation, relation, detail FROM agent_guard.events
 WHERE operation IN ('PROTECT', 'UNPROTECT') ORDER BY event_id;
