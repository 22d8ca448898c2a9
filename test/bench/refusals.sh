#!/bin/bash
# What a refused statement costs the agent (README, "Performance"): a
# throwaway cluster with agent_guard preloaded (PostgreSQL's defaults:
# fsync and synchronous_commit on), an agent role and a protected table;
# then, each measured ROUNDS times (medians):
#   - N refused statements sent one by one by psql (DELETE with no WHERE,
#     which needs approval: YG003), the elapsed time per statement;
#   - the same N statements allowed (DELETE ... WHERE of no row), for the
#     client's and the server's own cost of a statement;
#   - N refusals caught in one DO block (no round trip to the client);
#   - pgbench, agent 1-row UPDATEs of the protected table, S seconds,
#     prepared, 1 client: the statements that are not refused.
# The server must be installed already (make install, or test/bench/run.sh's
# build).  Runs as the current OS user (not root: use runuser -u postgres).
# usage: test/bench/refusals.sh WORKDIR [N] [ROUNDS] [S] [PORT]
set -eu
work=${1:?usage: test/bench/refusals.sh WORKDIR [N] [ROUNDS] [SECONDS] [PORT]}
n=${2:-200}
rounds=${3:-5}
secs=${4:-10}
port=${5:-58532}
bindir=$(pg_config --bindir)
PATH=$bindir:$PATH
export PGHOST=$work PGPORT=$port PGDATABASE=postgres

rm -rf "$work/data"
mkdir -p "$work"
initdb -D "$work/data" -A trust -U postgres >/dev/null
cat >>"$work/data/postgresql.conf" <<EOF
shared_preload_libraries = 'agent_guard'
listen_addresses = ''
unix_socket_directories = '$work'
port = $port
agent_guard.max_rows_per_run = -1
EOF
pg_ctl -D "$work/data" -l "$work/log" -w start >/dev/null
trap 'pg_ctl -D "$work/data" -m immediate stop >/dev/null 2>&1 || true' EXIT

psql -U postgres -qX -v ON_ERROR_STOP=1 <<'EOF'
CREATE EXTENSION agent_guard;
CREATE ROLE bench_bot LOGIN;
CREATE TABLE items (id int PRIMARY KEY, v int);
INSERT INTO items SELECT g, 0 FROM generate_series(1, 1000) g;
ALTER TABLE items OWNER TO bench_bot;
SELECT agent_guard.protect('items');
SELECT agent_guard.register_agent('bench_bot');
EOF
# wait for the sealer
for _ in $(seq 1 100); do
    [ "$(psql -U postgres -qXAt -c "SELECT state FROM agent_guard.sealer_status() WHERE database = 'postgres'")" = running ] && break
    sleep 0.1
done

for i in $(seq 1 "$n"); do echo "DELETE FROM items;"; done >"$work/refused.sql"
for i in $(seq 1 "$n"); do echo "DELETE FROM items WHERE id < 0;"; done >"$work/allowed.sql"
echo "UPDATE items SET v = v + 1 WHERE id = 1 + (random() * 999)::int;" >"$work/update.sql"

ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
per_stmt() {	# file -> microseconds per statement
    local t0 t1
    t0=$(ms)
    psql -U bench_bot -qX -f "$1" >/dev/null 2>&1 || true
    t1=$(ms)
    echo $(( (t1 - t0) / 1000 / n ))
}
do_block() {
    local t0 t1
    t0=$(ms)
    psql -U bench_bot -qX -c "DO \$\$ BEGIN FOR i IN 1 .. $n LOOP BEGIN DELETE FROM items; EXCEPTION WHEN SQLSTATE 'YG003' THEN NULL; END; END LOOP; END \$\$" >/dev/null
    t1=$(ms)
    echo $(( (t1 - t0) / 1000 / n ))
}

ref=(); alw=(); blk=(); tps=()
for r in $(seq 1 "$rounds"); do
    ref+=("$(per_stmt "$work/refused.sql")")
    alw+=("$(per_stmt "$work/allowed.sql")")
    blk+=("$(do_block)")
    tps+=("$(pgbench -U bench_bot -n -M prepared -c 1 -T "$secs" -f "$work/update.sql" 2>/dev/null |
             sed -n 's/^tps = \([0-9.]*\).*/\1/p' | cut -d. -f1)")
done
recorded=$(psql -U postgres -qXAt -c "SELECT agent_guard._flush_requests(); SELECT count(*) FROM agent_guard.requests" | tail -1)
echo "refusals: $n statements x $rounds rounds, medians ($(postgres --version))"
echo "  refused (psql, one by one):   $(printf '%s\n' "${ref[@]}" | median) us per statement   [${ref[*]}]"
echo "  allowed (psql, one by one):   $(printf '%s\n' "${alw[@]}" | median) us per statement   [${alw[*]}]"
echo "  refused (caught in a DO):     $(printf '%s\n' "${blk[@]}" | median) us per refusal    [${blk[*]}]"
echo "  agent 1-row UPDATE (pgbench): $(printf '%s\n' "${tps[@]}" | median) tps                  [${tps[*]}]"
echo "  requests on record: $recorded (expected $((2 * n * rounds)))"
