--
-- rt28_pooled: red team 28b's finding on SET LOCAL tagging.
-- F1: a transaction tagged with SET LOCAL agent_guard.agent_id left
-- temporary objects other than relations, types and functions in the
-- session (a statistics object, a conversion, an operator class or
-- family, ...), which then acted in the next client's session on the same
-- server process.  Every CREATE that takes a schema is refused (YG004)
-- when it would put its object in pg_temp: pg_temp.x, pg_temp_N.x, or an
-- unqualified name under a search_path that starts with pg_temp; and the
-- COMMIT backstop refuses a transaction that created or changed a row in
-- the session's temporary schema of any catalog with a namespace column.
-- The human's side: the same objects in pg_temp are still the human's to
-- make, and the agent cannot change them.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 980000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
-- the catalogs with a namespace column: pooled.c's temp_catalogs[] lists
-- them all (a new one here belongs there)
SELECT fktable, fkcols FROM pg_get_catalog_foreign_keys()
 WHERE pktable = 'pg_namespace'::regclass ORDER BY fktable::text;
CREATE SCHEMA r28p AUTHORIZATION regress_tagged;
CREATE TABLE r28p.t (a int, b int);
ALTER TABLE r28p.t OWNER TO regress_tagged;
CREATE FOREIGN DATA WRAPPER r28p_fdw;
CREATE SERVER r28p_srv FOREIGN DATA WRAPPER r28p_fdw;
GRANT USAGE ON FOREIGN SERVER r28p_srv TO regress_tagged;
-- the tagged transactions' kinds, in one place
CREATE FUNCTION r28p.temp_objects() RETURNS TABLE (kind text, n bigint)
LANGUAGE sql STABLE AS $$
    SELECT 'pg_class', count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_type', count(*) FROM pg_type WHERE typnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_proc', count(*) FROM pg_proc WHERE pronamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_operator', count(*) FROM pg_operator WHERE oprnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_opclass', count(*) FROM pg_opclass WHERE opcnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_opfamily', count(*) FROM pg_opfamily WHERE opfnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_conversion', count(*) FROM pg_conversion WHERE connamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_constraint', count(*) FROM pg_constraint WHERE connamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_collation', count(*) FROM pg_collation WHERE collnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_statistic_ext', count(*) FROM pg_statistic_ext WHERE stxnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_ts_config', count(*) FROM pg_ts_config WHERE cfgnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_ts_dict', count(*) FROM pg_ts_dict WHERE dictnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_ts_parser', count(*) FROM pg_ts_parser WHERE prsnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_ts_template', count(*) FROM pg_ts_template WHERE tmplnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_extension', count(*) FROM pg_extension WHERE extnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_default_acl', count(*) FROM pg_default_acl WHERE defaclnamespace = pg_my_temp_schema()
    UNION ALL SELECT 'pg_publication_namespace', count(*) FROM pg_publication_namespace WHERE pnnspid = pg_my_temp_schema()
$$;
-- a statistics object without a name (PostgreSQL 16 and later; 15 names it)
CREATE FUNCTION r28p.unnamed_stats() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('server_version_num')::int >= 160000 THEN
        EXECUTE 'CREATE STATISTICS ON a, b FROM human_tmp';
    ELSE
        EXECUTE 'CREATE STATISTICS pg_temp.human_tmp_a_b_stat ON a, b FROM human_tmp';
    END IF;
END $$;
GRANT USAGE ON SCHEMA r28p TO PUBLIC;

-- F1, the agent's side: one server process throughout, as behind a
-- transaction pooler; the human of the shared role has a temporary table
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE TEMP TABLE human_tmp (a int, b int);
\set VERBOSITY sqlstate
-- pg_temp.x
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE STATISTICS pg_temp.s ON a, b FROM r28p.t;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE CONVERSION pg_temp.cv FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE OPERATOR CLASS pg_temp.oc FOR TYPE int USING btree AS OPERATOR 1 <, FUNCTION 1 btint4cmp(int, int);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE OPERATOR FAMILY pg_temp.ofam USING btree;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE COLLATION pg_temp.co (locale = 'C');
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE TEXT SEARCH DICTIONARY pg_temp.dict (TEMPLATE = simple);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE TEXT SEARCH CONFIGURATION pg_temp.cfg (COPY = english);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE TEXT SEARCH TEMPLATE pg_temp.tmpl (LEXIZE = dsimple_lexize);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE TEXT SEARCH PARSER pg_temp.prs (START = prsd_start, GETTOKEN = prsd_nexttoken, END = prsd_end, LEXTYPES = prsd_lextype);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE OPERATOR pg_temp.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE AGGREGATE pg_temp.agg(int) (SFUNC = int4pl, STYPE = int);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE DOMAIN pg_temp.dom AS int CHECK (VALUE > 0);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE TYPE pg_temp.shell;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE FOREIGN TABLE pg_temp.ft (a int) SERVER r28p_srv;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
IMPORT FOREIGN SCHEMA remote FROM SERVER r28p_srv INTO pg_temp;
ROLLBACK;
-- a statistics object without a name (PostgreSQL 16 and later) goes into
-- its table's schema: the human's temporary table's
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SELECT r28p.unnamed_stats();
ROLLBACK;
-- pg_temp_N, by its name
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DO $$ BEGIN EXECUTE format('CREATE STATISTICS %I.s ON a, b FROM r28p.t', pg_my_temp_schema()::regnamespace); END $$;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DO $$ BEGIN EXECUTE format('CREATE CONVERSION %I.cv FOR ''LATIN1'' TO ''UTF8'' FROM iso8859_1_to_utf8', pg_my_temp_schema()::regnamespace); END $$;
ROLLBACK;
-- (default privileges in any schema: refused since red team 25, F2)
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DO $$ BEGIN EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO PUBLIC', pg_my_temp_schema()::regnamespace); END $$;
ROLLBACK;
-- an unqualified name under a search_path that starts with pg_temp (an
-- unusable schema before it does not count)
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET LOCAL search_path = pg_temp, r28p;
CREATE STATISTICS s ON a, b FROM r28p.t;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET LOCAL search_path = pg_temp, r28p;
CREATE CONVERSION cv FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET LOCAL search_path = nosuch, pg_temp, r28p;
CREATE COLLATION co (locale = 'C');
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET LOCAL search_path = pg_temp, r28p;
CREATE OPERATOR FAMILY ofam USING btree;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET LOCAL search_path = pg_temp, r28p;
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET LOCAL search_path = pg_temp, r28p;
CREATE TABLE tt (a int);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET LOCAL search_path = pg_temp, r28p;
CREATE SEQUENCE sq;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET LOCAL search_path = pg_temp, r28p;
CREATE TYPE ty AS (a int);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET LOCAL search_path = pg_temp, r28p;
CREATE TEXT SEARCH DICTIONARY dict (TEMPLATE = simple);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET LOCAL search_path = pg_temp, r28p;
CREATE FOREIGN TABLE ft (a int) SERVER r28p_srv;
ROLLBACK;
-- from code, and in an implicit transaction
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DO $$ BEGIN EXECUTE 'CREATE STATISTICS pg_temp.s ON a, b FROM r28p.t'; END $$;
ROLLBACK;
SET LOCAL agent_guard.agent_id = 'pooled-bot' \; CREATE STATISTICS pg_temp.s ON a, b FROM r28p.t;
SET LOCAL agent_guard.agent_id = 'pooled-bot' \; SET LOCAL search_path = pg_temp, r28p \; CREATE CONVERSION cv FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
\set VERBOSITY default
-- the next untagged statement of the process finds none of it (the
-- human's table only)
SELECT kind, n FROM r28p.temp_objects() WHERE n > 0;
-- still allowed: the same objects outside pg_temp, also when pg_temp is
-- on search_path after a schema the agent can create in
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE STATISTICS r28p.s_agent ON a, b FROM r28p.t;
CREATE CONVERSION r28p.cv_agent FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
SET LOCAL search_path = r28p, pg_temp;
CREATE COLLATION co_agent (locale = 'C');
CREATE STATISTICS s_agent2 ON a, b FROM r28p.t;
COMMIT;
SELECT stxname FROM pg_statistic_ext WHERE stxnamespace = 'r28p'::regnamespace ORDER BY 1;
SELECT conname FROM pg_conversion WHERE connamespace = 'r28p'::regnamespace;
SELECT collname FROM pg_collation WHERE collnamespace = 'r28p'::regnamespace;
-- the message
\set VERBOSITY default
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE STATISTICS pg_temp.s ON a, b FROM r28p.t;
ROLLBACK;

-- F1, the human's side: the human of the shared role makes each kind in
-- pg_temp (a superuser the operator class and family, the text search
-- template and parser)
CREATE STATISTICS pg_temp.s_h ON a, b FROM r28p.t;
SELECT r28p.unnamed_stats();
CREATE CONVERSION pg_temp.cv_h FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
CREATE COLLATION pg_temp.co_h (locale = 'C');
CREATE TEXT SEARCH DICTIONARY pg_temp.dict_h (TEMPLATE = simple);
CREATE TEXT SEARCH CONFIGURATION pg_temp.cfg_h (COPY = english);
CREATE OPERATOR pg_temp.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq);
CREATE AGGREGATE pg_temp.agg_h(int) (SFUNC = int4pl, STYPE = int);
CREATE DOMAIN pg_temp.dom_h AS int CHECK (VALUE > 0);
CREATE FOREIGN TABLE pg_temp.ft_h (a int) SERVER r28p_srv;
DO $$ BEGIN EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO PUBLIC', pg_my_temp_schema()::regnamespace); END $$;
SET search_path = pg_temp, r28p;
CREATE STATISTICS s_h2 ON a, b FROM r28p.t;
RESET search_path;
SELECT kind, n FROM r28p.temp_objects() WHERE n > 0;
-- the agent cannot change them either: what the statements let through
-- (a rename, a new owner) the COMMIT refuses
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER STATISTICS pg_temp.s_h RENAME TO s_agent;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER STATISTICS pg_temp.s_h SET STATISTICS 0;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER CONVERSION pg_temp.cv_h RENAME TO cv_agent;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER COLLATION pg_temp.co_h RENAME TO co_agent;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER TEXT SEARCH DICTIONARY pg_temp.dict_h (StopWords = english);
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER TEXT SEARCH CONFIGURATION pg_temp.cfg_h RENAME TO cfg_agent;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER OPERATOR pg_temp.=== (int, int) SET (RESTRICT = eqsel);
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER DOMAIN pg_temp.dom_h RENAME CONSTRAINT dom_h_check TO agent_check;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SAVEPOINT a;
ALTER STATISTICS pg_temp.s_h RENAME TO s_agent;
RELEASE a;
COMMIT;
-- nor drop them (they are another client's, as what DISCARD TEMP drops);
-- a drop rolled back to a savepoint is no drop
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DROP STATISTICS pg_temp.s_h;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DROP CONVERSION pg_temp.cv_h;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DROP TEXT SEARCH CONFIGURATION pg_temp.cfg_h;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DROP TABLE pg_temp.human_tmp CASCADE;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SAVEPOINT a;
DROP STATISTICS pg_temp.s_h;
ROLLBACK TO a;
SELECT count(*) FROM r28p.t;
COMMIT;
\set VERBOSITY default
SELECT stxname FROM pg_statistic_ext WHERE stxnamespace = pg_my_temp_schema() ORDER BY 1;
SELECT stxstattarget IS DISTINCT FROM 0 AS target_kept FROM pg_statistic_ext WHERE stxname = 's_h';
SELECT conname FROM pg_conversion WHERE connamespace = pg_my_temp_schema();
SELECT collname FROM pg_collation WHERE collnamespace = pg_my_temp_schema();
SELECT dictinitoption FROM pg_ts_dict WHERE dictnamespace = pg_my_temp_schema();
SELECT cfgname FROM pg_ts_config WHERE cfgnamespace = pg_my_temp_schema();
SELECT oprrest FROM pg_operator WHERE oprnamespace = pg_my_temp_schema();
SELECT conname FROM pg_constraint WHERE connamespace = pg_my_temp_schema();
SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r' ORDER BY 1;
-- the human changes and drops its own
ALTER STATISTICS pg_temp.s_h RENAME TO s_h1;
DROP STATISTICS pg_temp.s_h1, pg_temp.s_h2;
DROP CONVERSION pg_temp.cv_h;
DISCARD TEMP;
SELECT kind, n FROM r28p.temp_objects() WHERE n > 0;
-- a superuser human: operator class and family, text search template and parser
\c "dbname=contrib_regression user=regress_su options="
CREATE OPERATOR FAMILY pg_temp.ofam_h USING btree;
CREATE OPERATOR CLASS pg_temp.oc_h FOR TYPE int USING btree FAMILY pg_temp.ofam_h AS OPERATOR 1 <, FUNCTION 1 btint4cmp(int, int);
CREATE TEXT SEARCH TEMPLATE pg_temp.tmpl_h (LEXIZE = dsimple_lexize);
CREATE TEXT SEARCH PARSER pg_temp.prs_h (START = prsd_start, GETTOKEN = prsd_nexttoken, END = prsd_end, LEXTYPES = prsd_lextype);
SELECT kind, n FROM r28p.temp_objects() WHERE n > 0;
DISCARD TEMP;

-- the refusals are on record, the log intact
SELECT agent_guard._flush_requests();
-- (the temporary schema's number masked; the statistics object on the
-- human's table printed as PostgreSQL 16 and later name it)
SELECT request_id, agent_id, kind, status,
       left(regexp_replace(regexp_replace(statement, 'pg_temp_[0-9]+', 'pg_temp_N'),
                           'STATISTICS pg_temp.human_tmp_a_b_stat ON', 'STATISTICS ON'), 70) AS statement
  FROM agent_guard.request_log WHERE request_id > :req_before ORDER BY request_id;
SELECT DISTINCT regexp_replace(reason, '[0-9]+', 'N', 'g') AS reason FROM agent_guard.request_log
 WHERE request_id > :req_before AND statement = 'COMMIT' ORDER BY 1;
SELECT ok FROM agent_guard.verify_log();
DROP SCHEMA r28p CASCADE;
DROP SERVER r28p_srv;
DROP FOREIGN DATA WRAPPER r28p_fdw;
