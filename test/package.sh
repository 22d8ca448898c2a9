#!/bin/bash
# The Debian packages, built and used the way a DBA would: build them with
# dpkg-buildpackage from a copy of the tree, install them with apt, create a
# new cluster with postgresql-common (pg_createcluster), and there run
# CREATE EXTENSION, an agent's guarded writes and the human's side with the
# agent-guard command line from PATH.  Then the cluster is dropped and the
# packages are purged again.
# Prints one "ok - ..." or "not ok - ..." line per check.  Needs root (it
# installs packages); run by check.sh.
#   usage: test/package.sh WORKDIR
set -u
cd "$(dirname "$0")/.."
. test/lib.sh
# a DBA's PATH: nothing of a build tree or a private PostgreSQL before it
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORK=${1:?usage: test/package.sh WORKDIR}
ag_is_root || ag_die "test/package.sh installs packages: run it as root"

fail=0
check() {  # description command...
    local what=$1; shift
    if "$@"; then echo "ok - $what"; else echo "not ok - $what"; fail=1; fi
}

VERSION=$(sed -n '1s/^agent-guard (\([^)]*\)).*/\1/p' debian/changelog)
CONTROL_VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" agent_guard.control)
MAJOR=15
CLUSTER=agpkgtest
PKGS="postgresql-$MAJOR-agent-guard agent-guard"

cleanup() {
    pg_dropcluster --stop "$MAJOR" "$CLUSTER" >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    dpkg --purge $PKGS >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup    # what an interrupted run may have left

# the packaging tools, from the machine's suite
missing=""
for p in dpkg-dev debhelper postgresql-server-dev-all libpq-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "== installing packaging tools:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null; } \
        || ag_die "apt-get install failed:$missing"
fi

check "debian/changelog's version $VERSION is the extension's ($CONTROL_VERSION)" [ "$VERSION" = "$CONTROL_VERSION" ]

# 1. build: dpkg-buildpackage in a copy of the tree named as Debian expects
BUILD=$WORK/package
rm -rf "$BUILD"
mkdir -p "$BUILD/agent-guard-$VERSION"
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
    # the checkout's files, changes not yet committed included
    git ls-files -co --exclude-standard | tar cf - -T -
else
    tar cf - --exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=cli/agent-guard .
fi | (cd "$BUILD/agent-guard-$VERSION" && tar xf -)
(cd "$BUILD/agent-guard-$VERSION" && dpkg-buildpackage -us -uc -b) >"$BUILD/build.log" 2>&1
rc=$?
[ $rc = 0 ] || tail -n 40 "$BUILD/build.log"
check "dpkg-buildpackage -us -uc -b builds agent-guard $VERSION" [ $rc = 0 ]
for v in $(ls /usr/lib/postgresql/*/lib/pgxs/src/makefiles/pgxs.mk 2>/dev/null | cut -d/ -f5); do
    check "a package for PostgreSQL $v, whose server-dev files are installed" \
        [ -f "$BUILD/postgresql-$v-agent-guard_${VERSION}_amd64.deb" ]
done
deb=$BUILD/postgresql-$MAJOR-agent-guard_${VERSION}_amd64.deb
cli=$BUILD/agent-guard_${VERSION}_amd64.deb
dpkg-deb -c "$deb" >"$BUILD/ext.files" 2>&1
dpkg-deb -c "$cli" >"$BUILD/cli.files" 2>&1
want="agent_guard.control agent_guard--$VERSION.sql $(ls agent_guard--*--*.sql)"
missing=""
for f in $want; do
    grep -q " ./usr/share/postgresql/$MAJOR/extension/$f\$" "$BUILD/ext.files" || missing="$missing $f"
done
grep -q " ./usr/lib/postgresql/$MAJOR/lib/agent_guard.so\$" "$BUILD/ext.files" || missing="$missing agent_guard.so"
check "the library, the control file, the install script and every upgrade script are in postgresql-$MAJOR-agent-guard${missing:+ (missing:$missing)}" \
    [ -z "$missing" ]
check "the command line is in its own package, agent-guard, in /usr/bin" \
    grep -q ' ./usr/bin/agent-guard$' "$BUILD/cli.files"
check "and not in the extension's package" \
    sh -c "! grep -q 'bin/agent-guard' '$BUILD/ext.files'"
if [ $fail != 0 ]; then
    exit 1
fi

# 2. install with apt, which resolves the dependencies (postgresql-15, libpq5)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" "$cli" >"$BUILD/install.log" 2>&1
rc=$?
[ $rc = 0 ] || tail -n 20 "$BUILD/install.log"
check "apt-get install of the two packages" [ $rc = 0 ]
check "agent-guard is on PATH as /usr/bin/agent-guard" [ "$(command -v agent-guard)" = /usr/bin/agent-guard ]
check "agent-guard --version names $VERSION" \
    sh -c "agent-guard --version | grep -q '(agent_guard) $VERSION'"

# 3. a new cluster the Debian way, agent_guard preloaded
PORT=$(ag_free_port 59432)
pg_createcluster "$MAJOR" "$CLUSTER" -p "$PORT" -o "shared_preload_libraries=agent_guard" \
    >"$BUILD/cluster.log" 2>&1 && pg_ctlcluster "$MAJOR" "$CLUSTER" start >>"$BUILD/cluster.log" 2>&1
rc=$?
[ $rc = 0 ] || cat "$BUILD/cluster.log"
check "pg_createcluster $MAJOR $CLUSTER with agent_guard preloaded, started" [ $rc = 0 ]

# the human: the postgres OS user on the Unix socket (peer authentication);
# the agent: a role with a password, over TCP (the cluster's scram-sha-256)
SOCK=/var/run/postgresql
sql() {  # user PGOPTIONS sql: prints the result, or the error on stderr
    local host=$SOCK
    [ "$1" = postgres ] || host=127.0.0.1
    su postgres -s /bin/sh -c "PGPASSWORD=pkg-secret PGOPTIONS='$2' psql -X -q -A -t -v ON_ERROR_STOP=1 \
        -h $host -p $PORT -U $1 -d postgres" <<<"$3"
}

sql postgres "" "
    CREATE EXTENSION agent_guard;
    CREATE ROLE pkg_bot LOGIN PASSWORD 'pkg-secret';
    CREATE TABLE public.orders (id int PRIMARY KEY, total numeric);
    INSERT INTO public.orders SELECT g, g * 10 FROM generate_series(1, 10) g;
    ALTER TABLE public.orders OWNER TO pkg_bot;
    SELECT agent_guard.protect('public.orders');
    SELECT agent_guard.register_agent('pkg_bot');" >"$BUILD/setup.log" 2>&1
rc=$?
[ $rc = 0 ] || cat "$BUILD/setup.log"
check "CREATE EXTENSION agent_guard, an agent registered, its table protected" [ $rc = 0 ]

# the agent's side: it writes, its DELETE becomes a soft delete, and a DROP
# of its own table waits for a human
out=$(sql pkg_bot "-c agent_guard.run_id=pkg-run-1" "
    UPDATE public.orders SET total = 0 WHERE id = 1;
    DELETE FROM public.orders WHERE id <= 3;
    SELECT count(*) FROM public.orders;" 2>&1)
check "the agent's UPDATE and DELETE run, and the deleted rows are gone for it ($out)" [ "$out" = 7 ]
out=$(sql pkg_bot "-c agent_guard.run_id=pkg-run-1" "\set VERBOSITY verbose
    DROP TABLE public.orders;" 2>&1)
check "the agent's DROP TABLE waits for a human's approval (YG003)" grep -q 'ERROR:  YG003' <<<"$out"
out=$(sql postgres "" "SELECT count(*) || '/' || count(ag_deleted_at) FROM public.orders;")
check "the human still sees all 10 rows, 3 of them soft-deleted ($out)" [ "$out" = "10/3" ]

# the human's side, with the packaged command line from PATH
ag() { su postgres -s /bin/sh -c "PGHOST=$SOCK PGPORT=$PORT PGDATABASE=postgres agent-guard $*"; }
out=$(ag runs 2>&1)
check "agent-guard runs lists the agent's run" grep -q pkg-run-1 <<<"$out"
out=$(ag rollback pkg-run-1 --apply 2>&1)
rc=$?
[ $rc = 0 ] || printf '%s\n' "$out"
check "agent-guard rollback pkg-run-1 --apply" [ $rc = 0 ]
out=$(sql postgres "" "SELECT count(*) || '/' || count(ag_deleted_at) || '/' || sum(total) FROM public.orders;")
check "after the rollback the rows are as before the run ($out)" [ "$out" = "10/0/550" ]
for i in $(seq 1 50); do
    [ "$(sql postgres "" "SELECT count(*) FROM agent_guard.events e, agent_guard.chain_state c WHERE e.seal_seq IS NULL AND (e.event_id > c.sealed_through OR c.gaps @> e.event_id)")" = 0 ] && break
    sleep 0.2
done
ag verify >"$BUILD/verify.log" 2>&1
rc=$?
[ $rc = 0 ] || cat "$BUILD/verify.log"
check "agent-guard verify: the sealed log verifies" [ $rc = 0 ]

exit $fail
