#!/usr/bin/env python3
"""agent_guard benchmark driver (issue 9).

Started by test/bench/run.sh (the documented entry command) or, in smoke
mode, by test/suites.sh.  It starts its own throwaway clusters in WORKDIR,
runs every measurement in interleaved rounds (the order of the variants
rotates from round to round; each measurement starts from fresh state and a
CHECKPOINT) and prints medians, ratios to the baseline and WAL bytes per
changed row, then one line per target of issue 21 with its measured ratio
and "met" or "not met".  During the 1-row runs with the most clients the
unsealed backlog (committed events the sealer has not sealed yet) is sampled
(--backlog-interval) and printed with its trend.  It never fails on a
timing: the exit status says only whether every measurement ran (smoke mode
relies on that).

Clusters:
  A  agent_guard preloaded; databases "bench" (writes, hooks, rollback) and
     "bench_verify" (the 1,000,000-event log for verify_log)
  B  the same server settings without agent_guard, for the per-statement
     cost of the hooks

Roles: bench_agent (registered agent, non-superuser, owns the tables),
bench_human (non-superuser, granted what it writes).  Resets and CHECKPOINT
run as the bootstrap superuser.

Variants of the write measurements:
  base        unprotected table, written by bench_human (the baseline)
  agent_soft  protect(soft_delete => true), written by bench_agent
  agent_hard  protect(soft_delete => false), written by bench_agent
  human       protect(soft_delete => true), written by bench_human
  audit       unprotected, PL/pgSQL AFTER trigger with to_jsonb(OLD/NEW)
              (audit_trigger.sql), written by bench_human
  pgaudit     unprotected, written by bench_human on cluster C: pgaudit
              preloaded with pgaudit.log = 'write' (logged to its server.log),
              no agent_guard (issue 21); left out, with a note, when the
              PostgreSQL installation has no pgaudit.so

test/bench/compare.py imports Cluster, prepare(), reset() and run_pgbench()
to run the same workloads against two builds.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = ["base", "agent_soft", "agent_hard", "human", "audit", "pgaudit"]
WRITER = {"base": "bench_human", "agent_soft": "bench_agent", "agent_hard": "bench_agent",
          "human": "bench_human", "audit": "bench_human", "pgaudit": "bench_human"}
PROTECT = {"agent_soft": True, "agent_hard": False, "human": True}
PAD = "'padding of forty characters, every row.'"


def log(*a):
    print(*a, flush=True)


class Cluster:
    """A throwaway cluster.  preload: True for agent_guard, or the value of
    shared_preload_libraries; bindir: the PostgreSQL installation whose
    programs run it (default: the first on PATH)."""
    def __init__(self, path, port, preload, bindir=None):
        self.path, self.port, self.bindir = path, port, bindir
        self.preload = "agent_guard" if preload is True else preload
        self.guarded = "agent_guard" in (self.preload or "")

    def bin(self, program):
        return os.path.join(self.bindir, program) if self.bindir else program

    def init(self, extra):
        os.makedirs(self.path, exist_ok=True)
        data = os.path.join(self.path, "data")
        subprocess.run([self.bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        with open(os.path.join(data, "postgresql.conf"), "a") as f:
            if self.preload:
                f.write("shared_preload_libraries = '%s'\n" % self.preload)
            f.write("listen_addresses = ''\nunix_socket_directories = '%s'\nport = %d\n"
                    % (self.path, self.port))
            for line in extra:
                f.write(line + "\n")

    def start(self, extra):
        self.init(extra)
        subprocess.run([self.bin("pg_ctl"), "-D", os.path.join(self.path, "data"), "-l",
                        os.path.join(self.path, "server.log"), "-w", "-t", "120", "start"],
                       check=True, stdout=subprocess.DEVNULL)

    def stop(self):
        subprocess.run([self.bin("pg_ctl"), "-D", os.path.join(self.path, "data"), "-m", "fast", "-w",
                        "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def conn_args(self, user, db):
        return ["-h", self.path, "-p", str(self.port), "-U", user, "-d", db]

    def psql(self, sql, user="postgres", db="bench", env=None):
        """Run SQL (a script), return stdout; fail loudly on any error."""
        e = dict(os.environ)
        e.pop("PGOPTIONS", None)
        if env:
            e.update(env)
        p = subprocess.run([self.bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
                           + self.conn_args(user, db),
                           input=sql, text=True, capture_output=True, env=e)
        if p.returncode != 0:
            raise RuntimeError("psql as %s failed: %s\n--- SQL:\n%s" % (user, p.stderr, sql[:2000]))
        return p.stdout

    def value(self, sql, **kw):
        return self.psql(sql, **kw).strip()

    def lsn(self, db="bench"):
        return self.value("SELECT pg_current_wal_lsn()", db=db)

    def wal_since(self, lsn, db="bench"):
        return int(float(self.value("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '%s')" % lsn, db=db)))

    def timed(self, statements, user, db="bench", env=None):
        """Run statements in one session; return (ms of each, WAL bytes)."""
        script = ["SELECT pg_current_wal_lsn() AS l0 \\gset", "\\timing on"]
        script += [s.rstrip(";") + ";" for s in statements]
        script += ["\\timing off", "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), :'l0');"]
        out = self.psql("\n".join(script) + "\n", user=user, db=db, env=env)
        times = [float(t) for t in re.findall(r"^Time: ([0-9.]+) ms", out, re.M)]
        if len(times) != len(statements):
            raise RuntimeError("could not read timings from psql:\n" + out)
        wal = int(float(out.strip().splitlines()[-1]))
        return times, wal


def server_conf(shared_buffers):
    """The settings of every benchmark cluster."""
    conf = ["fsync = off", "synchronous_commit = off", "shared_buffers = '%s'" % shared_buffers,
            "max_wal_size = '8GB'", "checkpoint_timeout = '1h'", "autovacuum = off",
            "max_connections = 50", "log_checkpoints = off"]
    # the bulk and 100,000-row measurements are agent writes on purpose:
    # the gates' row limits would (rightly) stop them
    return conf + ["agent_guard.max_rows_per_statement = -1", "agent_guard.max_rows_per_run = -1"]


def prepare(cluster, variants, scripts, dbs=("bench",), extra_tables=()):
    """Roles, database(s), agent_guard (if preloaded), one table t_V per
    variant (owned by bench_agent, granted to bench_human; protected as
    PROTECT says; the audit trigger on t_audit) and the pgbench scripts of
    every operation and variant in the directory scripts."""
    guarded = cluster.guarded
    cluster.psql(("CREATE ROLE bench_agent LOGIN; " if guarded else "") + "CREATE ROLE bench_human LOGIN;\n"
                 + "".join("CREATE DATABASE %s;\n" % db for db in dbs), db="postgres")
    if guarded:
        for db in dbs:
            cluster.psql("CREATE EXTENSION agent_guard;\n"
                         "SELECT agent_guard.register_agent('bench_agent');\n"
                         "GRANT ALL ON SCHEMA public TO bench_agent, bench_human;\n", db=db)
        # a blast-radius limit, where the server has one, would refuse the bulk runs
        limits = cluster.psql("SELECT name FROM pg_settings WHERE name IN "
                              "('agent_guard.max_rows_per_statement', 'agent_guard.max_rows_per_run', "
                              "'agent_guard.max_rows_per_minute')", db=dbs[0]).split()
        if limits:
            cluster.psql("".join("ALTER SYSTEM SET %s = 2000000000;\n" % n for n in limits)
                         + "SELECT pg_reload_conf();\n", db="postgres")
    else:
        cluster.psql("GRANT ALL ON SCHEMA public TO bench_human;\n", db=dbs[0])
    owner = "bench_agent" if guarded else "bench_human"
    sql = [open(os.path.join(HERE, "audit_trigger.sql")).read()]
    for v in list(variants) + list(extra_tables):
        sql.append("CREATE TABLE t_%s (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                   "v integer NOT NULL, pad text NOT NULL);" % v)
        sql.append("ALTER TABLE t_%s OWNER TO %s;" % (v, owner))
        sql.append("GRANT ALL ON t_%s TO bench_human;" % v)
        sql.append("GRANT ALL ON SEQUENCE t_%s_id_seq TO bench_human;" % v)
    sql.append("GRANT ALL ON bench_audit_log TO bench_human;")
    if "audit" in variants:
        sql.append("CREATE TRIGGER bench_audit AFTER INSERT OR UPDATE OR DELETE ON t_audit "
                   "FOR EACH ROW EXECUTE FUNCTION bench_audit();")
    for v, soft in PROTECT.items():
        if v in variants:
            sql.append("SELECT agent_guard.protect('t_%s', soft_delete => %s);" % (v, soft))
    cluster.psql("\n".join(sql) + "\n", db=dbs[0])
    os.makedirs(scripts, exist_ok=True)
    for op in ("insert", "update", "delete"):
        text = open(os.path.join(HERE, op + ".sql")).read()
        for v in variants:
            with open(os.path.join(scripts, "%s_%s.sql" % (op, v)), "w") as f:
                f.write(text.replace("@TABLE@", "t_" + v))


def reset(cluster, table, rows, also_checkpoint=True):
    """Fresh state: the table refilled, the logs emptied, a checkpoint."""
    # the sealer may be busy with the previous measurement's events: stop
    # it (the next agent commit starts it again) rather than wait
    sql = ["SET session_replication_role = replica;",
           "TRUNCATE %s, bench_audit_log RESTART IDENTITY;" % table,
           "INSERT INTO %s (v, pad) SELECT g, %s FROM generate_series(1, %d) g;" % (table, PAD, rows),
           "SELECT setval(pg_get_serial_sequence('%s', 'id'), %d);" % (table, rows),
           "RESET session_replication_role;",
           "VACUUM ANALYZE %s;" % table, "VACUUM ANALYZE bench_audit_log;"]
    if cluster.guarded:
        sql = ["SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
               "WHERE backend_type = 'agent_guard sealer' AND datname = current_database();",
               # statement rows: agent_guard.statement_rows since 1.2
               # (agent_guard.statements is a view then), compare.sh
               # measures builds of before too
               "DO $$ BEGIN IF to_regclass('agent_guard.statement_rows') IS NOT NULL THEN "
               "TRUNCATE agent_guard.events, agent_guard.statement_rows; "
               "ELSE TRUNCATE agent_guard.events, agent_guard.statements; END IF; END $$;"] + sql
        sql.append("VACUUM ANALYZE agent_guard.events;")
    if also_checkpoint:
        sql.append("CHECKPOINT;")
    cluster.psql("\n".join(sql) + "\n")


def run_pgbench(cluster, user, clients, seconds=0, transactions=0, script=None, builtin=None,
                defines=(), extra=(), sampler=None):
    """One pgbench run (prepared statements); return (tps, transactions).
    sampler, if given, is started beside pgbench and stopped when it ends
    (Sampler below)."""
    cmd = [cluster.bin("pgbench"), "-n", "-M", "prepared", "-c", str(clients), "-j", str(clients)]
    cmd += ["-t", str(transactions)] if transactions else ["-T", str(seconds)]
    for d in defines:
        cmd += ["-D", d]
    cmd += list(extra)
    cmd += ["-f", script] if script else ["-b", builtin]
    cmd += cluster.conn_args(user, "bench")[:-2] + ["bench"]
    e = dict(os.environ)
    e.pop("PGOPTIONS", None)
    if sampler:
        sampler.start()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=e)
    finally:
        if sampler:
            sampler.stop()
    if p.returncode != 0 or "failed transactions: 0 " not in p.stdout and \
            "number of failed transactions" in p.stdout:
        raise RuntimeError("pgbench failed (%s):\n%s\n%s" % (" ".join(cmd), p.stdout, p.stderr))
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial", p.stdout).group(1))
    n = int(re.search(r"number of transactions actually processed: ([0-9]+)", p.stdout).group(1))
    return tps, n


BACKLOG_SQL = "SELECT count(*) FROM agent_guard.events e, agent_guard.chain_state c WHERE e.seal_seq IS NULL AND (e.event_id > c.sealed_through OR c.gaps @> e.event_id)"


class Sampler:
    """The unsealed backlog (committed events the sealer has not sealed
    yet), sampled every interval seconds while a pgbench run lasts, once at
    its start and once at its end: a list of (seconds since start, events)."""
    def __init__(self, cluster, interval):
        self.cluster, self.interval = cluster, interval
        self.samples, self.error = [], None
        self._done = threading.Event()
        self._thread = None

    def sample(self):
        try:
            self.samples.append((time.time() - self.t0, int(self.cluster.value(BACKLOG_SQL))))
        except (RuntimeError, ValueError) as ex:
            self.error = ex

    def run(self):
        while not self._done.wait(self.interval):
            self.sample()

    def start(self):
        self.t0 = time.time()
        self.sample()
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()

    def stop(self):
        self._done.set()
        self._thread.join()
        self.sample()
        if self.error:
            raise RuntimeError("could not sample the unsealed backlog: %s" % self.error)


def backlog_trend(samples):
    """Least-squares slope (events per second) of the samples of the run's
    second half (at least the last two samples)."""
    end = samples[-1][0]
    pts = [s for s in samples if s[0] >= end / 2]
    if len(pts) < 2:
        pts = samples[-2:]
    if len(pts) < 2:
        return 0.0
    mt = sum(t for t, _ in pts) / len(pts)
    mb = sum(b for _, b in pts) / len(pts)
    den = sum((t - mt) ** 2 for t, _ in pts)
    return sum((t - mt) * (b - mb) for t, b in pts) / den if den else 0.0


def has_pgaudit(bindir=None):
    cfg = os.path.join(bindir, "pg_config") if bindir else "pg_config"
    try:
        lib = subprocess.run([cfg, "--pkglibdir"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return False
    return os.path.exists(os.path.join(lib, "pgaudit.so"))


class Bench:
    def __init__(self, a):
        self.a = a
        self.results = {}   # key -> list of (value, wal per row or None)
        self.scripts = os.path.join(a.workdir, "scripts")
        self.conf = server_conf(a.shared_buffers)
        self.A = Cluster(os.path.join(a.workdir, "A"), a.port, True)
        self.B = Cluster(os.path.join(a.workdir, "B"), a.port + 1, False)
        self.C = Cluster(os.path.join(a.workdir, "C"), a.port + 2, "pgaudit")
        self.variants = [v for v in VARIANTS if v != "pgaudit" or has_pgaudit()]
        if "pgaudit" not in self.variants:
            log("== pgaudit.so is not installed: the pgaudit variant is left out")

    def add(self, key, value, wal=None):
        self.results.setdefault(key, []).append((value, wal))

    def cluster(self, variant):
        return self.C if variant == "pgaudit" else self.A

    # ---------------------------------------------------------------- setup
    def setup(self):
        a = self.a
        log("== starting clusters in %s (A preloads agent_guard, B does not, C preloads pgaudit)"
            % a.workdir)
        self.A.start(self.conf)
        self.B.start(self.conf)
        prepare(self.A, [v for v in self.variants if v != "pgaudit"], self.scripts,
                dbs=("bench", "bench_verify"), extra_tables=("rb", "rb_soft"))
        self.A.psql("SELECT agent_guard.protect('t_rb', soft_delete => false);\n"
                    "SELECT agent_guard.protect('t_rb_soft', soft_delete => true);\n")
        self.B.psql("CREATE ROLE bench_human LOGIN; CREATE DATABASE bench;", db="postgres")
        if "pgaudit" in self.variants:
            self.C.start(self.conf + ["pgaudit.log = 'write'"])
            prepare(self.C, ["pgaudit"], self.scripts)
        for c in (self.A, self.B):
            subprocess.run([c.bin("pgbench"), "-i", "-q", "-n", "-s", str(max(1, a.rows // 100000))]
                           + c.conn_args("postgres", "bench")[:-2] + ["bench"],
                           check=True, capture_output=True)
            c.psql("GRANT SELECT ON pgbench_accounts, pgbench_branches TO bench_human;\n"
                   "VACUUM ANALYZE pgbench_accounts;\n")
        self.A.psql("GRANT SELECT ON pgbench_accounts, pgbench_branches TO bench_agent;")

    def reset(self, table, rows, also_checkpoint=True, cluster=None):
        reset(cluster or self.A, table, rows, also_checkpoint)

    def pgbench(self, cluster, user, clients, script=None, builtin=None, defines=(), sampler=None):
        return run_pgbench(cluster, user, clients, self.a.seconds, self.a.transactions,
                           script=script, builtin=builtin, defines=defines, sampler=sampler)

    # --------------------------------------------------------- measurements
    def single_row(self, rnd):
        vs = self.variants
        order = vs[rnd % len(vs):] + vs[:rnd % len(vs)]
        for op in ("insert", "update", "delete"):
            for clients in self.a.clients:
                for v in order:
                    c = self.cluster(v)
                    self.reset("t_" + v, self.a.rows, cluster=c)
                    # the sealer's backlog under the most agent clients
                    sampler = None
                    if clients == self.a.clients[-1] and v in ("agent_soft", "agent_hard"):
                        sampler = Sampler(c, self.a.backlog_interval)
                    l0 = c.lsn()
                    tps, n = self.pgbench(c, WRITER[v], clients,
                                          script=os.path.join(self.scripts, "%s_%s.sql" % (op, v)),
                                          defines=["rows=%d" % self.a.rows], sampler=sampler)
                    wal = c.wal_since(l0) / max(n, 1)
                    self.add(("1row", op, clients, v), tps, wal)
                    if sampler:
                        self.add(("backlog", op, v), sampler.samples, n)
                log("   1-row %-6s %d client(s): %s" % (op, clients, "  ".join(
                    "%s %.0f" % (v, self.results[("1row", op, clients, v)][-1][0]) for v in vs)))

    def bulk(self, rnd):
        vs = self.variants
        order = vs[rnd % len(vs):] + vs[:rnd % len(vs)]
        n = self.a.bulk
        for op in ("update", "delete"):
            for v in order:
                c = self.cluster(v)
                self.reset("t_" + v, self.a.rows, cluster=c)
                stmt = ("UPDATE t_%s SET v = v + 1 WHERE id <= %d" if op == "update"
                        else "DELETE FROM t_%s WHERE id <= %d") % (v, n)
                (ms,), wal = c.timed([stmt], WRITER[v])
                self.add(("bulk", op, v), ms, wal / n)
            log("   bulk %-6s %d rows: %s" % (op, n, "  ".join(
                "%s %.0f ms" % (v, self.results[("bulk", op, v)][-1][0]) for v in vs)))

    def hooks(self, rnd):
        cases = [("nopreload", self.B, "bench_human"), ("human", self.A, "bench_human"),
                 ("agent", self.A, "bench_agent")]
        cases = cases[rnd % 3:] + cases[:rnd % 3]
        for what in ("select1", "select_only"):
            for name, cluster, user in cases:
                cluster.psql("CHECKPOINT;")
                if what == "select1":
                    tps, _ = self.pgbench(cluster, user, 2, script=os.path.join(HERE, "select1.sql"))
                else:
                    tps, _ = self.pgbench(cluster, user, 2, builtin="select-only")
                self.add(("hooks", what, name), tps)
            log("   hooks %-11s: %s" % (what, "  ".join(
                "%s %.0f" % (c[0], self.results[("hooks", what, c[0])][-1][0]) for c in cases)))

    def rollback(self, rnd):
        """A run of UPDATE, DELETE and INSERT by the agent, then rollback_run(),
        on a hard-delete table (t_rb) and a soft-delete one (t_rb_soft)."""
        kinds = [("hard", "t_rb"), ("soft", "t_rb_soft")]
        for kind, table in kinds[rnd % 2:] + kinds[:rnd % 2]:
            self.rollback_one(rnd, kind, table)

    def rollback_one(self, rnd, kind, table):
        n = self.a.rollback_rows
        half, quarter = n // 2, n // 4
        self.reset(table, max(self.a.rows, n))
        run = "bench-rb-%s-%d" % (kind, rnd)
        times, wal = self.A.timed([
            "UPDATE %s SET v = v + 1 WHERE id <= %d" % (table, half),
            "DELETE FROM %s WHERE id > %d AND id <= %d" % (table, half, half + quarter),
            "INSERT INTO %s (v, pad) SELECT g, %s FROM generate_series(1, %d) g" % (table, PAD, n - half - quarter),
        ], "bench_agent", env={"PGOPTIONS": "-c agent_guard.run_id=" + run})
        # Sealing the run's events is the run's own background work: let it
        # end before timing the rollback, which would otherwise share the
        # cores with it (and read the rows it is updating).
        while self.A.value("SELECT agent_guard.seal_log()") != "0":
            pass
        self.A.psql("CHECKPOINT;")
        (ms,), rwal = self.A.timed(["SELECT count(*) FROM agent_guard.rollback_run('%s', apply => true)" % run],
                                   "postgres")
        left = self.A.value("SELECT count(*) FROM %s WHERE v <> id%s"
                            % (table, " OR ag_deleted_at IS NOT NULL" if kind == "soft" else ""))
        if left != "0" or self.A.value("SELECT count(*) FROM %s" % table) != str(max(self.a.rows, n)):
            raise RuntimeError("rollback of %s left %s rows changed" % (table, left))
        self.add(("rollback", kind, "run"), sum(times), wal / n)
        self.add(("rollback", kind, "rollback"), ms, rwal / n)
        log("   rollback of %d rows (%s delete): run %.0f ms, rollback %.0f ms" % (n, kind, sum(times), ms))

    def verify(self):
        n = self.a.verify_events
        log("== building %d events in bench_verify (agent bulk inserts, then seal_log)" % n)
        self.A.psql("CREATE TABLE t_v (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                    "v integer NOT NULL, pad text NOT NULL);\n"
                    "ALTER TABLE t_v OWNER TO bench_agent;\n"
                    "SELECT agent_guard.protect('t_v', soft_delete => false);\n", db="bench_verify")
        t0 = time.time()
        chunk = 100000
        for lo in range(1, n + 1, chunk):
            hi = min(n, lo + chunk - 1)
            self.A.psql("INSERT INTO t_v (v, pad) SELECT g, %s FROM generate_series(%d, %d) g;"
                        % (PAD, lo, hi), user="bench_agent", db="bench_verify")
        t1 = time.time()
        while self.A.value("SELECT agent_guard.seal_log()", db="bench_verify") != "0":
            pass
        t2 = time.time()
        self.A.psql("VACUUM ANALYZE agent_guard.events;", db="bench_verify")
        self.verify_build = (t1 - t0, t2 - t1)
        for _ in range(self.a.rounds):
            self.A.psql("CHECKPOINT;", db="bench_verify")
            (ms,), _w = self.A.timed(["SELECT * FROM agent_guard.verify_log()"], "postgres",
                                     db="bench_verify")
            self.add(("verify",), ms)
        out = self.A.value("SELECT ok, events_checked FROM agent_guard.verify_log()", db="bench_verify")
        ok, checked = out.split("|")
        if ok != "t" or int(checked) < n:
            raise RuntimeError("verify_log did not verify %d events: %s" % (n, out))
        self.verify_checked = int(checked)

    # --------------------------------------------------------------- report
    def med(self, key, wal=False):
        vals = [w if wal else v for v, w in self.results.get(key, [])]
        vals = [x for x in vals if x is not None]
        return statistics.median(vals) if vals else None

    def report(self):
        a = self.a
        out = []
        out.append("agent_guard benchmark: %s, %d round(s), %s, %d-row tables, bulk %d rows"
                   % ("smoke mode" if a.smoke else "full", a.rounds,
                      ("%d transactions per pgbench run" % a.transactions) if a.transactions
                      else ("%d s per pgbench run" % a.seconds), a.rows, a.bulk))
        out.append("machine: %s, %d cores; PostgreSQL %s; synchronous_commit off, pgbench -M prepared"
                   % (cpu_model(), os.cpu_count(), self.A.value("SHOW server_version")))
        if "pgaudit" in self.variants:
            out.append("pgaudit: its own cluster (pgaudit preloaded, pgaudit.log = 'write', no agent_guard), "
                       "ratios to base of cluster A")
        out.append("")
        out.append("Single-row statements by pgbench: median tps (ratio to base) and WAL bytes per changed row")
        out.append("")
        out.append("| statement | clients | " + " | ".join(self.variants) + " |")
        out.append("|---|---" + "|---" * len(self.variants) + "|")
        for op in ("insert", "update", "delete"):
            for c in a.clients:
                base = self.med(("1row", op, c, "base"))
                cells = []
                for v in self.variants:
                    m = self.med(("1row", op, c, v))
                    w = self.med(("1row", op, c, v), wal=True)
                    cells.append("%.0f (%.2f) %.0f B" % (m, m / base, w))
                out.append("| %s | %d | %s |" % (op.upper(), c, " | ".join(cells)))
        out.append("")
        out.append("Scaling, tps at %d clients / tps at %d client(s):  %s" % (
            a.clients[-1], a.clients[0], "  ".join(
                "%s %.2f" % (v, self.med(("1row", op, a.clients[-1], v)) / self.med(("1row", op, a.clients[0], v)))
                for op in ("update",) for v in self.variants)))
        out.append("")
        out.append("Bulk statements of %d rows: median ms (times base) and WAL bytes per changed row" % a.bulk)
        out.append("")
        out.append("| statement | " + " | ".join(self.variants) + " |")
        out.append("|---" + "|---" * len(self.variants) + "|")
        for op in ("update", "delete"):
            base = self.med(("bulk", op, "base"))
            cells = ["%.0f (%.2fx) %.0f B" % (self.med(("bulk", op, v)), self.med(("bulk", op, v)) / base,
                                            self.med(("bulk", op, v), wal=True)) for v in self.variants]
            out.append("| %s | %s |" % (op.upper(), " | ".join(cells)))
        soft = self.med(("bulk", "delete", "agent_soft")) / self.med(("bulk", "update", "base"))
        out.append("")
        out.append("Agent soft DELETE of %d rows / base UPDATE of the same rows: %.2fx" % (a.bulk, soft))
        out.append("")
        out.append("Sessions that touch no protected table, 2 clients: median tps (ratio to no agent_guard)")
        out.append("")
        out.append("| statement | no agent_guard | human session | agent session |")
        out.append("|---|---|---|---|")
        for what, label in (("select1", "SELECT 1"), ("select_only", "pgbench select-only")):
            b = self.med(("hooks", what, "nopreload"))
            out.append("| %s | %.0f | %.0f (%.3f) | %.0f (%.3f) |" % (
                label, b, self.med(("hooks", what, "human")), self.med(("hooks", what, "human")) / b,
                self.med(("hooks", what, "agent")), self.med(("hooks", what, "agent")) / b))
        out.append("")
        for kind in ("hard", "soft"):
            run, rb = self.med(("rollback", kind, "run")), self.med(("rollback", kind, "rollback"))
            out.append("Rollback of a %d-row run (50%% UPDATE, 25%% DELETE, 25%% INSERT), %s-delete table: "
                       "run %.0f ms, rollback_run(apply => true) %.0f ms: %.2fx; WAL per row: run %.0f B, "
                       "rollback %.0f B"
                       % (a.rollback_rows, kind, run, rb, rb / run, self.med(("rollback", kind, "run"), wal=True),
                          self.med(("rollback", kind, "rollback"), wal=True)))
        out.append("verify_log() over %d sealed events: %.0f ms median (building them: agent inserts %.1f s, "
                   "seal_log %.1f s)" % (self.verify_checked, self.med(("verify",)),
                                         self.verify_build[0], self.verify_build[1]))
        out.append("")
        out += self.backlog_report()
        out.append("")
        out += self.targets()
        return "\n".join(out)

    def backlog(self):
        """Per (operation, agent variant): median over the rounds of the
        backlog at the end of the run, of its trend (events/s over the run's
        second half) and of the rate of writes (events/s)."""
        res = {}
        for op in ("insert", "update", "delete"):
            for v in ("agent_soft", "agent_hard"):
                runs = self.results.get(("backlog", op, v), [])
                if not runs:
                    continue
                res[(op, v)] = (statistics.median(s[-1][1] for s, n in runs),
                                statistics.median(backlog_trend(s) for s, n in runs),
                                statistics.median(n / max(s[-1][0], 1e-3) for s, n in runs),
                                max(b for s, n in runs for t, b in s))
        return res

    def backlog_report(self):
        c = self.a.clients[-1]
        out = ["Unsealed backlog (committed events not sealed yet) during the 1-row runs with %d agent clients, "
               "sampled every %g s: median over the rounds" % (c, self.a.backlog_interval), "",
               "| statement | variant | events/s written | backlog at the end | largest seen "
               "| trend over the second half |", "|---|---|---|---|---|---|"]
        for (op, v), (end, trend, rate, peak) in sorted(self.backlog().items()):
            out.append("| %s | %s | %.0f | %.0f | %.0f | %+.0f events/s (%+.1f%% of the write rate) |"
                       % (op.upper(), v, rate, end, peak, trend, 100.0 * trend / max(rate, 1e-9)))
        return out

    def targets(self):
        """Issue 21's targets, one line each: the measured ratio (the worst
        case where a target covers several) and met / not met."""
        a = self.a
        out = ["Targets of issue 21 (ratios of this run; where a target covers several cases, the worst is shown)"
               + (" -- smoke sizes: the ratios mean nothing" if a.smoke else ""), ""]

        def line(text, value, ok):
            out.append("- %s: %s: %s" % (text, value, "met" if ok else "not met"))

        ops = ("insert", "update", "delete")
        agents = ("agent_soft", "agent_hard")

        def r1(op, c, v, over="base"):
            return self.med(("1row", op, c, v)) / self.med(("1row", op, c, over))
        for c in a.clients:
            worst = min(((r1(op, c, v) / r1(op, c, "audit"), op, v) for op in ops for v in agents))
            line("agent 1-row writes, %d client(s), above the hand-written audit trigger" % c,
                 "agent/audit %.2f (%s %s)" % (worst[0], worst[2], worst[1].upper()), worst[0] > 1.0)
            worst = min(((r1(op, c, v), op, v) for op in ops for v in agents))
            line("agent 1-row writes, %d client(s), >= 0.85 of base" % c,
                 "%.2f (%s %s)" % (worst[0], worst[2], worst[1].upper()), worst[0] >= 0.85)
        lo, hi = a.clients[0], a.clients[-1]

        def scale(op, v):
            return self.med(("1row", op, hi, v)) / self.med(("1row", op, lo, v))
        worst = min(((scale(op, v) / scale(op, "base"), op, v) for op in ops for v in agents))
        line("scaling %d -> %d clients within 20%% of base's" % (lo, hi),
             "agent/base %.2f (%s %s)" % (worst[0], worst[2], worst[1].upper()), worst[0] >= 0.8)
        worst = min(((r1(op, c, "human"), op, c) for op in ops for c in a.clients))
        line("human 1-row writes on a protected table >= 0.97 of base",
             "%.2f (%s, %d client(s))" % (worst[0], worst[1].upper(), worst[2]), worst[0] >= 0.97)
        worst = min(((self.med(("hooks", w, s)) / self.med(("hooks", w, "nopreload")), w, s)
                     for w in ("select1", "select_only") for s in ("human", "agent")))
        line("sessions that touch no protected table >= 0.97 of no agent_guard",
             "%.3f (%s session, %s)" % (worst[0], worst[2], worst[1]), worst[0] >= 0.97)

        def bulk(op, v, over_op):
            return self.med(("bulk", op, v)) / self.med(("bulk", over_op, "base"))
        worst = max(((bulk("update", v, "update"), v) for v in agents))
        line("bulk %d-row agent UPDATE <= 2.0x base" % a.bulk, "%.2fx (%s)" % worst, worst[0] <= 2.0)
        x = bulk("delete", "agent_hard", "delete")
        line("bulk %d-row agent hard DELETE <= 4x base DELETE" % a.bulk, "%.2fx" % x, x <= 4.0)
        x = bulk("delete", "agent_soft", "update")
        line("bulk %d-row agent soft DELETE <= 2.5x base UPDATE" % a.bulk, "%.2fx" % x, x <= 2.5)
        worst = max(((self.med(("rollback", k, "rollback")) / self.med(("rollback", k, "run")), k)
                     for k in ("hard", "soft")))
        line("rollback of a %d-row run <= 3x the run" % a.rollback_rows, "%.2fx (%s-delete table)" % worst,
             worst[0] <= 3.0)
        ms = self.med(("verify",))
        per_m = ms * 1000000.0 / max(self.verify_checked, 1)
        line("verify_log() of 1,000,000 events < 10 s",
             ("%.1f s" % (ms / 1000.0)) if self.verify_checked >= 1000000 else
             "%.1f s over %d events, %.1f s scaled to 1,000,000" % (ms / 1000.0, self.verify_checked,
                                                                    per_m / 1000.0),
             per_m < 10000.0)
        bl = self.backlog()
        if bl:
            # bounded: over the second half of the run the backlog grows by
            # less than 2% of the rate of writes (the sealer keeps at least
            # 98% of the pace), or stays under one second of writes (the
            # default agent_guard.seal_interval)
            def bounded(end, trend, rate):
                return trend <= 0.02 * rate or end <= rate
            worst = max(((trend / max(rate, 1e-9), end, op, v) for (op, v), (end, trend, rate, peak) in bl.items()))
            line("unsealed backlog bounded with %d agent clients (it grows by less than 2%% of the write rate "
                 "over the second half of the run, or stays under one second of writes)" % hi,
                 "worst trend %+.1f%% of the write rate, backlog %.0f at the end (%s %s)"
                 % (100 * worst[0], worst[1], worst[3], worst[2].upper()),
                 all(bounded(end, trend, rate) for end, trend, rate, peak in bl.values()))
        return out


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workdir")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds; for the test command")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=5, help="duration of each pgbench run")
    p.add_argument("--transactions", type=int, default=0, help="pgbench -t instead of -T")
    p.add_argument("--rows", type=int, default=200000)
    p.add_argument("--bulk", type=int, default=50000)
    p.add_argument("--rollback-rows", type=int, default=100000)
    p.add_argument("--verify-events", type=int, default=1000000)
    p.add_argument("--clients", default="1,2,4")
    p.add_argument("--backlog-interval", type=float, default=0.5,
                   help="seconds between samples of the unsealed backlog during the runs with the most clients")
    p.add_argument("--port", type=int, default=58432)
    p.add_argument("--shared-buffers", default="1GB")
    p.add_argument("--output", help="also write the table to this file")
    a = p.parse_args()
    if a.smoke:
        a.rounds, a.transactions, a.rows, a.bulk = 1, 30, 2000, 500
        a.rollback_rows, a.verify_events, a.clients, a.shared_buffers = 400, 1000, "1,2", "128MB"
        a.backlog_interval = 0.2
    a.clients = [int(c) for c in a.clients.split(",")]
    a.workdir = os.path.abspath(a.workdir)
    b = Bench(a)
    try:
        b.setup()
        for rnd in range(a.rounds):
            log("== round %d of %d" % (rnd + 1, a.rounds))
            b.single_row(rnd)
            b.bulk(rnd)
            b.hooks(rnd)
            b.rollback(rnd)
        b.verify()
        text = b.report()
        print("\n" + text, flush=True)
        if a.output:
            with open(a.output, "w") as f:
                f.write(text + "\n")
    except (RuntimeError, subprocess.CalledProcessError) as e:
        log("bench: FAILED: %s" % e)
        for c in (b.A, b.B, b.C):
            logf = os.path.join(c.path, "server.log")
            if os.path.exists(logf):
                log("--- tail of %s" % logf)
                log("".join(open(logf).readlines()[-30:]))
        return 1
    finally:
        for c in (b.A, b.B, b.C):
            c.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
