#!/bin/bash
# Make a private, relocated copy of the PostgreSQL installation in DIR and
# print its bindir, so that several checkouts can build, install and test
# side by side without overwriting each other's agent_guard in the system
# installation:
#     export PG_BINDIR=$(test/private_pg.sh /tmp/pg_mine)
#     make check
# PostgreSQL finds its share and lib directories relative to its binaries,
# so a copy of the bin, lib and share trees is a complete installation.
set -eu
dir=${1:?usage: test/private_pg.sh DIR}
major=${PG_MAJOR:-15}
if [ ! -x "$dir/usr/lib/postgresql/$major/bin/postgres" ]; then
    mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql" "$dir/usr/include"
    cp -a "/usr/lib/postgresql/$major" "$dir/usr/lib/postgresql/"
    cp -a "/usr/share/postgresql/$major" "$dir/usr/share/postgresql/"
    ln -sfn /usr/include/postgresql "$dir/usr/include/postgresql"
    chmod -R a+rX "$dir"
fi
echo "$dir/usr/lib/postgresql/$major/bin"
