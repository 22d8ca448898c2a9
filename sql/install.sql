--
-- install: CREATE EXTENSION, its objects, and its settings
--
-- error: a schema named agent_guard that someone else made first
CREATE SCHEMA agent_guard;
CREATE EXTENSION agent_guard;
DROP SCHEMA agent_guard;

CREATE EXTENSION agent_guard;
SELECT extversion, extrelocatable FROM pg_extension WHERE extname = 'agent_guard';

-- what the extension installs
SELECT c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'agent_guard' AND c.relkind IN ('r', 'v')
 ORDER BY 1;
SELECT p.oid::regprocedure AS function
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'agent_guard' AND p.proname NOT LIKE '\_%'
 ORDER BY p.proname, p.pronargs;

-- settings; a typo in our prefix is an error, not a silent placeholder
SELECT name, setting, context FROM pg_settings WHERE name LIKE 'agent_guard.%' ORDER BY 1;
-- error: unknown agent_guard setting
SET agent_guard.agnet_id = 'x';

-- no public objects, no privileges for PUBLIC beyond the self questions
SELECT count(*) AS public_objects FROM pg_depend d
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'agent_guard'
  JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
 WHERE c.relnamespace = 'public'::regnamespace;
SELECT p.proname FROM pg_proc p
 WHERE p.pronamespace = 'agent_guard'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;

-- loading the library into a running session again is harmless (already loaded)
LOAD 'agent_guard';

-- drop and create again: nothing left behind
DROP EXTENSION agent_guard;
SELECT count(*) FROM pg_namespace WHERE nspname = 'agent_guard';
CREATE EXTENSION agent_guard;
