#!/usr/bin/env python3
"""Instructions per statement and WAL bytes per row of one build (issue 21).

Started by test/bench/instructions.sh, which builds and installs the
working tree into a private PostgreSQL copy and passes its bindir.  One
throwaway cluster (bench.py's settings, roles and tables; agent_guard
preloaded) is used twice:

WAL     the postmaster runs normally.  For each workload: the table is
        refilled, the logs emptied, a CHECKPOINT; pgbench runs --wal-n
        transactions (-c 1 -M prepared, fixed --random-seed), then
        agent_guard.seal_log() until nothing is left to seal (the sealer's
        own writes count: they are the price of the agent's rows too).
        Printed: WAL bytes per statement from pg_current_wal_lsn(), and
        from pg_waldump --stats over the same range the full-page images'
        share (they depend on how many pages of a checkpoint-fresh table
        the run touches) and the WAL records per statement.

callgrind  the postmaster runs under valgrind --tool=callgrind (every
        backend writes its own callgrind.out.PID); each workload runs in
        two pgbench sessions of N1 and N2 transactions and the backend that
        ran each reports its pid, so

            instructions per statement = (Ir(N2) - Ir(N1)) / (N2 - N1)

        (the session's fixed cost cancels out; only the backend counts, not
        the sealer).  --top K prints, for each workload named by --profile,
        the K functions of largest inclusive and self cost per statement
        (the same subtraction per function).

Deterministic whatever the machine's load: the right numbers for a
before/after on a shared machine, where tps means little.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Cluster, HERE, WRITER, log, prepare, reset, run_pgbench, server_conf  # noqa: E402
from compare import PID_PRELUDE, cg_functions, cg_start, cg_stop, cg_total  # noqa: E402

VARIANTS = ["base", "audit", "agent_soft", "agent_hard", "human"]
LABEL = {"base": "base table (human)", "audit": "audit trigger (human)",
         "agent_soft": "agent, protected soft-delete", "agent_hard": "agent, protected hard-delete",
         "human": "human, protected soft-delete"}
SEED = "--random-seed=20261206"


class Build:
    """What compare.py's callgrind functions expect of a build."""
    def __init__(self, bindir, path, port):
        self.label, self.bindir = "this", bindir
        self.cluster = Cluster(path, port, True, bindir=bindir)
        self.scripts = os.path.join(path, "scripts")

    def script(self, op, variant):
        return os.path.join(self.scripts, "%s_%s.sql" % (op, variant))


def workloads(a):
    return [(op, v) for op in a.ops for v in a.variants]


def waldump_stats(b, lsn0, lsn1):
    """(records, record bytes, FPI bytes) between two LSNs, by pg_waldump --stats."""
    p = subprocess.run([b.cluster.bin("pg_waldump"), "--stats", "-p",
                        os.path.join(b.cluster.path, "data", "pg_wal"), "-s", lsn0, "-e", lsn1],
                       capture_output=True, text=True)
    m = re.search(r"^Total\s+([0-9]+)\s+([0-9]+)\s+\[[^]]*\]\s+([0-9]+)", p.stdout, re.M)
    if not m:
        log("   pg_waldump --stats failed: %s" % (p.stderr or p.stdout[-500:]).strip())
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def waldump_records(b, lsn0, lsn1, n):
    """The WAL record types between two LSNs, per statement, largest first."""
    p = subprocess.run([b.cluster.bin("pg_waldump"), "--stats=record", "-p",
                        os.path.join(b.cluster.path, "data", "pg_wal"), "-s", lsn0, "-e", lsn1],
                       capture_output=True, text=True)
    rows = []
    for line in p.stdout.splitlines():
        m = re.match(r"^(\S+/\S+)\s+([0-9]+)\s+\([ 0-9.]+\)\s+([0-9]+)\s+\([ 0-9.]+\)\s+([0-9]+)", line)
        if m and int(m.group(2)):
            rows.append((int(m.group(3)) + int(m.group(4)), m.group(1), int(m.group(2))))
    rows.sort(reverse=True)
    return ["  %7.1f B %5.2f records  %s" % (size / n, count / n, name) for size, name, count in rows]


def wal_pass(a, b):
    c = b.cluster
    res = {}
    for op, v in workloads(a):
        reset(c, "t_" + v, a.wal_rows)
        if a.wal_warm:
            run_pgbench(c, WRITER[v], 1, transactions=a.wal_warm, script=b.script(op, v),
                        defines=["rows=%d" % a.wal_rows], extra=["--random-seed=1"])
            while c.value("SELECT agent_guard.seal_log()") != "0":
                pass
        lsn0 = c.lsn()
        run_pgbench(c, WRITER[v], 1, transactions=a.wal_n, script=b.script(op, v),
                    defines=["rows=%d" % a.wal_rows], extra=[SEED])
        while c.value("SELECT agent_guard.seal_log()") != "0":
            pass
        lsn1 = c.lsn()
        total = int(float(c.value("SELECT pg_wal_lsn_diff('%s', '%s')" % (lsn1, lsn0))))
        st = waldump_stats(b, lsn0, lsn1)
        res[(op, v)] = (total, st)
        if a.top and "%s_%s" % (op, v) in a.profile:
            a.walprofiles += ["%s %s, WAL by record type (bytes and records per statement)" % (
                op.upper(), LABEL[v])] + waldump_records(b, lsn0, lsn1, a.wal_n) + [""]
        log("   WAL %-6s %-30s %7.0f B/statement" % (op, LABEL[v], total / a.wal_n))
    return res


def cg_session(a, b, op, v, n):
    c = b.cluster
    pidfile = os.path.join(b.cgdir, "pid")
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    script = os.path.join(b.cgdir, "w_%s_%s.sql" % (op, v))
    with open(script, "w") as f:
        f.write(PID_PRELUDE % pidfile + open(b.script(op, v)).read())
    reset(c, "t_" + v, a.rows)
    run_pgbench(c, WRITER[v], 1, transactions=n, script=script,
                defines=["rows=%d" % a.rows, "first=1"], extra=[SEED])
    pid = open(pidfile).read().strip()
    path = os.path.join(b.cgdir, "callgrind.out." + pid)
    return cg_total(path), path


def cg_pass(a, b, conf):
    n1, n2 = a.n
    res, profiles = {}, []
    cg_start(b, conf)
    try:
        for op, v in workloads(a):
            for rep in range(a.repeat):
                (i1, f1), (i2, f2) = cg_session(a, b, op, v, n1), cg_session(a, b, op, v, n2)
                per = (i2 - i1) / (n2 - n1)
                res.setdefault((op, v), []).append(per)
                log("   Ir  %-6s %-30s %9.0f Ir/statement (fixed %.0f)" % (op, LABEL[v], per, i1 - per * n1))
                if rep == 0 and a.top and "%s_%s" % (op, v) in a.profile:
                    profiles += cg_profile(a, op, v, per, f1, f2)
                if not a.keep_files:
                    for f in (f1, f2):
                        os.unlink(f)
    finally:
        cg_stop(b)
    return res, profiles


def cg_profile(a, op, v, per, f1, f2):
    """The top functions of one workload, per statement (the N2 file's
    counts less the N1 file's)."""
    n1, n2 = a.n
    out = []
    for inclusive in (True, False):
        c1, c2 = cg_functions(f1, inclusive), cg_functions(f2, inclusive)
        d = sorted(((c2.get(k, 0) - c1.get(k, 0)) / (n2 - n1), k) for k in set(c1) | set(c2))
        d = [x for x in reversed(d) if not x[1].startswith("0x")]
        if inclusive:   # the entry points above the executor say nothing
            d = [x for x in d if x[0] < 0.97 * per]
        out.append("%s %s, top %d by %s cost (Ir per statement)" % (
            op.upper(), LABEL[v], a.top, "inclusive" if inclusive else "self"))
        out += ["  %9.0f  %s" % x for x in d[:a.top]]
        out.append("")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workdir")
    p.add_argument("--bindir", required=True)
    p.add_argument("--port", type=int, default=47311)
    p.add_argument("--ops", default="update", help="comma-separated: update,insert,delete")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated of " + ",".join(VARIANTS))
    p.add_argument("--n", default="100,1100", help="N1,N2 transactions of the two callgrind sessions")
    p.add_argument("--rows", type=int, default=100000)
    p.add_argument("--wal-rows", type=int, default=10000,
                   help="rows of the WAL run's table (small: the warm-up touches all its pages)")
    p.add_argument("--wal-n", type=int, default=2000, help="transactions of the WAL run")
    p.add_argument("--wal-warm", type=int, default=2000,
                   help="transactions run after the CHECKPOINT and before the WAL run, so that fewer of "
                        "the run's pages are first touched since the checkpoint (0: none)")
    p.add_argument("--top", type=int, default=0, metavar="K", help="profile: K functions by cost")
    p.add_argument("--profile", default="update_agent_soft",
                   help="comma-separated OP_VARIANT workloads --top profiles (default update_agent_soft)")
    p.add_argument("--repeat", type=int, default=1,
                   help="callgrind measurements per workload (printed: median, and min..max)")
    p.add_argument("--no-wal", action="store_true")
    p.add_argument("--no-callgrind", action="store_true")
    p.add_argument("--keep-files", action="store_true", help="keep the callgrind.out files")
    a = p.parse_args()
    a.ops = a.ops.split(",")
    a.variants = a.variants.split(",")
    a.profile = a.profile.split(",")
    a.n = [int(x) for x in a.n.split(",")]
    a.workdir = os.path.abspath(a.workdir)
    a.walprofiles = []
    conf = server_conf("256MB")
    b = Build(a.bindir, os.path.join(a.workdir, "cluster"), a.port)
    shutil.rmtree(b.cluster.path, ignore_errors=True)
    try:
        b.cluster.start(conf)
        prepare(b.cluster, VARIANTS, b.scripts)
        wal = {} if a.no_wal else wal_pass(a, b)
        b.cluster.stop()
        ir, profiles = ({}, []) if a.no_callgrind else cg_pass(a, b, conf)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        log("instructions: FAILED: %s" % e)
        for name in ("server.log", "valgrind.log"):
            logf = os.path.join(b.cluster.path, name)
            if os.path.exists(logf):
                log("--- tail of %s" % logf)
                log("".join(open(logf).readlines()[-20:]))
        return 1
    finally:
        b.cluster.stop()
        if getattr(b, "vg", None) is not None and b.vg.poll() is None:
            b.vg.kill()
    out = ["", "Per statement, -c 1 -M prepared; Ir: %d-row tables, callgrind, backend only, "
           "(Ir(N=%d) - Ir(N=%d)) / %d, median of %d; WAL: %d-row tables, %d statements after %d "
           "from a CHECKPOINT, sealed" % (a.rows, a.n[1], a.n[0], a.n[1] - a.n[0], a.repeat, a.wal_rows, a.wal_n, a.wal_warm), "",
           "| statement | writer, table | Ir/stmt | x base | WAL B/stmt | of it FPI | records/stmt |",
           "|---|---|---|---|---|---|---|"]
    base = statistics.median(ir[("update", "base")]) if ("update", "base") in ir else None
    for op, v in workloads(a):
        i = ir.get((op, v))
        w = wal.get((op, v))
        m = statistics.median(i) if i else None
        cells = [("%.0f" % m + (" (%.0f..%.0f)" % (min(i), max(i)) if len(i) > 1 else "")) if i else "-",
                 "%.2f" % (m / base) if i and base else "-"]
        if w:
            total, st = w
            cells += ["%.0f" % (total / a.wal_n)]
            cells += ["%.0f" % (st[2] / a.wal_n), "%.1f" % (st[0] / a.wal_n)] if st else ["-", "-"]
        else:
            cells += ["-", "-", "-"]
        out.append("| %s | %s | %s |" % (op.upper(), LABEL[v], " | ".join(cells)))
    if profiles or a.walprofiles:
        out += [""] + profiles + a.walprofiles
    print("\n".join(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
