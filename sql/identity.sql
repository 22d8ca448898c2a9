--
-- identity: who is an agent, and it stays one
--
CREATE ROLE regress_bot LOGIN;
CREATE ROLE regress_bot2 LOGIN;
CREATE ROLE regress_human LOGIN;
CREATE ROLE regress_tagged LOGIN;
CREATE ROLE regress_su LOGIN SUPERUSER;
GRANT regress_human TO regress_bot;   -- lets the agent SET ROLE regress_human

-- a human session is no agent
SELECT agent_guard.in_agent_session(), agent_guard.current_agent(), agent_guard.current_run();

-- error: superusers cannot be registered
SELECT agent_guard.register_agent('regress_su');
-- error: roles that could switch the guard off cannot be registered
CREATE ROLE regress_maker LOGIN CREATEROLE;
CREATE ROLE regress_bypass LOGIN BYPASSRLS;
CREATE ROLE regress_admins SUPERUSER;
CREATE ROLE regress_member LOGIN IN ROLE regress_admins;
CREATE ROLE regress_shell LOGIN IN ROLE pg_execute_server_program;
SELECT agent_guard.register_agent('regress_maker');
SELECT agent_guard.register_agent('regress_bypass');
SELECT agent_guard.register_agent('regress_member');
SELECT agent_guard.register_agent('regress_shell');
-- error: nor can such a role be tagged as an agent
\c "dbname=contrib_regression user=regress_member options=-cagent_guard.agent_id=claude-code"
SELECT 1;
\c "dbname=contrib_regression user=regress_su options="
-- error: null role
SELECT agent_guard.register_agent(NULL);
-- error: bad agent ids
SELECT agent_guard.register_agent('regress_bot', '');
SELECT agent_guard.register_agent('regress_bot', E'bad\nid');
SELECT agent_guard.register_agent('regress_bot', repeat('x', 201));

SELECT agent_guard.register_agent('regress_bot');
SELECT agent_guard.register_agent('regress_bot2', 'deploy-bot');
-- registering again updates the agent id
SELECT agent_guard.register_agent('regress_bot2', 'deploy-agent');
SELECT role, agent_id FROM agent_guard.agents;

-- a registered login role is an agent from its first statement
\c "dbname=contrib_regression user=regress_bot options="
SELECT agent_guard.in_agent_session(), agent_guard.current_agent();
SELECT agent_guard.current_run() ~ '^run-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$' AS generated_run;

-- error: the agent cannot change its identity
SET agent_guard.agent_id = 'someone-else';
-- error: nor clear it
SET agent_guard.agent_id = '';
SELECT set_config('agent_guard.agent_id', 'someone-else', false);
-- setting it to what it already is, is fine
SET agent_guard.agent_id = 'regress_bot';
-- RESET, RESET ALL, DISCARD ALL, SET ROLE: still the same agent
RESET agent_guard.agent_id;
SELECT agent_guard.current_agent();
RESET ALL;
SELECT agent_guard.current_agent();
DISCARD ALL;
SELECT agent_guard.current_agent();
SET ROLE regress_human;
SELECT current_user, agent_guard.current_agent();
RESET ROLE;
-- error: a DO block that becomes a superuser role is stopped at its next statement
\c "dbname=contrib_regression user=regress_su options="
GRANT regress_admins TO regress_bot;
\c "dbname=contrib_regression user=regress_bot options="
DO $$ BEGIN SET ROLE regress_admins; DELETE FROM agent_guard.registered_agents; END $$;
\c "dbname=contrib_regression user=regress_su options="
REVOKE regress_admins FROM regress_bot;
SELECT count(*) AS still_registered FROM agent_guard.registered_agents;
\c "dbname=contrib_regression user=regress_bot options="
-- error: only superusers may SET SESSION AUTHORIZATION
SET SESSION AUTHORIZATION regress_human;
SELECT agent_guard.current_agent();

-- error: the agent cannot read or change the registry (no privilege at all)
SELECT * FROM agent_guard.agents;
SELECT * FROM agent_guard.registered_agents;
DELETE FROM agent_guard.registered_agents;
SELECT agent_guard.unregister_agent('regress_bot');

-- a second registered role gets its registered agent id
\c "dbname=contrib_regression user=regress_bot2 options="
SELECT agent_guard.current_agent();

-- a harness tag on an unregistered role makes an agent session
\c "dbname=contrib_regression user=regress_tagged options=-cagent_guard.agent_id=claude-code"
SELECT agent_guard.in_agent_session(), agent_guard.current_agent();
RESET agent_guard.agent_id;
DISCARD ALL;
SELECT agent_guard.current_agent();
-- error: tagged sessions cannot switch agents either
SET agent_guard.agent_id = 'codex';

-- tagging at any time latches, even inside one statement
\c "dbname=contrib_regression user=regress_tagged options="
SELECT agent_guard.in_agent_session();
SELECT set_config('agent_guard.agent_id', 'sneaky', false) AS tagged,
       set_config('agent_guard.agent_id', '', false) AS untagged;
-- the statement failed: its transaction, and the tag set in it, are gone
SELECT agent_guard.current_agent();
-- a session-level SET latches for the server process's life
SELECT set_config('agent_guard.agent_id', 'sneaky', false);
RESET agent_guard.agent_id;
DISCARD ALL;
SELECT agent_guard.current_agent(), current_setting('agent_guard.agent_id') AS setting;
-- error: as any session tag
SET agent_guard.agent_id = 'codex';
BEGIN;
SET LOCAL agent_guard.agent_id = 'codex';
ROLLBACK;

-- error: a registered role tagged as another agent is refused
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.agent_id=claude-code"
SELECT agent_guard.current_agent();
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.agent_id=regress_bot"
SELECT agent_guard.current_agent();

-- error: a superuser session tagged as an agent is refused at every statement
\c "dbname=contrib_regression user=regress_su options=-cagent_guard.agent_id=claude-code"
SELECT 1;
SELECT agent_guard.current_agent();
-- transaction control still works, so the session can end cleanly
BEGIN;
ROLLBACK;

-- error: a superuser who becomes a registered role and back is refused too
\c "dbname=contrib_regression user=regress_su options="
SET SESSION AUTHORIZATION regress_bot;
SELECT current_user, agent_guard.current_agent();
RESET SESSION AUTHORIZATION;
SELECT 1;

-- run ids: the harness label; a transaction's run is fixed at its first write
-- (sql/scopes.sql)
\c "dbname=contrib_regression user=regress_bot options="
SET agent_guard.run_id = 'run-A';
SELECT agent_guard.current_run();
SET agent_guard.run_id = 'run-B';
SELECT agent_guard.current_run();
-- error: run ids with control characters or over 200 bytes
SET agent_guard.run_id = E'run\tC';
SELECT set_config('agent_guard.run_id', repeat('r', 201), false);
SELECT agent_guard.current_run();

-- a human sees no run
\c "dbname=contrib_regression user=regress_human options="
SELECT agent_guard.current_run();

-- unregistering stops new sessions from being agents
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unregister_agent('regress_bot2');
SELECT agent_guard.unregister_agent('regress_bot2');
\c "dbname=contrib_regression user=regress_bot2 options="
SELECT agent_guard.in_agent_session();
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.register_agent('regress_bot2', 'deploy-agent');

-- the registry changes are on record
SELECT operation, detail FROM agent_guard.events
 WHERE operation IN ('REGISTER', 'UNREGISTER') ORDER BY event_id;
