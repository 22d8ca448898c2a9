#!/bin/bash
# The test command: install what is missing, then for each supported
# PostgreSQL major (15 from Debian's packages, 18 built once from Debian's
# source package by test/pg18.sh and cached): build, install, and run every
# suite (static checks, pg_regress, isolation, pgTAP, TAP, bench) against
# throwaway clusters; then, once, the distributions (package): PGXN's
# META.json and "make dist", and the Debian packages built, installed and
# used in a new cluster.
# Prints each major's summary, then one line for everything: "N passed, N failed".
# usage: test/check.sh [static] [regress] [isolation] [pgtap] [tap] [bench] [package]   (default: all)
#   AG_PG_VERSIONS="15 18"   the majors to test (default: both)
#   AG_REGRESS="install identity x", AG_ISOLATION="spec"   a subset (install and identity make the roles)
#   PG_BINDIR, PG18_BINDIR   test against copies (test/private_pg.sh) instead
set -u
cd "$(dirname "$0")/.."
SRC=$(pwd)
. test/lib.sh

ag_deps
ag_node_deps
RUNUSER=$(ag_run_user)
VERSIONS=${AG_PG_VERSIONS:-15 18}
# the per-major suites, and whether to run the once-only "package"
SUITE_ARGS=()
WANT_PACKAGE=
[ $# = 0 ] && WANT_PACKAGE=1
for a in "$@"; do
    if [ "$a" = package ]; then WANT_PACKAGE=1; else SUITE_ARGS+=("$a"); fi
done
[ $# -gt 0 ] && [ ${#SUITE_ARGS[@]} = 0 ] && VERSIONS=""
BASE_PATH=$PATH
PG15_BINDIR=$PG_BINDIR      # lib.sh's default, or the caller's copy
UPGRADE_FROM=""
TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
SUMMARY=""
KEPT=""

for v in $VERSIONS; do
    case $v in
        15) bindir=$PG15_BINDIR ;;
        18) bindir=${PG18_BINDIR:-$(./test/pg18.sh)} || bindir="" ;;
        *) ag_die "PostgreSQL $v is not supported here (AG_PG_VERSIONS: 15 and 18)" ;;
    esac
    if [ -z "$bindir" ] || [ ! -x "$bindir/pg_config" ]; then
        SUMMARY="$SUMMARY"$'\n'"== PostgreSQL $v: not available (see above), counted as one failure"$'\n'
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
        continue
    fi
    # TAP 029 upgrades a cluster of the major tested before this one
    export PG_MAJOR=$v PG_BINDIR=$bindir PATH="$bindir:$BASE_PATH" AG_UPGRADE_FROM=$UPGRADE_FROM
    ag_say ""
    ag_say "==== PostgreSQL $v ($(pg_config --version), $bindir)"
    # each major builds in its own copy of the tree, owned by the run user
    WORK=$(ag_workdir "$RUNUSER" "$SRC" "check$v")
    if ! (ag_build_install "$WORK/src"); then
        SUMMARY="$SUMMARY"$'\n'"== PostgreSQL $v: build failed, counted as one failure"$'\n'
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
        KEPT="$KEPT $WORK"
        continue
    fi
    chown -R "$RUNUSER" "$WORK" 2>/dev/null
    next_upgrade_from=$(dirname "$bindir")
    ag_say "== running the suites as OS user $RUNUSER in $WORK"
    (cd "$WORK/src" && ag_as_runuser "$RUNUSER" ./test/suites.sh "$WORK" "${SUITE_ARGS[@]}")
    rc=$?
    # suites.sh ends with its summary block and "PostgreSQL N total: P passed, F failed, S skipped"
    last=$(grep -E '^PostgreSQL [0-9]+ total: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$WORK/summary" 2>/dev/null | tail -1)
    if [ -z "$last" ]; then
        SUMMARY="$SUMMARY"$'\n'"== PostgreSQL $v: the suites printed no summary, counted as one failure"$'\n'
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
    else
        SUMMARY="$SUMMARY"$'\n'"$(cat "$WORK/summary")"$'\n'
        read -r p f s < <(echo "$last" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/')
        [ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
        TOTAL_PASS=$((TOTAL_PASS + p))
        TOTAL_FAIL=$((TOTAL_FAIL + f))
        TOTAL_SKIP=$((TOTAL_SKIP + s))
    fi
    UPGRADE_FROM=$next_upgrade_from
    if [ $rc -eq 0 ] && [ -z "${AG_KEEP:-}" ]; then
        rm -rf "$WORK"
    else
        KEPT="$KEPT $WORK"
    fi
done

# the distributions, once: test/dist.sh and test/package.sh print one
# "ok - ..." or "not ok - ..." line per check
if [ -n "$WANT_PACKAGE" ]; then
    export PATH=$BASE_PATH
    WORK=$(mktemp -d /tmp/agent_guard_package.XXXXXX) || ag_die "mktemp failed"
    log=$WORK/package.log
    ag_say ""
    ag_say "==== package: PGXN (META.json, make dist) and the Debian packages"
    ./test/dist.sh "$WORK" >"$log" 2>&1
    rc=$?
    skipped=0
    if ag_is_root; then
        ./test/package.sh "$WORK" >>"$log" 2>&1 || rc=1
    else
        echo "-- skipped: test/package.sh installs the packages it builds: run as root" >>"$log"
        skipped=1
    fi
    cat "$log"
    p=$(grep -c '^ok - ' "$log")
    f=$(grep -c '^not ok - ' "$log")
    [ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
    TOTAL_PASS=$((TOTAL_PASS + p))
    TOTAL_FAIL=$((TOTAL_FAIL + f))
    TOTAL_SKIP=$((TOTAL_SKIP + skipped))
    line=$(printf '%-10s %4d passed, %d failed' "package:" "$p" "$f")
    [ $skipped = 0 ] || line="$line, 1 skipped: test/package.sh needs root"
    SUMMARY="$SUMMARY"$'\n'"== distributions (once)"$'\n'"$line"$'\n'
    if [ "$f" = 0 ] && [ -z "${AG_KEEP:-}" ]; then rm -rf "$WORK"; else KEPT="$KEPT $WORK"; fi
fi

for w in $KEPT; do
    ag_say "work directory kept for inspection: $w"
done
ag_say ""
ag_say "== summary"
printf '%s' "$SUMMARY"
echo
# skipped tests were skipped with a reason printed with their suite; the
# last line is exactly "N passed, N failed", which CI reads
[ "$TOTAL_SKIP" = 0 ] || echo "$TOTAL_SKIP skipped, each with its reason above"
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" = 0 ]
