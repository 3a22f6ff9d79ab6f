#!/usr/bin/env bash
# Node propagation benchmark (issue #7): a 5-node iBGP full mesh in network
# namespaces per system; a Felix-style `blackhole 10.P.X.0/26 proto 80` is
# added on node 1 and deleted again, each timed until node 5's kernel shows
# it (rtnetlink route events in node 5's namespace; optionally also by
# polling `ip route show`, as the issue's anchor was measured).
#
#   bench/run-propagation.sh                      # 100 additions, tern vs BIRD 1.6
#   ADDITIONS=500 POLL_ADDITIONS=100 bench/run-propagation.sh
#
#   NODES=5 ADDITIONS=100 POLL_ADDITIONS=50 SYSTEMS=tern,bird1
#   CSV=FILE       keep every sample
#   NO_BUILD=1     use the binaries already built
#   BIRD1=PATH     BIRD 1.6's bird (default /opt/tern-test/bird1/usr/sbin/bird,
#                  from scripts/install-test-deps.sh)
#
# Needs root (network namespaces). Every namespace and daemon it starts is
# removed when it exits, also on failure.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIRD1=${BIRD1:-/opt/tern-test/bird1/usr/sbin/bird}

if [ "${NO_BUILD:-0}" != 1 ]; then
  cargo build --release --quiet -p tern-speaker --bins --example propagation
fi
if [ ! -x "$BIRD1" ] && [[ "${SYSTEMS:-tern,bird1}" == *bird1* ]]; then
  echo "$BIRD1 missing: run scripts/install-test-deps.sh" >&2
  exit 2
fi
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r)"
args=(--nodes "${NODES:-5}" --additions "${ADDITIONS:-100}" --poll-additions "${POLL_ADDITIONS:-50}"
  --systems "${SYSTEMS:-tern,bird1}" --speaker "$TARGET_DIR/release/tern-speaker" --bird1 "$BIRD1")
if [ -n "${CSV:-}" ]; then args+=(--csv "$CSV"); fi
exec "$TARGET_DIR/release/examples/propagation" "${args[@]}"
