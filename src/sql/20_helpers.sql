------------------------------------------------------------------------
-- Internal helpers
------------------------------------------------------------------------

-- Refuses while code of an agent runs in this (human's) session, or while
-- an executing statement involves a relation of an agent (src/agentcode.c).
CREATE FUNCTION agent_guard._refuse_agent_code(fn text) RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_refuse_agent_code'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- Refuses an agent's session (YG002), on record as every refusal is: a
-- request of kind refused and its BLOCKED event (src/refusal.c).
CREATE FUNCTION agent_guard._refuse_humans_only(fn text) RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_refuse_humans_only'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION agent_guard._require_human(fn text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._refuse_humans_only(fn);
    -- nor by an agent's code in a human's session, with the human's rights
    PERFORM agent_guard._refuse_agent_code(fn);
END
$$;

CREATE FUNCTION agent_guard._log(operation text, relation text, detail jsonb) RETURNS void
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO agent_guard.events (login_role, acting_role, relation, operation, detail)
    VALUES (session_user, agent_guard.calling_role()::text, relation, operation, detail);
$$;

CREATE FUNCTION agent_guard._check_id(value text, what text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value = '' OR length(value) > 200 OR value ~ '[\x01-\x1f\x7f]' THEN
        RAISE EXCEPTION 'invalid % "%"', what, left(value, 64)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('An %s must be 1 to 200 characters long, without control characters.', what);
    END IF;
END
$$;

-- Drop our triggers from a table (cloned partition triggers go with them;
-- the TRUNCATE statement trigger is created on each partition, see protect).
CREATE FUNCTION agent_guard._drop_triggers(relation regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_trig record;
BEGIN
    FOR v_trig IN SELECT t.tgname, t.tgrelid::regclass AS rel FROM pg_trigger t
                   WHERE (t.tgrelid = relation
                          OR t.tgrelid IN (SELECT p.relid FROM pg_partition_tree(relation) p))
                     AND t.tgparentid = 0
                     AND t.tgname IN ('zz_agent_guard_stamp', 'zz_agent_guard_capture',
                                      'zz_agent_guard_truncate')
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', v_trig.tgname, v_trig.rel);
    END LOOP;
END
$$;


-- The row work of the functions a human calls on user tables (soft_deleted,
-- restore, purge, rollback) runs through this: the statement runs as the
-- table's owner in a security-restricted operation with search_path pinned
-- (src/rowwork.c), never as the extension owner, so that no trigger, check,
-- cast or operator of the table's owner runs with more rights than theirs.
CREATE FUNCTION agent_guard._owner_query(relation regclass, query text, arg jsonb DEFAULT NULL)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ag_sql_owner_query'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION agent_guard._owner_query(regclass, text, jsonb) IS
    'internal: run a statement on a user table as its owner in a security-restricted operation';

-- The same for purge()'s DELETE: the stamp trigger refuses an update of a
-- live row an agent wrote while it runs (YG050; src/rowwork.c).
CREATE FUNCTION agent_guard._owner_purge(relation regclass, query text, arg jsonb DEFAULT NULL)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ag_sql_owner_purge'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION agent_guard._owner_purge(regclass, text, jsonb) IS
    'internal: purge()''s delete as the table''s owner, refusing updates of live rows agents wrote';

-- The relation's own rows in a statement of the guard's: "ONLY t".  Its
-- inheritance children's rows show in it too, and an UPDATE or DELETE of it
-- writes them: a row of another table (one an agent made) with the same key
-- is not the logged row (red team 28a, F3).  A partitioned table's rows are
-- its partitions' (no plain child can inherit from it or from a partition).
CREATE FUNCTION agent_guard._only(relation regclass) RETURNS text
    LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN c.relkind = 'p' THEN '' ELSE 'ONLY ' END || relation::text
      FROM pg_class c WHERE c.oid = relation
$$;
COMMENT ON FUNCTION agent_guard._only(regclass) IS
    'internal: a table''s own rows in a statement (ONLY, but for a partitioned table)';

-- A row's image as the row trigger logs it: to_jsonb() of the row, with
-- the text of any column whose to_jsonb() would drop part of its value (an
-- array's lower bounds, a float's -0) or read it as JSON or through a cast
-- (json, hstore, a type with a cast to json; those are marked under the
-- key "": src/rowimage.c).  The rollback
-- compares the rows it reads and writes with the logged images through
-- it, inside the table owner's statements (agent_guard._owner_query),
-- under the output settings the images print with.
CREATE FUNCTION agent_guard._row_image(row_ anyelement) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ag_sql_row_image'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION agent_guard._row_image(anyelement) IS
    'internal: a row''s image as the row trigger logs it (to_jsonb(), values it would print inexactly, read as JSON or through a cast as text)';

-- The same image in the form of a logged one (form): the form images had
-- before the marks (src/rowimage.c) when form is an image without them,
-- written by a version before them, so that the rollback compares a row
-- with such an image as it was written (and, for those rows only, through
-- the type's cast to json, as that version did).
CREATE FUNCTION agent_guard._row_image(row_ anyelement, form jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ag_sql_row_image'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION agent_guard._row_image(anyelement, jsonb) IS
    'internal: a row''s image in the form of a logged image (without marks: as images were before them)';
