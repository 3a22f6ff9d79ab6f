#!/usr/bin/env bash
# tern's main job in one step: builds tern-speaker and ternctl, then runs
# `ternctl demo` — three nodes in Calico's node-to-node mesh and three nodes
# behind a tern route reflector, each originating its pod block. As root the
# nodes live in network namespaces on a bridge and program real kernel
# tables; otherwise they share loopback addresses. Prints `ternctl status`
# and the routes of a few nodes, then stops everything.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${TERN_DEMO_NO_APT:-}" ] && [ "$(id -u)" -eq 0 ] && ! command -v ip >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q iproute2
fi
cargo build --release -q -p tern-speaker -p ternctl
exec target/release/ternctl demo "$@"
