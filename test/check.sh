#!/bin/bash
# The test command: install what is missing, build, install, and run every
# suite (static checks, pg_regress, isolation, pgTAP, TAP) against throwaway
# clusters.
# Ends with one line for all suites: "N passed, N failed".
# usage: test/check.sh [static] [regress] [isolation] [pgtap] [tap] [bench]   (default: all)
set -u
cd "$(dirname "$0")/.."
SRC=$(pwd)
. test/lib.sh

ag_deps
ag_node_deps
ag_build_install "$SRC"
RUNUSER=$(ag_run_user)
WORK=$(ag_workdir "$RUNUSER" "$SRC" check)
ag_say "== running the suites as OS user $RUNUSER in $WORK"
cd "$WORK/src"
ag_as_runuser "$RUNUSER" ./test/suites.sh "$WORK" "$@"
rc=$?
if [ $rc -eq 0 ] && [ -z "${AG_KEEP:-}" ]; then
    rm -rf "$WORK"
else
    ag_say "work directory kept for inspection: $WORK"
fi
exit $rc
