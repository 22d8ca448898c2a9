#!/bin/bash
# Instructions per statement (callgrind, backend only) and WAL bytes per
# row of the working tree's build, for the base table, the audit trigger,
# an agent's and a human's writes on protected tables (README of
# test/bench, "Instructions and WAL of one build"; issue 21).
# Builds and installs into the private PostgreSQL copy $PG_BINDIR (made by
# test/private_pg.sh; never the system one) unless --no-build, then runs
# test/bench/instructions.py (--help lists its options: --ops, --variants,
# --n N1,N2, --wal-n, --top K, --profile, --no-wal, --no-callgrind).
# Work directory: $AG_WORK_ROOT/instructions.XXXXXX (kept with AG_KEEP=1).
# usage: PG_BINDIR=... test/bench/instructions.sh [--no-build] [options...]
set -u
cd "$(dirname "$0")/../.."
SRC=$(pwd)
[ -n "${PG_BINDIR:-}" ] || { echo "PG_BINDIR must name a private PostgreSQL copy (test/private_pg.sh DIR)" >&2; exit 2; }
. test/lib.sh
command -v valgrind >/dev/null || ag_die "valgrind is needed (or pass --no-callgrind)"
if [ "${1:-}" = --no-build ]; then
    shift
else
    make -s PG_CONFIG="$PG_BINDIR/pg_config" >/dev/null && make -s install PG_CONFIG="$PG_BINDIR/pg_config" >/dev/null \
        || ag_die "build failed"
fi
RUNUSER=$(ag_run_user)
root=${AG_WORK_ROOT:-/tmp}
mkdir -p "$root"
WORK=$(mktemp -d "$root/instructions.XXXXXX") || ag_die "mktemp failed"
chown -R "$RUNUSER" "$WORK"
cd "$WORK"
ag_as_runuser "$RUNUSER" python3 "$SRC/test/bench/instructions.py" "$WORK" --bindir "$PG_BINDIR" \
    --port "$(ag_free_port $((40000 + RANDOM % 20000)))" "$@"
rc=$?
if [ $rc -eq 0 ] && [ -z "${AG_KEEP:-}" ]; then rm -rf "$WORK"; else ag_say "work directory: $WORK"; fi
exit $rc
