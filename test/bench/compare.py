#!/usr/bin/env python3
"""Compare two builds of agent_guard in one invocation (issue 19: "no
regression, interleaved, same run, before and after").

Started by test/bench/compare.sh, which builds each git revision into its
own private PostgreSQL copy and passes their bindirs.  Two measurements,
each on the workloads below (bench.py's tables, scripts and writers):

tps     one cluster per build, both running; pgbench rounds alternate
        between them (the build that goes first alternates too), every
        run from a refilled table and a CHECKPOINT; prints the median tps
        of each build, NEW/OLD of the medians and the spread of the
        per-round NEW/OLD ratios.  Wall-clock numbers: on a loaded machine
        only the ratios mean anything, and only as far as their spread.

callgrind  each build's postmaster under valgrind --tool=callgrind
        --trace-children=yes (one callgrind.out.PID per process); each
        workload runs twice in one pgbench session each, N1 and N2
        transactions (--random-seed fixed), and the backend that ran it
        reports its pid (pg_backend_pid() written to a file by the script's
        first transaction), so the counted file is that backend's.
        Instructions per statement = (Ir(N2) - Ir(N1)) / (N2 - N1): the
        connection, the session's setup and the first planning cancel out
        (printed as "fixed").  Deterministic whatever the load.
        Each measurement is repeated (--cg-repeat): UPDATE and DELETE vary
        by a few percent, as heap pruning on the table depends on what the
        sealer, running beside them, holds back.
        --annotate adds, for every workload (first repetition), the per-function
        self cost per statement of each build (callgrind_annotate) and the
        largest differences.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Cluster, HERE, WRITER, log, prepare, reset, run_pgbench, server_conf  # noqa: E402

# name, operation (a bench.py script or "select1"), variant (table and writer)
WORKLOADS = [
    ("agent UPDATE, soft-delete table", "update", "agent_soft"),
    ("agent UPDATE, hard-delete table", "update", "agent_hard"),
    ("agent INSERT, soft-delete table", "insert", "agent_soft"),
    ("agent INSERT, hard-delete table", "insert", "agent_hard"),
    ("agent DELETE, soft-delete table", "delete", "agent_soft"),
    ("agent DELETE, hard-delete table", "delete", "agent_hard"),
    ("human UPDATE, protected table", "update", "human"),
    ("human UPDATE, unprotected (base)", "update", "base"),
    ("agent SELECT 1, no protected table", "select1", "agent"),
    ("human SELECT 1, no protected table", "select1", "human"),
]
TABLE_VARIANTS = ["base", "agent_soft", "agent_hard", "human"]
USER = dict(WRITER, agent="bench_agent")


class Build:
    def __init__(self, label, bindir, path, port):
        self.label, self.bindir = label, bindir
        self.cluster = Cluster(path, port, True, bindir=bindir)
        self.scripts = os.path.join(path, "scripts")

    def script(self, op, variant):
        if op == "select1":
            return os.path.join(HERE, "select1.sql")
        return os.path.join(self.scripts, "%s_%s.sql" % (op, variant))

    def setup(self, conf, rows):
        self.cluster.start(conf)
        prepare(self.cluster, TABLE_VARIANTS, self.scripts)
        for v in TABLE_VARIANTS:
            reset(self.cluster, "t_" + v, rows, also_checkpoint=False)


def fmt_ratio(x):
    return "%.3f" % x


# ------------------------------------------------------------------- tps
def tps_compare(a, builds):
    log("== tps: %d round(s) of %d s, %d client(s), %d-row tables, builds alternating"
        % (a.rounds, a.seconds, a.clients, a.rows))
    res = {}    # (workload index, build label) -> [tps per round]
    for rnd in range(a.rounds):
        for i, (name, op, v) in enumerate(WORKLOADS):
            order = builds if (rnd + i) % 2 == 0 else builds[::-1]
            for b in order:
                c = b.cluster
                if op == "select1":
                    c.psql("CHECKPOINT;")
                else:
                    reset(c, "t_" + v, a.rows)
                tps, _ = run_pgbench(c, USER[v], a.clients, seconds=a.seconds, script=b.script(op, v),
                                     defines=["rows=%d" % a.rows])
                res.setdefault((i, b.label), []).append(tps)
            log("   round %d  %-36s %s" % (rnd + 1, name, "  ".join(
                "%s %.0f" % (b.label, res[(i, b.label)][-1]) for b in builds)))
    old, new = builds
    out = ["Interleaved tps, %d round(s) of %d s, %d client(s), pgbench -M prepared, %d-row tables"
           % (a.rounds, a.seconds, a.clients, a.rows), "",
           "| workload | OLD %s median tps | NEW %s median tps | NEW/OLD | per-round NEW/OLD (min..max) |"
           % (old.label, new.label), "|---|---|---|---|---|"]
    for i, (name, op, v) in enumerate(WORKLOADS):
        o, n = res[(i, old.label)], res[(i, new.label)]
        per = [y / x for x, y in zip(o, n)]
        out.append("| %s | %.0f | %.0f | %s | %s..%s |" % (
            name, statistics.median(o), statistics.median(n),
            fmt_ratio(statistics.median(n) / statistics.median(o)), fmt_ratio(min(per)), fmt_ratio(max(per))))
    return "\n".join(out)


# ------------------------------------------------------------- callgrind
PID_PRELUDE = """\\if :first
SELECT pg_backend_pid() AS backend \\gset
\\shell echo :backend > %s
\\set first 0
\\endif
"""


def cg_start(b, conf):
    """Start b's cluster (already initialised) with its postmaster under callgrind."""
    c = b.cluster
    data = os.path.join(c.path, "data")
    b.cgdir = os.path.join(c.path, "callgrind")
    shutil.rmtree(b.cgdir, ignore_errors=True)
    os.makedirs(b.cgdir)
    logf = open(os.path.join(c.path, "valgrind.log"), "w")
    b.vg = subprocess.Popen(["valgrind", "--tool=callgrind", "--trace-children=yes",
                             "--callgrind-out-file=" + os.path.join(b.cgdir, "callgrind.out.%p"),
                             c.bin("postgres"), "-D", data],
                            stdout=logf, stderr=subprocess.STDOUT)
    for _ in range(600):
        if subprocess.run([c.bin("pg_isready"), "-q", "-h", c.path, "-p", str(c.port)]).returncode == 0:
            return
        if b.vg.poll() is not None:
            break
        time.sleep(1)
    raise RuntimeError("the postmaster under callgrind did not start (see %s/valgrind.log)" % c.path)


def cg_stop(b):
    b.cluster.stop()
    try:
        b.vg.wait(timeout=300)
    except subprocess.TimeoutExpired:
        b.vg.kill()


def cg_total(path, timeout=600):
    """Ir of a finished callgrind.out file (written when its process exits)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if os.path.exists(path):
            m = re.search(r"^totals: ([0-9]+)", open(path).read(), re.M)
            if m:
                return int(m.group(1))
        time.sleep(0.5)
    raise RuntimeError("no finished callgrind output in %s" % path)


def cg_run(a, b, op, v, n):
    """One pgbench session of n transactions under callgrind; return (Ir, file)."""
    c = b.cluster
    pidfile = os.path.join(b.cgdir, "pid")
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    script = os.path.join(b.cgdir, "w_%s_%s.sql" % (op, v))
    with open(script, "w") as f:
        f.write(PID_PRELUDE % pidfile + open(b.script(op, v)).read())
    if op == "select1":
        c.psql("CHECKPOINT;")
    else:
        reset(c, "t_" + v, a.cg_rows)
    run_pgbench(c, USER[v], 1, transactions=n, script=script,
                defines=["rows=%d" % a.cg_rows, "first=1"], extra=["--random-seed=20261204"])
    pid = open(pidfile).read().strip()
    path = os.path.join(b.cgdir, "callgrind.out." + pid)
    return cg_total(path), path


ANN_LINE = re.compile(r"^\s*([0-9,]+)\s+(?:\([ 0-9.]+%\)\s+)?(\S.*?)\s*$")


def cg_functions(path, inclusive=False):
    """Self (or inclusive) cost (Ir) per function of one callgrind.out file,
    keyed by "function [object file name]"."""
    p = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100",
                        "--inclusive=" + ("yes" if inclusive else "no"), path],
                       capture_output=True, text=True, check=True)
    lines = p.stdout.splitlines()
    funcs = {}
    start = next(i for i, l in enumerate(lines) if re.match(r"^Ir\s+file:function", l)) + 2
    for line in lines[start:]:
        if not line.strip():
            break
        m = ANN_LINE.match(line)
        if m:
            name = re.sub(r"^.*?:(?=[^:/]+( \[|$))", "", m.group(2))
            name = re.sub(r"\[.*/([^/]+)\]$", r"[\1]", name)
            funcs[name] = funcs.get(name, 0) + int(m.group(1).replace(",", ""))
    return funcs


def callgrind_compare(a, builds, conf):
    n1, n2 = a.cg_statements
    log("== callgrind: each workload in one pgbench session of %d and of %d transactions, %d-row tables"
        % (n1, n2, a.cg_rows))
    res, files = {}, {}
    for b in builds:
        cg_start(b, conf)
        try:
            for rep in range(a.cg_repeat):
                for i, (name, op, v) in enumerate(WORKLOADS):
                    (i1, f1), (i2, f2) = cg_run(a, b, op, v, n1), cg_run(a, b, op, v, n2)
                    per = (i2 - i1) / (n2 - n1)
                    res.setdefault((i, b.label), []).append((per, i1 - per * n1))
                    files.setdefault((i, b.label), (f1, f2))
                    log("   %-4s %-36s %10.0f Ir/statement  (fixed %.0f)" % (b.label, name, per, i1 - per * n1))
        finally:
            cg_stop(b)
    old, new = builds
    out = ["Instructions per statement (callgrind, backend only; (Ir(N=%d) - Ir(N=%d)) / %d; "
           "\"fixed\" = connection + session setup + first planning; median of %d, min..max)"
           % (n2, n1, n2 - n1, a.cg_repeat), "",
           "| workload | OLD %s Ir/stmt | NEW %s Ir/stmt | NEW/OLD | NEW-OLD | fixed OLD | fixed NEW |"
           % (old.label, new.label), "|---|---|---|---|---|---|---|"]

    def cell(vals):
        m = statistics.median(vals)
        return ("%.0f" % m) if len(vals) == 1 else "%.0f (%.0f..%.0f)" % (m, min(vals), max(vals))
    for i, (name, op, v) in enumerate(WORKLOADS):
        ro, rn = res[(i, old.label)], res[(i, new.label)]
        po, pn = statistics.median(x[0] for x in ro), statistics.median(x[0] for x in rn)
        out.append("| %s | %s | %s | %s | %+.0f | %.0f | %.0f |"
                   % (name, cell([x[0] for x in ro]), cell([x[0] for x in rn]), fmt_ratio(pn / po), pn - po,
                      statistics.median(x[1] for x in ro), statistics.median(x[1] for x in rn)))
    if a.annotate:
        for i, (name, op, v) in enumerate(WORKLOADS):
            for inclusive in (False, True):
                per = {}
                for b in builds:
                    f1, f2 = files[(i, b.label)]
                    c1, c2 = cg_functions(f1, inclusive), cg_functions(f2, inclusive)
                    per[b.label] = {k: (c2.get(k, 0) - c1.get(k, 0)) / (n2 - n1) for k in set(c1) | set(c2)}
                po, pn = per[old.label], per[new.label]
                keys = set(po) | set(pn)
                if inclusive:   # only the extension's own functions: where its cost enters
                    keys = [k for k in keys if k.endswith("[agent_guard.so]")]
                delta = sorted(((pn.get(k, 0) - po.get(k, 0), k) for k in keys), key=lambda t: -abs(t[0]))
                out += ["", "%s: %s Ir per statement by function, largest differences" % (
                    name, "inclusive (agent_guard.so functions)" if inclusive else "self"), "",
                    "| function | OLD | NEW | NEW-OLD |", "|---|---|---|---|"]
                for d, k in delta[:a.annotate]:
                    out.append("| %s | %.0f | %.0f | %+.0f |" % (k, po.get(k, 0), pn.get(k, 0), d))
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workdir")
    p.add_argument("--old-bindir", required=True)
    p.add_argument("--new-bindir", required=True)
    p.add_argument("--old-label", default="old")
    p.add_argument("--new-label", default="new")
    p.add_argument("--port", type=int, default=58532)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--rows", type=int, default=200000)
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--cg-statements", default="50,250", help="N1,N2 transactions of the callgrind sessions")
    p.add_argument("--cg-rows", type=int, default=10000)
    p.add_argument("--cg-repeat", type=int, default=3,
                   help="callgrind measurements per workload and build (UPDATE and DELETE vary by a few "
                        "percent with heap pruning, which depends on the sealer's timing)")
    p.add_argument("--annotate", type=int, default=0, metavar="K",
                   help="print the K functions whose self cost per statement differs most")
    p.add_argument("--no-tps", action="store_true")
    p.add_argument("--no-callgrind", action="store_true")
    p.add_argument("--shared-buffers", default="256MB")
    p.add_argument("--output", help="also write the tables to this file")
    a = p.parse_args()
    a.cg_statements = [int(x) for x in a.cg_statements.split(",")]
    a.workdir = os.path.abspath(a.workdir)
    conf = server_conf(a.shared_buffers)
    builds = [Build(a.old_label, a.old_bindir, os.path.join(a.workdir, "old"), a.port),
              Build(a.new_label, a.new_bindir, os.path.join(a.workdir, "new"), a.port + 1)]
    text = []
    try:
        log("== starting one cluster per build in %s" % a.workdir)
        for b in builds:
            b.setup(conf, a.rows)
        if not a.no_tps:
            text.append(tps_compare(a, builds))
        for b in builds:
            b.cluster.stop()
        if not a.no_callgrind:
            text.append(callgrind_compare(a, builds, conf))
        print("\n" + "\n\n".join(text), flush=True)
        if a.output:
            with open(a.output, "w") as f:
                f.write("\n\n".join(text) + "\n")
    except (RuntimeError, subprocess.CalledProcessError) as e:
        log("compare: FAILED: %s" % e)
        for b in builds:
            for name in ("server.log", "valgrind.log"):
                logf = os.path.join(b.cluster.path, name)
                if os.path.exists(logf):
                    log("--- tail of %s" % logf)
                    log("".join(open(logf).readlines()[-20:]))
        return 1
    finally:
        for b in builds:
            b.cluster.stop()
            if getattr(b, "vg", None) is not None and b.vg.poll() is None:
                b.vg.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
