#!/bin/bash
# Make a private, relocated copy of the PostgreSQL installation in DIR and
# print its bindir, so that several checkouts can build, install and test
# side by side without overwriting each other's agent_guard in the system
# installation:
#     PG_BINDIR=$(test/private_pg.sh /tmp/pg_mine) || exit 1
#     PG18_BINDIR=$(PG_MAJOR=18 test/private_pg.sh /tmp/pg_mine) || exit 1
#     export PG_BINDIR PG18_BINDIR; make check
# PostgreSQL finds its share and lib directories relative to its binaries,
# so a copy of the bin, lib and share trees is a complete installation.
# (18 is copied, into DIR-18, from the installation test/pg18.sh builds and
# caches; its programs still load libpq from the cache, through their run
# path.)
set -eu
dir=${1:?usage: test/private_pg.sh DIR}
major=${PG_MAJOR:-15}
if [ "$major" = 18 ]; then
    prefix=$(dirname "$("$(dirname "$0")/pg18.sh")")
    if [ ! -x "$dir-18/bin/postgres" ]; then
        rm -rf "$dir-18"
        cp -a "$prefix" "$dir-18.tmp" && chmod -R a+rX "$dir-18.tmp" && mv "$dir-18.tmp" "$dir-18" \
            || { rm -rf "$dir-18.tmp"; echo "private_pg.sh: could not copy PostgreSQL 18" >&2; exit 1; }
    fi
    echo "$dir-18/bin"
    exit 0
fi
if [ ! -x "$dir/usr/lib/postgresql/$major/bin/postgres" ]; then
    # copy into a temporary directory and rename it: a copy that fails
    # halfway (a "make install" writing the system tree at the same time)
    # is never taken for a complete one
    tmp=$(mktemp -d "$dir.tmp.XXXXXX")
    mkdir -p "$tmp/usr/lib/postgresql" "$tmp/usr/share/postgresql" "$tmp/usr/include"
    cp -a "/usr/lib/postgresql/$major" "$tmp/usr/lib/postgresql/" &&
        cp -a "/usr/share/postgresql/$major" "$tmp/usr/share/postgresql/" ||
        { rm -rf "$tmp"; echo "private_pg.sh: could not copy PostgreSQL $major" >&2; exit 1; }
    ln -sfn /usr/include/postgresql "$tmp/usr/include/postgresql"
    chmod -R a+rX "$tmp"
    rm -rf "$dir"
    mv "$tmp" "$dir"
fi
echo "$dir/usr/lib/postgresql/$major/bin"
