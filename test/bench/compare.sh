#!/bin/bash
# Compare two builds of agent_guard in one invocation (README of test/bench,
# "Comparing two builds"): each git revision is exported (git archive) and
# built into its own private PostgreSQL copy (test/private_pg.sh), then
# test/bench/compare.py runs interleaved pgbench rounds against one cluster
# per build and counts each build's instructions per statement under
# callgrind.  AG_BENCH_OUT=FILE keeps a copy of the tables.
# usage: test/bench/compare.sh OLD_REV NEW_REV [compare.py options...]
#        (test/bench/compare.py --help lists them; e.g. --rounds 5
#         --seconds 5 --annotate 15, --no-tps, --no-callgrind)
# The private copies are $AG_CMP_PG_OLD and $AG_CMP_PG_NEW (default
# /tmp/pg_cmp_old and /tmp/pg_cmp_new); nothing else is installed.
set -u
[ $# -ge 2 ] || { echo "usage: $0 OLD_REV NEW_REV [compare.py options...]" >&2; exit 2; }
old_rev=$1 new_rev=$2; shift 2
cd "$(dirname "$0")/../.."
SRC=$(pwd)
. test/lib.sh

command -v python3 >/dev/null || ag_die "python3 is needed"
if ! command -v valgrind >/dev/null; then
    if ag_is_root; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null \
            || ag_die "could not install valgrind"
    else
        ag_die "valgrind is needed for the instruction counts: sudo apt-get install valgrind (or pass --no-callgrind)"
    fi
fi
ag_deps
old_id=$(git -C "$SRC" rev-parse --short "$old_rev^{commit}") || ag_die "no such revision: $old_rev"
new_id=$(git -C "$SRC" rev-parse --short "$new_rev^{commit}") || ag_die "no such revision: $new_rev"
RUNUSER=$(ag_run_user)
WORK=$(mktemp -d /tmp/agent_guard_compare.XXXXXX) || ag_die "mktemp failed"

build() {   # build REV into the private copy DIR; print its bindir
    rev=$1 dir=$2 tree=$WORK/build_$3
    bindir=$("$SRC/test/private_pg.sh" "$dir") || ag_die "could not make the private copy $dir"
    mkdir -p "$tree"
    git -C "$SRC" archive "$rev" | tar xf - -C "$tree" || ag_die "git archive $rev failed"
    ( export PATH="$bindir:$PATH" PG_BINDIR="$bindir"
      make -C "$tree" -s >"$tree.log" 2>&1 && make -C "$tree" -s install >>"$tree.log" 2>&1 ) \
        || { cat "$tree.log" >&2; ag_die "building $rev failed"; }
    echo "$bindir"
}
ag_say "== building $old_rev ($old_id) and $new_rev ($new_id) into private PostgreSQL copies"
old_bin=$(build "$old_id" "${AG_CMP_PG_OLD:-/tmp/pg_cmp_old}" old) || exit 2
new_bin=$(build "$new_id" "${AG_CMP_PG_NEW:-/tmp/pg_cmp_new}" new) || exit 2
mkdir -p "$WORK/run"
chown -R "$RUNUSER" "$WORK"
cd "$WORK"
ag_as_runuser "$RUNUSER" python3 "$SRC/test/bench/compare.py" "$WORK/run" \
    --old-bindir "$old_bin" --new-bindir "$new_bin" --old-label "$old_id" --new-label "$new_id" \
    --port "$(ag_free_port 58532)" --output "$WORK/result.md" "$@"
rc=$?
if [ $rc -eq 0 ]; then
    if [ -n "${AG_BENCH_OUT:-}" ]; then cp "$WORK/result.md" "$AG_BENCH_OUT"; fi
    [ -z "${AG_KEEP:-}" ] && rm -rf "$WORK"
else
    ag_say "work directory kept for inspection: $WORK"
fi
exit $rc
