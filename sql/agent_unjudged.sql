--
-- agent_unjudged: what a role stored before it was registered as an agent,
-- or a human gave it, was not judged when it was stored.  register_agent()
-- looks at what the role owns and warns of each object an agent may not
-- store (the same judgement as when an agent stores it: a call of another
-- role's SECURITY INVOKER function in a view, rule, default, CHECK, policy,
-- trigger WHEN or index; a trigger whose function is not the agent's; a
-- domain calling what acts with its caller's rights).  Registration
-- succeeds; a clean role gets no warning.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_late LOGIN;
CREATE ROLE regress_late_many LOGIN;
CREATE ROLE regress_late_clean LOGIN;
CREATE SCHEMA ul;                                   -- the humans'
GRANT USAGE ON SCHEMA ul TO PUBLIC;
CREATE FUNCTION ul.inv(v int) RETURNS int LANGUAGE sql AS 'SELECT v';
CREATE FUNCTION ul.def(v int) RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT v';
CREATE FUNCTION ul.trg() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE SCHEMA ulb AUTHORIZATION regress_late;
CREATE SCHEMA ulm AUTHORIZATION regress_late_many;
CREATE SCHEMA ulc AUTHORIZATION regress_late_clean;

-- not yet agents: nothing is judged
\c "dbname=contrib_regression user=regress_late options="
SELECT agent_guard.in_agent_session();
CREATE FUNCTION ulb.own(v int) RETURNS int LANGUAGE sql AS 'SELECT v';
CREATE FUNCTION ulb.own_trg() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TABLE ulb.t (a int DEFAULT ul.inv(1) CHECK (ul.inv(a) > 0),
                    b int DEFAULT ulb.own(2) CHECK (ulb.own(b) > 0),    -- the role's own: fine
                    c int DEFAULT ul.def(3));                           -- SECURITY DEFINER: fine
CREATE INDEX t_inv ON ulb.t (ul.inv(a));
CREATE INDEX t_own ON ulb.t (ulb.own(b));
CREATE TRIGGER t_human BEFORE INSERT ON ulb.t FOR EACH ROW EXECUTE FUNCTION ul.trg();
CREATE TRIGGER t_own BEFORE INSERT ON ulb.t FOR EACH ROW EXECUTE FUNCTION ulb.own_trg();
CREATE TRIGGER t_when BEFORE UPDATE ON ulb.t FOR EACH ROW WHEN (ul.inv(NEW.a) > 0)
    EXECUTE FUNCTION suppress_redundant_updates_trigger();
CREATE TRIGGER t_builtin BEFORE UPDATE ON ulb.t FOR EACH ROW
    EXECUTE FUNCTION suppress_redundant_updates_trigger();
ALTER TABLE ulb.t ENABLE ROW LEVEL SECURITY;
CREATE POLICY p_inv ON ulb.t USING (ul.inv(a) = a);
CREATE POLICY p_own ON ulb.t USING (ulb.own(b) = b);
CREATE VIEW ulb.v_inv AS SELECT ul.inv(a) AS a FROM ulb.t;
CREATE VIEW ulb.v_own AS SELECT ulb.own(a) AS a, ul.def(b) AS b, lower('x') AS c FROM ulb.t;
CREATE DOMAIN ulb.d_set AS text CHECK (set_config('application_name', VALUE, true) IS NOT NULL);
CREATE DOMAIN ulb.d_def AS int DEFAULT ul.inv(4);
CREATE DOMAIN ulb.d_ok AS int DEFAULT ulb.own(5) CHECK (VALUE > 0);

\c "dbname=contrib_regression user=regress_late_many options="
CREATE TABLE ulm.t (a int);
CREATE RULE r_inv AS ON DELETE TO ulm.t DO ALSO SELECT ul.inv(OLD.a);
SELECT format('CREATE VIEW ulm.v%s AS SELECT ul.inv(a) FROM ulm.t', g) FROM generate_series(1, 11) g \gexec
CREATE VIEW ulm.fine AS SELECT a FROM ulm.t;

\c "dbname=contrib_regression user=regress_late_clean options="
CREATE FUNCTION ulc.own(v int) RETURNS int LANGUAGE sql AS 'SELECT v';
CREATE TABLE ulc.t (a int DEFAULT ulc.own(1) CHECK (a > 0));
CREATE VIEW ulc.v AS SELECT ulc.own(a), ul.def(a), now() FROM ulc.t;
CREATE DOMAIN ulc.d AS int CHECK (VALUE > 0);

-- a human gives the role a view of the human's
\c "dbname=contrib_regression user=regress_su options="
CREATE VIEW ulb.given AS SELECT ul.inv(1) AS one;
ALTER VIEW ulb.given OWNER TO regress_late;

-- registration warns of exactly the objects an agent may not store, and succeeds
SELECT agent_guard.register_agent('regress_late');
-- capped: ten listed, the rest counted
SELECT agent_guard.register_agent('regress_late_many');
-- a clean role: no warning
SELECT agent_guard.register_agent('regress_late_clean');
SELECT role::text FROM agent_guard.agents WHERE role::text LIKE 'regress_late%' ORDER BY 1;

-- an agent now: the same objects are refused when it stores them
\c "dbname=contrib_regression user=regress_late options="
SELECT agent_guard.in_agent_session();
CREATE VIEW ulb.v_again AS SELECT ul.inv(a) AS a FROM ulb.t;
CREATE TRIGGER t_again BEFORE INSERT ON ulb.t FOR EACH ROW EXECUTE FUNCTION ul.trg();

-- the way out: a human drops them (or the agent recreates them, judged); registering again is quiet
\c "dbname=contrib_regression user=regress_su options="
DROP VIEW ulb.v_inv, ulb.given;
DROP POLICY p_inv ON ulb.t;
DROP TRIGGER t_human ON ulb.t;
DROP TRIGGER t_when ON ulb.t;
DROP INDEX ulb.t_inv;
ALTER TABLE ulb.t ALTER COLUMN a DROP DEFAULT, DROP CONSTRAINT t_a_check;
DROP DOMAIN ulb.d_set, ulb.d_def;
SELECT agent_guard.register_agent('regress_late');

SELECT agent_guard.unregister_agent('regress_late');
SELECT agent_guard.unregister_agent('regress_late_many');
SELECT agent_guard.unregister_agent('regress_late_clean');
DROP SCHEMA ulb, ulm, ulc CASCADE;
DROP SCHEMA ul CASCADE;
DROP ROLE regress_late, regress_late_many, regress_late_clean;
