--
-- rt37_tagolder: red team 37, F2, F3, F5, F7, F12, F14, F15.  In a
-- transaction that a shared role tags with SET LOCAL agent_guard.agent_id,
-- on what the humans made before it (YG004, on record):
-- F2: ALTER SERVER ... OPTIONS, ALTER and DROP USER MAPPING of an older
-- server (their foreign reads and credentials would go where the agent
-- says); F5: CREATE FOREIGN TABLE ... PARTITION OF or INHERITS an older
-- table; F7: ALTER PUBLICATION ... RENAME and DROP PUBLICATION of an older
-- publication; F12: REFRESH MATERIALIZED VIEW ... WITH NO DATA of an older
-- view; F14: CREATE STATISTICS with an expression on an older table;
-- F15: ALTER TABLE ... OF a type (the type's renamed attributes would
-- rename the humans' columns); F3: SET STORAGE PLAIN (their long values
-- would no longer fit).  Allowed: a plain REFRESH, statistics on columns,
-- another storage, all of it on what the transaction made itself.  From
-- the humans' side: the role untagged may do all of it.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1027000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r37o AUTHORIZATION regress_tagged;
CREATE FOREIGN DATA WRAPPER r37fdw;
GRANT USAGE ON FOREIGN DATA WRAPPER r37fdw TO regress_tagged;
GRANT CREATE ON DATABASE contrib_regression TO regress_tagged;

-- the humans' objects, made by the shared role untagged
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE SERVER r37srv FOREIGN DATA WRAPPER r37fdw OPTIONS (host 'db.internal');
CREATE USER MAPPING FOR regress_tagged SERVER r37srv OPTIONS (user 'app', password 'secret');
CREATE TABLE r37o.t (id int PRIMARY KEY, a int, b text) ;
INSERT INTO r37o.t SELECT g, g, repeat('x', 10) FROM generate_series(1, 5) g;
CREATE TABLE r37o.parts (id int, a int) PARTITION BY RANGE (id);
CREATE TABLE r37o.parts_1 PARTITION OF r37o.parts FOR VALUES FROM (0) TO (100);
CREATE MATERIALIZED VIEW r37o.mv AS SELECT id, a FROM r37o.t;
SET client_min_messages = error;  -- wal_level's warning reads differently on 18
CREATE PUBLICATION r37pub FOR TABLE r37o.t;
RESET client_min_messages;
CREATE TYPE r37o.shape AS (id int, a int, b text);
CREATE SEQUENCE r37o.seq;
SELECT nextval('r37o.seq') AS drawn;

-- error: YG004 each
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
ALTER SERVER r37srv OPTIONS (SET host 'agent.example');
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
ALTER USER MAPPING FOR regress_tagged SERVER r37srv OPTIONS (SET user 'other');
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
DROP USER MAPPING FOR regress_tagged SERVER r37srv;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
CREATE FOREIGN TABLE r37o.parts_far PARTITION OF r37o.parts FOR VALUES FROM (100) TO (200) SERVER r37srv;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
CREATE FOREIGN TABLE r37o.t_far () INHERITS (r37o.t) SERVER r37srv;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
ALTER PUBLICATION r37pub RENAME TO r37pub_old;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
DROP PUBLICATION r37pub;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
REFRESH MATERIALIZED VIEW r37o.mv WITH NO DATA;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
CREATE STATISTICS r37o.st_expr ON (a + 1), id FROM r37o.t;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
CREATE TYPE r37o.t_shape AS (id int, a int, b text);
ALTER TABLE r37o.t OF r37o.t_shape;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
ALTER TABLE r37o.t ALTER COLUMN b SET STORAGE PLAIN;
ROLLBACK;
-- F4: setval() of their older sequence, as ALTER SEQUENCE of it
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
SELECT setval('r37o.seq', 1);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
SELECT setval('r37o.seq', 1000000, false);
ROLLBACK;
\set VERBOSITY default
-- two messages in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
ALTER SERVER r37srv OPTIONS (SET host 'agent.example');
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
REFRESH MATERIALIZED VIEW r37o.mv WITH NO DATA;
ROLLBACK;
\set VERBOSITY sqlstate
-- allowed: a plain refresh, statistics on columns, another storage, and
-- everything on what the transaction made itself
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-37';
REFRESH MATERIALIZED VIEW r37o.mv;
CREATE STATISTICS r37o.st_cols ON id, a FROM r37o.t;
ALTER TABLE r37o.t ALTER COLUMN b SET STORAGE EXTERNAL;
CREATE SERVER r37own FOREIGN DATA WRAPPER r37fdw;
ALTER SERVER r37own OPTIONS (ADD host 'mine');
CREATE USER MAPPING FOR regress_tagged SERVER r37own;
DROP USER MAPPING FOR regress_tagged SERVER r37own;
CREATE MATERIALIZED VIEW r37o.mv_own AS SELECT id FROM r37o.t;
REFRESH MATERIALIZED VIEW r37o.mv_own WITH NO DATA;
CREATE TABLE r37o.own (id int, a int);
CREATE STATISTICS r37o.st_own ON (a + 1), id FROM r37o.own;
CREATE TYPE r37o.own_shape AS (id int, a int);
CREATE TABLE r37o.own2 (id int, a int);
ALTER TABLE r37o.own2 OF r37o.own_shape;
CREATE SEQUENCE r37o.own_seq;
SELECT setval('r37o.own_seq', 42) AS own_set;
SELECT nextval('r37o.seq') > 1 AS drawn;
ROLLBACK;
\set VERBOSITY default

-- the humans' objects as they were
SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'r37srv';
SELECT umoptions FROM pg_user_mappings WHERE srvname = 'r37srv';
SELECT pubname FROM pg_publication WHERE pubname LIKE 'r37%';
SELECT ispopulated FROM pg_matviews WHERE schemaname = 'r37o' AND matviewname = 'mv';
SELECT count(*) AS stats FROM pg_statistic_ext WHERE stxnamespace = 'r37o'::regnamespace;
SELECT last_value < 1000 AS seq_kept FROM r37o.seq;

-- the humans' side: untagged, the same role does it all
ALTER SERVER r37srv OPTIONS (SET host 'db2.internal');
ALTER USER MAPPING FOR regress_tagged SERVER r37srv OPTIONS (SET user 'app2');
CREATE FOREIGN TABLE r37o.parts_far PARTITION OF r37o.parts FOR VALUES FROM (100) TO (200) SERVER r37srv;
ALTER PUBLICATION r37pub RENAME TO r37pub_old;
DROP PUBLICATION r37pub_old;
REFRESH MATERIALIZED VIEW r37o.mv WITH NO DATA;
CREATE STATISTICS r37o.st_expr ON (a + 1), id FROM r37o.t;
ALTER TABLE r37o.t ALTER COLUMN b SET STORAGE PLAIN;
SELECT setval('r37o.seq', 100) AS set_by_human;
DROP USER MAPPING FOR regress_tagged SERVER r37srv;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id, agent_id, kind, status, left(statement, 60) AS statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT ok FROM agent_guard.verify_log();
DROP SCHEMA r37o CASCADE;
DROP SERVER r37srv CASCADE;
DROP FOREIGN DATA WRAPPER r37fdw;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_tagged;
