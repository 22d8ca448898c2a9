# Shared helpers for the test, demo and bench scripts.  Source it; do not run.
#
# PostgreSQL refuses to run as root, so when these scripts run as root they
# copy what they need into a temporary directory owned by the "postgres" OS
# user (created if missing) and run the server and the test programs as that
# user, on a Unix socket inside that directory.

PG_MAJOR=${PG_MAJOR:-15}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}   # override to test against a copy
export PATH="$PG_BINDIR:$PATH"

AG_PACKAGES="make gcc libc6-dev postgresql-$PG_MAJOR postgresql-client-$PG_MAJOR
postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-pgtap libtap-parser-sourcehandler-pgtap-perl
libipc-run-perl libpq-dev postgresql-$PG_MAJOR-pgaudit cppcheck clang-tidy python3
pgbouncer python3-psycopg"

# node-postgres (npm "pg") for the driver tests, installed once into a cache
# directory that the server's OS user can read; test/suites.sh puts it on
# NODE_PATH.  Node itself comes from Debian (nodejs, npm) unless the machine
# already has node and npm.
AG_NODE_CACHE=${AG_NODE_CACHE:-/var/cache/agent_guard-node}
AG_NODE_PG_VERSION=8

ag_say() { printf '%s\n' "$*"; }
ag_die() { printf 'agent_guard: %s\n' "$*" >&2; exit 2; }

ag_is_root() { [ "$(id -u)" = 0 ]; }

# Install the apt packages we use, or say which are missing and stop.
ag_deps() {
    missing=""
    for p in $AG_PACKAGES; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing="$missing $p"
        fi
    done
    [ -z "$missing" ] && return 0
    if ag_is_root; then
        ag_say "== installing missing packages:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null || ag_die "apt-get update failed"
        # shellcheck disable=SC2086
        apt-get install -y -qq $missing >/dev/null || ag_die "apt-get install failed:$missing"
    else
        ag_say "agent_guard: these packages are missing:$missing"
        ag_say "install them with:  sudo apt-get install$missing"
        ag_say "or run this command as root, which installs them."
        exit 2
    fi
}

# node and npm, then node-postgres in $AG_NODE_CACHE.  Needs root the first
# time (apt-get, /var/cache); afterwards the cache is only read.
ag_node_deps() {
    if [ -d "$AG_NODE_CACHE/node_modules/pg" ] && command -v node >/dev/null; then
        return 0
    fi
    ag_is_root || ag_die "node-postgres is missing in $AG_NODE_CACHE; run test/check.sh as root once"
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        ag_say "== installing nodejs and npm"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null || ag_die "apt-get update failed"
        apt-get install -y -qq nodejs npm >/dev/null || ag_die "apt-get install failed: nodejs npm"
    fi
    ag_say "== installing node-postgres (npm pg@$AG_NODE_PG_VERSION) into $AG_NODE_CACHE"
    mkdir -p "$AG_NODE_CACHE"
    npm install --silent --no-audit --no-fund --prefix "$AG_NODE_CACHE" "pg@$AG_NODE_PG_VERSION" >/dev/null \
        || ag_die "npm install pg failed"
    chmod -R a+rX "$AG_NODE_CACHE"
}

# Build and install the extension from the source tree $1.
ag_build_install() {
    src=$1
    ag_say "== building and installing agent_guard"
    if ! out=$(make -C "$src" -s 2>&1 >/dev/null); then
        printf '%s\n' "$out" | tail -n 60
        ag_die "build failed (make in $src)"
    fi
    if ! make -C "$src" -s install >/dev/null 2>&1; then
        ag_die "make install failed; run it as root (sudo make install) or as the owner of $(pg_config --pkglibdir)"
    fi
}

# The OS user the server runs as: "postgres" when we are root.
ag_run_user() {
    if ag_is_root; then
        if ! id postgres >/dev/null 2>&1; then
            useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres \
                || ag_die "could not create the postgres OS user"
        fi
        echo postgres
    else
        id -un
    fi
}

# Run a command as the server's OS user, keeping PATH and a few variables.
ag_as_runuser() {
    user=$1; shift
    if [ "$user" = "$(id -un)" ]; then
        "$@"
    else
        su "$user" -s /bin/bash -c "export PATH='$PATH' CI='${CI:-}' PG_MAJOR='$PG_MAJOR' PG_BINDIR='$PG_BINDIR'; cd '$PWD' && $(printf '%q ' "$@")"
    fi
}

# A fresh work directory owned by the run user, holding a copy of the tree.
ag_workdir() {
    user=$1 src=$2 name=$3
    # AG_WORK_ROOT: where (default /tmp; it must be readable by the run user)
    work=$(mktemp -d "${AG_WORK_ROOT:-/tmp}/agent_guard_$name.XXXXXX") || ag_die "mktemp failed"
    mkdir -p "$work/src"
    (cd "$src" && tar cf - --exclude=.git --exclude='*.o' --exclude='*.so' --exclude=results \
        --exclude=tmp_check --exclude=output_iso . ) | (cd "$work/src" && tar xf -)
    chown -R "$user" "$work"
    echo "$work"
}

# Start a throwaway cluster in $1 (data dir $1/data, socket in $1) on port $2.
ag_cluster_start() {
    dir=$1 port=$2; shift 2
    initdb -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log"; return 1; }
    {
        echo "shared_preload_libraries = 'agent_guard'"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$dir'"
        echo "port = $port"
        echo "fsync = off"
        for line in "$@"; do echo "$line"; done
    } >>"$dir/data/postgresql.conf"
    pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { cat "$dir/server.log"; return 1; }
}

ag_cluster_stop() {
    pg_ctl -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

# A free TCP port number (for the socket file name and for TAP tests).
ag_free_port() {
    p=${1:-55432}
    while [ -e "/tmp/.s.PGSQL.$p" ] || (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do
        p=$((p + 1))
    done
    echo "$p"
}
