#!/bin/bash
# The benchmark command (README, "Performance"): build and install
# agent_guard, start throwaway clusters and run test/bench/bench.py, which
# prints medians, ratios and WAL bytes per changed row.  It takes about half
# an hour on 2 cores with the defaults; --smoke runs tiny sizes in seconds.
# AG_BENCH_OUT=FILE keeps a copy of the table.
# usage: test/bench/run.sh [--smoke] [--rounds N] [--seconds S] [...]
#        (test/bench/bench.py --help lists every option)
set -u
cd "$(dirname "$0")/../.."
SRC=$(pwd)
. test/lib.sh

command -v python3 >/dev/null || ag_die "python3 is needed to run the benchmark"
ag_deps
ag_build_install "$SRC"
RUNUSER=$(ag_run_user)
WORK=$(ag_workdir "$RUNUSER" "$SRC" bench)
ag_say "== benchmark as OS user $RUNUSER in $WORK"
cd "$WORK/src"
ag_as_runuser "$RUNUSER" python3 test/bench/bench.py "$WORK/run" --port "$(ag_free_port 58432)" \
    --output "$WORK/result.md" "$@"
rc=$?
if [ $rc -eq 0 ]; then
    if [ -n "${AG_BENCH_OUT:-}" ]; then cp "$WORK/result.md" "$AG_BENCH_OUT"; fi
    [ -z "${AG_KEEP:-}" ] && rm -rf "$WORK"
else
    ag_say "work directory kept for inspection: $WORK"
fi
exit $rc
