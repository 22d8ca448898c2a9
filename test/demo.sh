#!/bin/bash
# make demo: the whole product in one command.  Installs what is missing,
# builds and installs agent_guard and agent-guard, starts a throwaway
# cluster, and replays the public incidents with an agent role:
#   1. a mass delete during a code freeze (1,206 executives, 1,196 companies)
#   2. a retried refund
#   3. a DROP/TRUNCATE storm (when the approval gates are in this build)
#   4. the human on call with agent-guard: runs, show, postmortem, rollback
#   5. tampering with the record, caught by the hash chain
# The cluster and its directory are removed at the end, also on failure.
set -u
cd "$(dirname "$0")/.."
SRC=$(pwd)
. test/lib.sh

ag_deps
ag_build_install "$SRC"
command -v agent-guard >/dev/null || ag_die "agent-guard was not installed in $(pg_config --bindir)"
RUNUSER=$(ag_run_user)

DIR=$(mktemp -d /tmp/agent_guard_demo.XXXXXX) || ag_die "mktemp failed"
cp test/lib.sh "$DIR/lib.sh"
chown -R "$RUNUSER" "$DIR"
PORT=$(ag_free_port 58432)

as_pg() { (cd "$DIR" && ag_as_runuser "$RUNUSER" "$@"); }
cleanup() {
    trap - EXIT INT TERM
    as_pg pg_ctl -D "$DIR/data" -m fast -w stop >/dev/null 2>&1
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'echo; echo "interrupted"; exit 130' INT TERM

export PGHOST=$DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=demo
unset PGOPTIONS PGSERVICE PGHOSTADDR

# -- narration ---------------------------------------------------------------
if [ -t 1 ]; then B=$'\e[1m' D=$'\e[2m' R=$'\e[0m'; else B='' D='' R=''; fi
scene() { printf '\n%s== %s%s\n' "$B" "$*" "$R"; }
say()   { printf '%s\n' "$*" | fold -s -w 78; }
indent() { sed 's/^/    /'; }
# a command the human types, and its output
human() {
    local shown="" a
    for a in "$@"; do
        case $a in *[\ \']*) a="\"$a\"" ;; esac
        shown="$shown${shown:+ }$a"
    done
    printf '%s$ %s%s\n' "$D" "$shown" "$R"
    "$@" 2>&1 | indent
    return "${PIPESTATUS[0]}"
}
# SQL the agent runs: as role coding_agent, in run $1
agent() {
    run=$1; shift
    printf '%sagent [%s]> %s%s\n' "$D" "$run" "$*" "$R"
    PGOPTIONS="-c agent_guard.run_id=$run" psql -X -q -U coding_agent -v ON_ERROR_STOP=1 -c "$*" 2>&1 | indent
    return "${PIPESTATUS[0]}"
}
admin() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$*"; }
must()  { "$@" >/dev/null || ag_die "demo setup failed: $*"; }

# -- cluster -----------------------------------------------------------------
ag_say "== starting a throwaway cluster in $DIR (port $PORT) as OS user $RUNUSER"
as_pg bash -c ". '$DIR/lib.sh' && ag_cluster_start '$DIR' '$PORT'" || ag_die "could not start the cluster"
must psql -X -q -d postgres -c "CREATE DATABASE demo"

must admin "
CREATE EXTENSION agent_guard;
CREATE ROLE coding_agent LOGIN;      -- the agent: owns the app's tables, never a superuser
CREATE ROLE harness LOGIN;           -- a shared role an agent harness connects with
CREATE SCHEMA crm AUTHORIZATION coding_agent;
GRANT USAGE ON SCHEMA crm TO harness;
SET ROLE coding_agent;
CREATE TABLE crm.companies (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE crm.executives (id int PRIMARY KEY, company_id int REFERENCES crm.companies,
                             name text NOT NULL, title text);
CREATE TABLE crm.payments (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, order_id int, amount numeric);
CREATE TABLE crm.import_staging (id int PRIMARY KEY, raw text);
INSERT INTO crm.companies SELECT g, 'Company ' || g FROM generate_series(1, 1196) g;
INSERT INTO crm.executives SELECT g, 1 + (g - 1) % 1196, 'Executive ' || g,
       (ARRAY['CEO', 'CFO', 'CTO', 'COO'])[1 + g % 4] FROM generate_series(1, 1206) g;
INSERT INTO crm.payments (order_id, amount) VALUES (4711, 25.00);
GRANT SELECT, INSERT ON crm.payments TO harness;
RESET ROLE;
SELECT agent_guard.protect('crm.companies');
SELECT agent_guard.protect('crm.executives');
SELECT agent_guard.protect('crm.payments', soft_delete => false);
SELECT agent_guard.register_agent('coding_agent');
"
HAS_GATES=$(admin "SELECT to_regprocedure('agent_guard.approve(bigint,text)') IS NOT NULL")

say "A CRM database: ${B}1,196 companies${R} and ${B}1,206 executives${R}, owned by the role"
say "coding_agent, which an AI coding agent uses. agent_guard protects the tables"
say "(soft deletes on) and coding_agent is registered as an agent."

# -- 1 -------------------------------------------------------------------------
scene "1. A mass delete during a code freeze"
say "The team announced a code freeze. The agent, asked to tidy up test data,"
say "decides the tables are junk and empties them."
if [ "$HAS_GATES" = t ]; then
    human agent-guard freeze "code freeze until the release ships"
    agent freeze-cleanup "DELETE FROM crm.executives WHERE title = 'CEO'"
    say "The freeze stops the agent's writes. Lifted, the agent tries the whole table:"
    human agent-guard unfreeze
fi
agent freeze-cleanup "DELETE FROM crm.executives"
agent freeze-cleanup "DELETE FROM crm.companies"
if [ "$HAS_GATES" = t ]; then
    say "Destructive statements wait for a human. The on-call engineer looks and,"
    say "for the demo, approves them (the agent retries once):"
    human agent-guard requests
    for id in $(admin "SELECT request_id FROM agent_guard.requests WHERE status = 'pending' ORDER BY 1"); do
        human agent-guard approve "$id" --note "demo: approved to show soft deletes"
    done
    agent freeze-cleanup "DELETE FROM crm.executives"
    agent freeze-cleanup "DELETE FROM crm.companies"
else
    say "(The approval gates and the freeze switch are not in this build, so the"
    say "statements go through.)"
fi
say "The agent sees empty tables:"
agent freeze-cleanup "SELECT (SELECT count(*) FROM crm.executives) AS executives, (SELECT count(*) FROM crm.companies) AS companies"
say "but the rows were soft-deleted, not removed. An admin still sees them, marked"
say "with who deleted them and in which run:"
human psql -X -q -c "SELECT ag_agent_id, ag_run_id, count(*) AS rows, count(*) FILTER (WHERE ag_deleted_at IS NOT NULL) AS soft_deleted FROM crm.executives GROUP BY 1, 2"

# -- 2 -------------------------------------------------------------------------
scene "2. A retried refund"
say "A billing agent, run by a harness on a shared role and tagged with"
say "agent-guard exec, refunds order 4711 under an idempotency key. Its connection"
say "times out before it sees the COMMIT, so it retries."
REFUND="BEGIN; SET LOCAL agent_guard.idempotency_key = 'refund-order-4711';
INSERT INTO crm.payments (order_id, amount) VALUES (4711, -25.00); COMMIT;"
for attempt in first retry; do
    printf '%s$ agent-guard exec --agent billing-bot --run refund-%s -- psql -U harness -c "%s"%s\n' \
        "$D" "$attempt" "BEGIN; SET LOCAL agent_guard.idempotency_key = 'refund-order-4711'; INSERT ... (4711, -25.00); COMMIT;" "$R"
    agent-guard exec --agent billing-bot --run "refund-$attempt" -- \
        psql -X -q -U harness -v ON_ERROR_STOP=1 -c "$REFUND" 2>&1 | indent
done
say "The retry wrote nothing; the customer is refunded once:"
human psql -X -q -c "SELECT order_id, amount FROM crm.payments ORDER BY id"

# -- 3 -------------------------------------------------------------------------
scene "3. A DROP / TRUNCATE storm"
if [ "$HAS_GATES" = t ]; then
    say "The agent, cleaning up after itself, goes further."
    agent storm "TRUNCATE crm.payments"
    agent storm "DROP TABLE crm.companies CASCADE"
    agent storm "DROP TABLE crm.import_staging"
    say "Each was refused and is now a request. The human on call sees them live"
    say "(agent-guard watch) or lists them:"
    human agent-guard requests
    for id in $(admin "SELECT request_id FROM agent_guard.requests WHERE status = 'pending' AND statement NOT LIKE '%import_staging%' ORDER BY 1"); do
        human agent-guard deny "$id" --note "not during the freeze"
    done
    id=$(admin "SELECT max(request_id) FROM agent_guard.requests WHERE status = 'pending' AND statement LIKE '%import_staging%'")
    [ -n "$id" ] && human agent-guard approve "$id" --note "staging table, fine"
    agent storm "DROP TABLE crm.import_staging"
    say "Only the approved statement ran, once."
else
    say "The approval gates are not in this build: the DROP/TRUNCATE storm and its"
    say "approval are shown once agent_guard.approve exists on the server."
fi

# -- 4 -------------------------------------------------------------------------
scene "4. The human on call, with agent-guard"
human agent-guard runs
human agent-guard show refund-first
say "The postmortem of the mass delete names the role, its privileges, the"
say "statements, the guards, and how to undo it:"
human agent-guard postmortem freeze-cleanup
say "Preview the rollback, then apply it:"
agent-guard rollback freeze-cleanup >/dev/null 2>&1
printf '%s$ agent-guard rollback freeze-cleanup | tail -3%s\n' "$D" "$R"
agent-guard rollback freeze-cleanup 2>&1 | tail -3 | indent
printf '%s$ agent-guard rollback freeze-cleanup --apply | tail -1%s\n' "$D" "$R"
agent-guard rollback freeze-cleanup --apply 2>&1 | tail -1 | indent
say "The agent sees its data again:"
agent after-rollback "SELECT (SELECT count(*) FROM crm.executives) AS executives, (SELECT count(*) FROM crm.companies) AS companies"

# -- 5 -------------------------------------------------------------------------
scene "5. Tampering with the record"
must admin "SELECT agent_guard.seal_log()"
say "Every event is sealed into a SHA-256 chain. The log verifies, and the head"
say "is kept outside the database:"
human agent-guard verify
HEAD=$(admin "SELECT agent_guard.log_head()")
VICTIM=$(admin "SELECT min(event_id) FROM agent_guard.events WHERE run_id = 'freeze-cleanup'")
ORIG_AGENT=$(admin "SELECT agent_id FROM agent_guard.events WHERE event_id = $VICTIM")
ORIG_ROLE=$(admin "SELECT login_role FROM agent_guard.events WHERE event_id = $VICTIM")
say "Someone with superuser rights makes the mass delete look like a human's,"
say "with triggers off so the append-only guard does not fire:"
printf '%spostgres=# UPDATE agent_guard.events SET agent_id = NULL, login_role = '"'"'dba'"'"' WHERE event_id = %s;%s\n' "$D" "$VICTIM" "$R"
must admin "BEGIN; SET LOCAL session_replication_role = replica;
UPDATE agent_guard.events SET agent_id = NULL, login_role = 'dba' WHERE event_id = $VICTIM; COMMIT;"
human agent-guard verify --head "$HEAD"
echo "    (exit status $?)"
say "The edit is found and located. Putting the original back verifies again:"
must admin "BEGIN; SET LOCAL session_replication_role = replica;
UPDATE agent_guard.events SET agent_id = '$ORIG_AGENT', login_role = '$ORIG_ROLE' WHERE event_id = $VICTIM; COMMIT;"
human agent-guard verify --head "$HEAD"

scene "Done"
say "Every agent write was attributed, reversible and on a tamper-evident record."
say "Try it on your own server: see README.md, and agent-guard --help."
