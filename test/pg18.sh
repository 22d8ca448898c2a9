#!/bin/bash
# PostgreSQL 18 for the test suites, built once per machine from Debian's own
# source packages, with pgTAP and pgaudit built against it, and cached.
# Prints the bindir of the cached installation.
#
#   usage: test/pg18.sh     (root the first time; then it only prints the bindir)
#   AG_PG18_PREFIX   where it is installed (default
#                    /var/cache/agent_guard/postgresql-18)
#
# The sources come from Debian's suite sid, which is the only suite with
# postgresql-18.  Only a deb-src line is added, and only to a private apt
# configuration under the cache directory (its own sources list, lists and
# package cache), so the machine's apt sources, its package lists and its
# installed packages are untouched: nothing is installed or pinned from sid.
# Build dependencies come from the machine's own suite (bookworm) as usual.
# A later run finds the stamp file and reuses the installation; a run that
# stopped half way builds again from the last part it had not finished
# (PostgreSQL, pgTAP, pgaudit: each leaves a stamp when installed).
set -euo pipefail

PREFIX=${AG_PG18_PREFIX:-/var/cache/agent_guard/postgresql-18}
CACHE=$(dirname "$PREFIX")
STAMP=$PREFIX/.complete
MAJOR=18

say() { printf '%s\n' "$*" >&2; }
die() { printf 'test/pg18.sh: %s\n' "$*" >&2; exit 2; }

if [ -f "$STAMP" ]; then
    echo "$PREFIX/bin"
    exit 0
fi
[ "$(id -u)" = 0 ] || die "PostgreSQL $MAJOR is not built yet in $PREFIX; run test/pg18.sh once as root"

# Debian's patch for per-version directories sends the server's libraries to
# /usr/lib/postgresql/18/lib unless the library path names "postgres" or
# "pgsql": a prefix that does keeps everything inside it.
case $PREFIX in
    */*postgres*|*/*pgsql*) ;;
    *) die "AG_PG18_PREFIX must contain \"postgres\" or \"pgsql\" (Debian's per-version directories)";;
esac

mkdir -p "$CACHE"
# one build at a time: a second run waits for the first and then reuses it
exec 9>"$CACHE/pg$MAJOR.lock"
flock 9
if [ -f "$STAMP" ]; then
    echo "$PREFIX/bin"
    exit 0
fi

say "== building PostgreSQL $MAJOR, pgTAP and pgaudit from Debian's source packages into $PREFIX"
started=$(date +%s)

# Build dependencies, from the machine's own suite.
BUILD_DEPS="build-essential dpkg-dev bison flex pkg-config perl libipc-run-perl
libreadline-dev zlib1g-dev libssl-dev libicu-dev liblz4-dev libzstd-dev"
missing=""
for p in $BUILD_DEPS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "== installing build dependencies:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null || die "apt-get install failed:$missing"
fi

# The private apt configuration: the Debian archive the machine already uses,
# suite sid, source packages only.
archive=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
if [ -z "$archive" ]; then
    archive=$(awk '$1 == "deb" && $3 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
fi
archive=${archive%% *}
[ -n "$archive" ] || die "no Debian archive found in the machine's apt sources"
APT=$CACHE/apt-sid-src
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/sources.list.d"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $archive sid main" \
    >"$APT/sources.list"
apt_sid() {  # apt-get or apt-cache, then its arguments
    local prog=$1; shift
    "$prog" -o Dir::Etc::SourceList="$APT/sources.list" \
        -o Dir::Etc::SourceParts="$APT/sources.list.d" \
        -o Dir::State::Lists="$APT/lists" -o Dir::Cache="$APT/cache" "$@"
}
say "== apt-get update (deb-src, sid, private lists)"
apt_sid apt-get update -qq >/dev/null || die "apt-get update of the sid source list failed"

BUILD=$(mktemp -d /var/tmp/agent_guard_pg$MAJOR.XXXXXX)
trap 'rm -rf "$BUILD"' EXIT
cd "$BUILD"

# apt-get source NAME: download and unpack (Debian's patches applied) into
# BUILD/src-NAME/NAME-VERSION, and print that directory.  Some of sid's
# source packages are only partly on the archive this machine reaches: the
# .dsc and Debian's packaging can be missing while the upstream tarball is
# there.  Then the upstream tarball alone is unpacked and built (an
# extension's Debian packaging only packages it): apt checked it against the
# signed Sources index as it fetched it, and it is checked here again.
fetch_source() {
    local name=$1 dir orig sum want
    dir=$BUILD/src-$name
    say "== apt-get source $name"
    mkdir -p "$dir"
    chown _apt "$dir" 2>/dev/null || true     # apt downloads as _apt where it can
    if (cd "$dir" && apt_sid apt-get source -qq "$name") >"$BUILD/source-$name.log" 2>&1; then
        find "$dir" -mindepth 1 -maxdepth 1 -type d | head -1
        return
    fi
    orig=$(cd "$dir" && ls ./*.orig.tar.* 2>/dev/null | head -1)
    orig=${orig#./}
    if [ -z "$orig" ]; then
        cat "$BUILD/source-$name.log" >&2
        die "apt-get source $name failed"
    fi
    sum=$(sha256sum "$dir/$orig" | cut -d' ' -f1)
    want=$(apt_sid apt-cache showsrc "$name" 2>/dev/null | sed -n '/^Checksums-Sha256:/,/^[^ ]/p' \
        | awk -v f="$orig" '$3 == f { print $1; exit }')
    [ -n "$want" ] && [ "$sum" = "$want" ] || die "$orig: sha256 $sum is not the Sources index's (${want:-none})"
    say "   (only the upstream tarball $orig is on the archive; building it without Debian's packaging)"
    mkdir -p "$dir/upstream"
    tar -C "$dir/upstream" -xf "$dir/$orig" || die "could not unpack $orig"
    find "$dir/upstream" -mindepth 1 -maxdepth 1 -type d | head -1
}

JOBS=$(nproc)
if [ ! -f "$PREFIX/.built-postgresql" ]; then
    pgsrc=$(fetch_source postgresql-$MAJOR)
    say "== configure and build $(basename "$pgsrc") (make -j$JOBS; a few minutes)"
    rm -rf "$PREFIX"
    (
        cd "$pgsrc"
        ./configure --prefix="$PREFIX" --libdir="$PREFIX/lib" --enable-tap-tests --with-openssl --with-icu \
            --with-lz4 --with-zstd --with-readline --with-zlib --enable-debug \
            CFLAGS="-O2" >"$BUILD/configure.log" 2>&1 \
            || { tail -n 40 "$BUILD/configure.log" >&2; exit 1; }
        # the generated headers first: "world-bin" recurses into src/common
        # and src/port in parallel with the backend that generates
        # utils/errcodes.h, and a parallel build can reach hashfn.c first
        make -s -C src/backend generated-headers >"$BUILD/make.log" 2>&1 \
            || { tail -n 60 "$BUILD/make.log" >&2; exit 1; }
        make -j"$JOBS" -s world-bin >>"$BUILD/make.log" 2>&1 \
            || { tail -n 60 "$BUILD/make.log" >&2; exit 1; }
        make -s install-world-bin >"$BUILD/install.log" 2>&1 \
            || { tail -n 40 "$BUILD/install.log" >&2; exit 1; }
        # pg_isolation_regress and isolationtester, for the isolation suite
        make -s -C src/test/isolation install >>"$BUILD/install.log" 2>&1 \
            || { tail -n 40 "$BUILD/install.log" >&2; exit 1; }
    ) || die "building PostgreSQL $MAJOR failed"
    [ "$("$PREFIX/bin/pg_config" --pkglibdir)" = "$PREFIX/lib" ] \
        || die "PostgreSQL $MAJOR installed its libraries outside $PREFIX"
    basename "$pgsrc" >"$PREFIX/.built-postgresql"
fi

PG_CONFIG=$PREFIX/bin/pg_config
# Debian's pgaudit has one source package per PostgreSQL major
for name in pgtap pgaudit-$MAJOR; do
    [ -f "$PREFIX/.built-$name" ] && continue
    src=$(fetch_source "$name")
    say "== build $(basename "$src") for PostgreSQL $MAJOR"
    (
        cd "$src"
        make -j"$JOBS" USE_PGXS=1 PG_CONFIG="$PG_CONFIG" >"$BUILD/make-$name.log" 2>&1 \
            && make USE_PGXS=1 PG_CONFIG="$PG_CONFIG" install >>"$BUILD/make-$name.log" 2>&1
    ) || { tail -n 40 "$BUILD/make-$name.log" >&2; die "building $name for PostgreSQL $MAJOR failed"; }
    basename "$src" >"$PREFIX/.built-$name"
done

# the server runs as the postgres OS user, which must read all of it
chmod -R a+rX "$PREFIX"
cat "$PREFIX"/.built-* >"$STAMP"
say "== PostgreSQL $MAJOR ready in $PREFIX ($(( $(date +%s) - started ))s)"
echo "$PREFIX/bin"
