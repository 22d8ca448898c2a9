#!/bin/bash
# Runs every suite against throwaway clusters of the PostgreSQL whose
# pg_config is first on PATH, and prints one summary line per suite, then
# "PostgreSQL N total: P passed, F failed, S skipped" for all of them
# together (skipped TAP tests are listed with their reasons).
# Called by check.sh as the server's OS user, from a copy of the tree, once
# per PostgreSQL major.
#   usage: test/suites.sh WORKDIR [SUITE...]   (suites: static regress isolation pgtap tap bench)
set -u
WORK=$1; shift
SUITES=${*:-static regress isolation pgtap tap bench}
. test/lib.sh
PG_MAJOR=$(pg_config --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
PGXS_DIR=$(dirname "$(pg_config --pgxs)")/../..
PGXS_DIR=$(cd "$PGXS_DIR" && pwd)

TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
SUMMARY=""

record() {  # suite passed failed [skipped]: passed counts no skipped test
    local skip=${4:-0}
    TOTAL_PASS=$((TOTAL_PASS + $2))
    TOTAL_FAIL=$((TOTAL_FAIL + $3))
    TOTAL_SKIP=$((TOTAL_SKIP + skip))
    SUMMARY="$SUMMARY$(printf '%-10s %4d passed, %d failed' "$1:" "$2" "$3")"
    [ "$skip" = 0 ] || SUMMARY="$SUMMARY, $skip skipped:"
    SUMMARY="$SUMMARY"$'\n'
}

# pg_regress and pg_isolation_regress end with "All N tests passed." or
# "M of N tests failed."; anything else (a crash) counts as one failure.
count_regress() {  # suite logfile rc
    local suite=$1 log=$2 rc=$3 n m p=0 f=1
    if n=$(grep -oE 'All [0-9]+ tests passed' "$log" | grep -oE '[0-9]+'); then
        p=$n f=0
    elif m=$(grep -oE '[0-9]+ of [0-9]+ tests failed' "$log"); then
        n=$(echo "$m" | awk '{print $3}'); f=$(echo "$m" | awk '{print $1}')
        p=$((n - f))
    fi
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        f=1
    fi
    record "$suite" "$p" "$f"
}

# prove and pg_prove print "Files=F, Tests=T" and "Failed X/Y subtests";
# skipped tests, counted in T, are counted apart (s), and so are skipped
# files, which T does not count (sf).
count_prove() {  # suite logfile rc [skipped tests] [skipped files]
    local suite=$1 log=$2 rc=$3 s=${4:-0} sf=${5:-0} t f
    t=$(grep -oE 'Tests=[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
    f=$(grep -oE 'Failed [0-9]+/[0-9]+ subtests' "$log" | awk '{split($2,a,"/"); s+=a[1]} END {print s+0}')
    if [ -z "$t" ]; then
        record "$suite" 0 1
        return
    fi
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        f=1     # a script died or had a bad plan
    fi
    [ "$f" -gt "$t" ] && t=$f
    [ "$s" -gt $((t - f)) ] && s=$((t - f))
    record "$suite" $((t - f - s)) "$f" $((s + sf))
}

# test/static/run.sh prints one "ok - ..." or "not ok - ..." line per check.
run_static() {
    local log=$WORK/static.log rc p f
    echo "== static: compiler warnings, cppcheck, clang-tidy"
    ./test/static/run.sh "$WORK/static" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(grep -c '^ok - ' "$log")
    f=$(grep -c '^not ok - ' "$log")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        f=1
    fi
    record static "$p" "$f"
}

run_regress() {
    local tests log=$WORK/regress.log
    # AG_REGRESS="install identity agent_rights" runs a subset (install and
    # identity first: they make the extension and the roles the others use)
    tests=${AG_REGRESS:-$(make -s --no-print-directory print-REGRESS)}
    echo "== pg_regress: $tests"
    "$PGXS_DIR/src/test/regress/pg_regress" \
        --temp-instance="$WORK/regress_tmp" --temp-config=test/agent_guard.conf \
        --bindir="$PG_BINDIR" --inputdir=. --outputdir="$WORK/regress_out" \
        --dbname=contrib_regression $tests >"$log" 2>&1
    local rc=$?
    cat "$log"
    [ $rc = 0 ] || { echo "--- regression.diffs:"; head -c 20000 "$WORK/regress_out/regression.diffs" 2>/dev/null; }
    count_regress regress "$log" $rc
}

run_isolation() {
    local tests log=$WORK/isolation.log
    tests=${AG_ISOLATION:-$(make -s --no-print-directory print-ISOLATION)}   # or a subset
    echo "== isolation: $tests"
    "$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
        --temp-instance="$WORK/iso_tmp" --temp-config=test/agent_guard.conf \
        --bindir="$PG_BINDIR" --inputdir=test --outputdir="$WORK/iso_out" \
        --load-extension=agent_guard --dbname=isolation_regression $tests >"$log" 2>&1
    local rc=$?
    cat "$log"
    [ $rc = 0 ] || { echo "--- regression.diffs:"; head -c 20000 "$WORK/iso_out/regression.diffs" 2>/dev/null; }
    count_regress isolation "$log" $rc
}

run_pgtap() {
    local dir=$WORK/pgtap port log=$WORK/pgtap.log rc
    echo "== pgTAP: $(cd test/pgtap && echo *.sql)"
    mkdir -p "$dir"
    port=$(ag_free_port 56432)
    if ! ag_cluster_start "$dir" "$port"; then
        record pgtap 0 1
        return
    fi
    psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE agent_guard_tap" \
        -c "\\c agent_guard_tap" -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION agent_guard" \
        >"$log" 2>&1
    pg_prove -h "$dir" -p "$port" -U postgres -d agent_guard_tap test/pgtap/*.sql >>"$log" 2>&1
    rc=$?
    cat "$log"
    ag_cluster_stop "$dir"
    count_prove pgtap "$log" $rc
}

run_tap() {
    local log=$WORK/tap.log rc files
    # AG_TAP=016 runs only the TAP files whose names start with 016
    files=$(ls test/t/${AG_TAP:-}*.pl)
    echo "== TAP: $(cd test/t && echo $files | sed 's|test/t/||g')"
    mkdir -p "$WORK/tap"
    # PostgreSQL's Perl test modules put their clusters and logs under
    # TESTDIR/tmp_check up to 16, and under TESTDATADIR and TESTLOGDIR from 17
    TESTDIR="$WORK/tap" TESTDATADIR="$WORK/tap/tmp_check" TESTLOGDIR="$WORK/tap/tmp_check/log" \
        PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
        AG_SRC="$(pwd)" PGPORT=$(ag_free_port 57432) NODE_PATH="$AG_NODE_CACHE/node_modules" \
        prove -I "$PGXS_DIR/src/test/perl" -I test/perl $files >"$log" 2>&1
    rc=$?
    cat "$log"
    [ $rc = 0 ] || tail -n 60 "$WORK"/tap/tmp_check/log/regress_log_* 2>/dev/null | head -c 20000
    # prove shows no skip reasons unless verbose; the tests' own logs have them
    local skips
    skips=$(cd "$WORK/tap/tmp_check/log" 2>/dev/null \
        && grep -H -E '^(\[[^]]*\]\([^)]*\) )?(ok [0-9]+ # skip|1\.\.0 # SKIP)' regress_log_* 2>/dev/null \
        | sed -E -e 's/^regress_log_([^:]*):(\[[^]]*\]\([^)]*\) )?ok ([0-9]+) # skip ?/  \1, test \3: /' \
            -e 's/^regress_log_([^:]*):(\[[^]]*\]\([^)]*\) )?1\.\.0 # SKIP ?/  \1, all of it: /')
    if [ -n "$skips" ]; then
        echo "-- skipped on PostgreSQL $PG_MAJOR, and why:"
        echo "$skips"
    fi
    count_prove tap "$log" $rc "$(printf '%s' "$skips" | grep -c ', test [0-9]*: ')" \
        "$(printf '%s' "$skips" | grep -c ', all of it: ')"
    [ -z "$skips" ] || SUMMARY="$SUMMARY$skips"$'\n'
}

# The benchmark in smoke mode (tiny sizes, a few seconds): it never judges
# timings, it only proves that every measurement still runs.
run_bench() {
    local log=$WORK/bench.log rc
    echo "== bench: test/bench/bench.py --smoke"
    python3 test/bench/bench.py "$WORK/bench" --smoke --port "$(ag_free_port 58432)" >"$log" 2>&1
    rc=$?
    cat "$log"
    if [ $rc = 0 ]; then record bench 1 0; else record bench 0 1; fi
}

for s in $SUITES; do
    "run_$s"
done

# the summary, also written to WORKDIR/summary for check.sh, which adds up
# the majors' totals into its one closing line
{
    echo "== PostgreSQL $PG_MAJOR ($(pg_config --version))"
    printf '%s' "$SUMMARY"
    echo "PostgreSQL $PG_MAJOR total: $TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
} >"$WORK/summary"
echo
cat "$WORK/summary"
[ "$TOTAL_FAIL" = 0 ]
