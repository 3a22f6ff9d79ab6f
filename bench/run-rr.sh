#!/usr/bin/env bash
# Route-reflector benchmark: the same loadgen scenario against tern, BIRD 1.6,
# BIRD 2, FRR and GoBGP, one after the other, then one table with tern's ratio
# to each.
#
#   bench/run-rr.sh rr 200 500          # 200 clients x 500 /26 (the main target)
#   bench/run-rr.sh ingest 10 100000    # 10 senders x 100k /24, one monitor
#   bench/run-rr.sh rr 1000 10
#   CONNECT_BATCH=50 bench/run-rr.sh rr 2000 1   # session scale (CONNECT_PARALLEL=2000: all at once)
#   bench/run-rr.sh mrt                 # the RouteViews IPv6 table replayed from its 27 peers
#
#   SYSTEMS="tern bird1 bird2 frr gobgp"   which, in this order (default: all)
#   TIMEOUT=300                            seconds to converge before "did not finish"
#   OUT=FILE                               keep the JSON lines (default: a temp file)
#   NO_BUILD=1                             use the binaries already built
#   TERN_SPEAKER=PATH                      another tern-speaker binary (e.g. a build of a given commit)
#   CONNECT_BATCH=N                        connect N peers, the next N once they are Established (default 0: all)
#   CONNECT_PARALLEL=N                     connection attempts in flight (default 64)
#   HOLD_TIME=S                            hold time the peers propose (default 240)
#   ESTABLISH_TIMEOUT=S                    seconds for all sessions to come up (default 300)
#   MRT=FILE MRT_PREFIXES=N                mrt mode: the RIB to replay (default: the RouteViews IPv6 table),
#                                          only its first N prefixes
#
# The table has the session columns (all Established, drops, NOTIFICATIONs)
# when CONNECT_BATCH/CONNECT_PARALLEL is set or in mrt mode. In mrt mode the
# sessions carry IPv4 and IPv6 unicast (BENCH_IPV6=1 for the scenario
# scripts) over IPv4 loopback, except BIRD 1.6: its bird6 carries IPv6 routes
# over IPv6 sessions only, so it and the peers run in a network namespace of
# this run with fd00:201::N / fd00:100::N on its lo (as root).
#
# Each system listens on its own loopback address (127.201.0.N:179); the
# simulated peers are 127.100.x.y. Every daemon is stopped by its PID on exit.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODE=${1:-rr}
PEERS=${2:-200}
ROUTES=${3:-500}
SYSTEMS=${SYSTEMS:-tern bird1 bird2 frr gobgp}
TIMEOUT=${TIMEOUT:-300}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
export TERN_SPEAKER=${TERN_SPEAKER:-$TARGET_DIR/release/tern-speaker}
LOADGEN="$TARGET_DIR/release/loadgen"
MRT=${MRT:-tests/data/bgp/mrt/routeviews6__rib.20150922.1200.full-ipv6.bz2}
extra=(--connect-parallel "${CONNECT_PARALLEL:-64}" --connect-batch "${CONNECT_BATCH:-0}" --hold-time "${HOLD_TIME:-240}"
  --establish-timeout "${ESTABLISH_TIMEOUT:-300}")
layout=(--mode "$MODE" --peers "$PEERS")
table=()
if [ -n "${CONNECT_BATCH:-}${CONNECT_PARALLEL:-}" ]; then table=(--sessions); fi
if [ "$MODE" = mrt ]; then
  layout=(--mode mrt --mrt "$MRT")
  [ -n "${MRT_PREFIXES:-}" ] && layout+=(--mrt-prefixes "$MRT_PREFIXES")
  export BENCH_IPV6=1
  table=(--sessions)
fi

if [ "${NO_BUILD:-0}" != 1 ]; then
  cargo build --release --quiet -p tern-speaker -p tern-bench --bin tern-speaker --bin loadgen
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
OUT=${OUT:-$work/results.jsonl}
sut_pid=""
netns=""
cleanup() {
  if [ -n "$sut_pid" ] && kill -0 "$sut_pid" 2>/dev/null; then
    kill "$sut_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$sut_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$sut_pid" 2>/dev/null || true
  fi
  sut_pid=""
  if [ -n "$netns" ]; then ip netns del "$netns" 2>/dev/null || true; fi
  netns=""
}
trap 'cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

"$LOADGEN" peers "${layout[@]}" >"$work/peers"
echo "scenario: ${layout[*]} --routes $ROUTES ${extra[*]}; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"

n=0
for sys in $SYSTEMS; do
  n=$((n + 1))
  addr="127.201.0.$n"
  dir="$work/$sys"
  mkdir -p "$dir"
  (
    # shellcheck source=/dev/null
    source "bench/scenarios/$sys.sh"
    echo "== $sys: $(sut_version)"
  )
  SUT_IPV6_TRANSPORT=0
  # shellcheck source=/dev/null
  source "bench/scenarios/$sys.sh"
  peers_file="$work/peers"
  target="$addr:179"
  in_ns=()
  lg_layout=("${layout[@]}")
  if [ "$SUT_IPV6_TRANSPORT" = 1 ]; then
    # IPv6 sessions (bird6): SUT and peers on lo of a network namespace of
    # this run, each with its own fd00:: address; removed by cleanup.
    addr="fd00:201::$n"
    target="[$addr]:179"
    netns="tern-bench-$$-$n"
    export BENCH_NETNS=$netns
    ip netns add "$netns"
    ip -n "$netns" link set lo up
    lg_layout+=(--ipv6-transport)
    peers_file="$work/peers6"
    "$LOADGEN" peers "${lg_layout[@]}" >"$peers_file"
    for a in "$addr" $(cut -d' ' -f2 "$peers_file"); do ip -n "$netns" addr add "$a/128" dev lo nodad; done
    in_ns=(ip netns exec "$netns")
  fi
  if ! sut_config "$dir" "$addr" "$peers_file"; then
    echo "$sys: skipped (no config for this scenario)"
    cleanup
    continue
  fi
  sut_pid=$(sut_start "$dir" "$addr")
  # Listening within 30 s.
  for _ in $(seq 300); do
    "${in_ns[@]}" ss -Hltn "src $target" | grep -q . && break
    kill -0 "$sut_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! "${in_ns[@]}" ss -Hltn "src $target" | grep -q .; then
    echo "$sys did not start listening on $target; its logs:" >&2
    tail -n 20 "$dir"/*.log "$dir"/*.out 2>/dev/null >&2 || true
    cleanup
    continue
  fi
  "${in_ns[@]}" "$LOADGEN" run "${lg_layout[@]}" --routes "$ROUTES" --target "$target" "${extra[@]}" \
    --pid "$sut_pid" --label "$sys" --timeout "$TIMEOUT" >>"$OUT" || true
  cleanup
  if [ -n "${KEEP_LOGS:-}" ]; then cp -r "$dir" "$KEEP_LOGS/" 2>/dev/null || true; fi
  sleep 1
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$LOADGEN" table "${table[@]}" "$OUT"
