#!/bin/bash
# Install (as root) or list (otherwise) the packages agent_guard needs.
set -e
cd "$(dirname "$0")/.."
. test/lib.sh
ag_deps
ag_node_deps
echo "all packages agent_guard needs are installed (node-postgres in $AG_NODE_CACHE)"
