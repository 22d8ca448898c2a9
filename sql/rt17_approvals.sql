--
-- rt17_approvals: red team 17a's findings on approvals.
--  F4: a utility statement's expressions are bound to what their names can
--      resolve to: an approved ALTER COLUMN ... TYPE ... USING f(x) is a new
--      request after the agent replaces f; so is an approved ADD CONSTRAINT
--      CHECK after the agent makes its operator again over another function,
--      an approved ADD COLUMN ... DEFAULT f() after f is replaced, and an
--      unqualified f() after a function of that name is added earlier on
--      the search_path.  Put back as it was, the same statement is admitted
--      once (an operator made again is another operator: approved anew).
--  F7: an approval is for the login role that made the request: another
--      login tagged with the same id gets a new request, the asking login's
--      retry is admitted.
--  F6: deny() withdraws an approval not used yet.
-- (F5 and deny's not waiting: isolation spec rt17_approval_clock.)
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
ALTER ROLE regress_bot SET agent_guard.max_rows_per_run = -1;
CREATE SCHEMA rt17 AUTHORIZATION regress_bot;
CREATE SCHEMA rt17_shadow AUTHORIZATION regress_bot;
CREATE SCHEMA rt17_app AUTHORIZATION regress_human;
GRANT USAGE ON SCHEMA rt17_app TO regress_bot, regress_tagged;
CREATE FUNCTION rt17.pending(run text) RETURNS bigint LANGUAGE sql AS $$
  SELECT max(request_id) FROM agent_guard.requests WHERE run_id = run AND status = 'pending'
$$;
SET ROLE regress_bot;
CREATE TABLE rt17.wallet (id int PRIMARY KEY, amount int);
CREATE FUNCTION rt17.conv(int) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT $1::bigint';
CREATE FUNCTION rt17.fill() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 7';
CREATE OPERATOR rt17.>>> (LEFTARG = int, RIGHTARG = int, FUNCTION = int4ge);
RESET ROLE;
SELECT agent_guard.protect('rt17.wallet');
-- the humans' amounts
INSERT INTO rt17.wallet SELECT g, g * 100 FROM generate_series(1, 5) g;

-- F4, 1. ALTER COLUMN ... TYPE ... USING a function the agent replaces
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt17-1"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: it changes a column's type (YG003)
ALTER TABLE rt17.wallet ALTER COLUMN amount TYPE bigint USING rt17.conv(amount);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT rt17.pending('run-rt17-1') AS req_using \gset
SELECT status FROM agent_guard.approve(:req_using, 'conv is the identity');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt17-2"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE OR REPLACE FUNCTION rt17.conv(int) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT 0::bigint';
-- error: another function, a new request (YG003)
ALTER TABLE rt17.wallet ALTER COLUMN amount TYPE bigint USING rt17.conv(amount);
SELECT sum(amount) AS amounts_kept, pg_typeof(min(amount)) FROM rt17.wallet;
-- a function of the name added earlier on the search_path: a new request too
CREATE OR REPLACE FUNCTION rt17.conv(int) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT $1::bigint';
CREATE FUNCTION rt17_shadow.conv(int) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT 0::bigint';
SET search_path = rt17_shadow, rt17;
-- error: unqualified, the approval was for rt17.conv (YG003)
ALTER TABLE rt17.wallet ALTER COLUMN amount TYPE bigint USING conv(amount);
RESET search_path;
DROP FUNCTION rt17_shadow.conv(int);
SELECT sum(amount) AS amounts_kept FROM rt17.wallet;
-- as it was when approved: admitted, once
ALTER TABLE rt17.wallet ALTER COLUMN amount TYPE bigint USING rt17.conv(amount);
SELECT sum(amount) AS amounts_kept, pg_typeof(min(amount)) FROM rt17.wallet;
-- error: used (YG003)
ALTER TABLE rt17.wallet ALTER COLUMN amount TYPE bigint USING rt17.conv(amount);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.requests WHERE request_id = :req_using;
SELECT count(*) AS new_requests FROM agent_guard.requests
 WHERE run_id = 'run-rt17-2' AND status = 'pending' AND statement LIKE 'ALTER TABLE rt17.wallet%';

-- F4, 2. ADD CONSTRAINT CHECK with the agent's operator, made again
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt17-3"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: a CHECK that could refuse humans' writes (YG003)
ALTER TABLE rt17.wallet ADD CONSTRAINT positive CHECK (id OPERATOR(rt17.>>>) 0);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT rt17.pending('run-rt17-3') AS req_check \gset
SELECT status FROM agent_guard.approve(:req_check, 'ids are never negative');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt17-4"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
DROP OPERATOR rt17.>>> (int, int);
CREATE OPERATOR rt17.>>> (LEFTARG = int, RIGHTARG = int, FUNCTION = int4lt);
-- error: another operator, a new request (YG003)
ALTER TABLE rt17.wallet ADD CONSTRAINT positive CHECK (id OPERATOR(rt17.>>>) 0);
SELECT count(*) AS checks FROM pg_constraint WHERE conrelid = 'rt17.wallet'::regclass AND contype = 'c';
DROP OPERATOR rt17.>>> (int, int);
CREATE OPERATOR rt17.>>> (LEFTARG = int, RIGHTARG = int, FUNCTION = int4ge);
-- error: made again over int4ge, it is still another operator (YG003)
ALTER TABLE rt17.wallet ADD CONSTRAINT positive CHECK (id OPERATOR(rt17.>>>) 0);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT rt17.pending('run-rt17-4') AS req_check2 \gset
SELECT status FROM agent_guard.approve(:req_check2, 'over int4ge again');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt17-4"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- nothing changed since: admitted
ALTER TABLE rt17.wallet ADD CONSTRAINT positive CHECK (id OPERATOR(rt17.>>>) 0);
SELECT count(*) AS checks FROM pg_constraint WHERE conrelid = 'rt17.wallet'::regclass AND contype = 'c';

-- F4, 3. ADD COLUMN ... DEFAULT: a default's function replaced
-- error: a NOT NULL column with a default is a constraint on humans' writes (YG003)
ALTER TABLE rt17.wallet ADD COLUMN fee int NOT NULL DEFAULT rt17.fill();
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT rt17.pending('run-rt17-4') AS req_default \gset
SELECT status FROM agent_guard.approve(:req_default, 'a fee of 7');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt17-5"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE OR REPLACE FUNCTION rt17.fill() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT -1';
-- error: another function, a new request (YG003)
ALTER TABLE rt17.wallet ADD COLUMN fee int NOT NULL DEFAULT rt17.fill();
SELECT count(*) AS fee_columns FROM pg_attribute WHERE attrelid = 'rt17.wallet'::regclass AND attname = 'fee';
CREATE OR REPLACE FUNCTION rt17.fill() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 7';
-- as it was: admitted
ALTER TABLE rt17.wallet ADD COLUMN fee int NOT NULL DEFAULT rt17.fill();
SELECT sum(fee) AS fees FROM rt17.wallet;

-- F7. Another login tagged with the agent's id
\c "dbname=contrib_regression user=regress_su options="
SET ROLE regress_human;
CREATE TABLE rt17_app.notes (id int PRIMARY KEY, note text);
INSERT INTO rt17_app.notes SELECT g, 'n' || g FROM generate_series(1, 5) g;
GRANT SELECT, UPDATE ON rt17_app.notes TO regress_bot, regress_tagged;
RESET ROLE;
SELECT agent_guard.protect('rt17_app.notes');
-- A role that is not registered cannot claim a registered agent's id (YG001)
\c "dbname=contrib_regression user=regress_tagged options='-cagent_guard.agent_id=regress_bot -cagent_guard.run_id=run-rt17-6'"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SELECT agent_guard.current_agent();
-- Shared logins (a pooler's roles) tag themselves with the same unregistered
-- id: an approval the first login asked for is not the second login's
\c "dbname=contrib_regression user=regress_tagged options='-cagent_guard.agent_id=rt17-shared -cagent_guard.run_id=run-rt17-6'"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: no WHERE clause (YG003)
UPDATE rt17_app.notes SET note = note || '.';
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT rt17.pending('run-rt17-6') AS req_login \gset
SELECT status, login_role FROM agent_guard.approve(:req_login, 'a dot for each');
\c "dbname=contrib_regression user=regress_human options='-cagent_guard.agent_id=rt17-shared -cagent_guard.run_id=run-rt17-6'"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SELECT agent_guard.current_agent();
-- error: another login, a new request (YG003)
UPDATE rt17_app.notes SET note = note || '.';
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.requests WHERE request_id = :req_login;
SELECT login_role, status FROM agent_guard.requests
 WHERE run_id = 'run-rt17-6' AND request_id > :req_login;
SELECT count(*) AS dotted FROM rt17_app.notes WHERE note LIKE '%.';
-- the login that asked: admitted
\c "dbname=contrib_regression user=regress_tagged options='-cagent_guard.agent_id=rt17-shared -cagent_guard.run_id=run-rt17-6'"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
UPDATE rt17_app.notes SET note = note || '.';
SELECT count(*) AS dotted FROM rt17_app.notes WHERE note LIKE '%.';

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt17-6"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- F6. deny() withdraws an approval not used yet
-- error: no WHERE clause (YG003)
UPDATE rt17_app.notes SET note = 'x';
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT max(request_id) AS req_revoke FROM agent_guard.requests
 WHERE run_id = 'run-rt17-6' AND statement = 'UPDATE rt17_app.notes SET note = ''x''' \gset
SELECT status FROM agent_guard.approve(:req_revoke, 'fine');
SELECT status, note FROM agent_guard.deny(:req_revoke, 'on second thought');
SELECT operation, detail->>'revoked' AS revoked FROM agent_guard.events
 WHERE detail->>'request_id' = :'req_revoke' ORDER BY event_id;
-- error: it is denied now
SELECT status FROM agent_guard.approve(:req_revoke, 'again');
-- error: a used one cannot be withdrawn
SELECT status FROM agent_guard.deny(:req_login);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt17-6"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: the approval is withdrawn (YG003)
UPDATE rt17_app.notes SET note = 'x';
SELECT count(*) AS overwritten FROM rt17_app.notes WHERE note = 'x';

\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_run;
