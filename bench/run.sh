#!/usr/bin/env bash
# Whole-process MRT decode: `ternctl mrt FILE > /dev/null` against
# `bgpdump -m FILE > /dev/null` (the same one-line-per-route text), and the ratio.
#
#   bench/run.sh [FILE]        default: the full RouteViews IPv6 RIB (609,246 entries)
#   RUNS=N                     timed runs per command (default 3)
#   CHECK=1                    first check that both print the same lines
#
# Uses hyperfine when installed (apt-get install hyperfine; NO_HYPERFINE=1 skips it),
# else bash's own timer (best of RUNS).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FILE=${1:-tests/data/bgp/mrt/routeviews6__rib.20150922.1200.full-ipv6.bz2}
RUNS=${RUNS:-3}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
TERNCTL="$TARGET_DIR/release/ternctl"

command -v bgpdump >/dev/null || { echo "bgpdump not installed (apt-get install bgpdump)" >&2; exit 1; }
cargo build --release --quiet -p ternctl
echo "file: $FILE ($(stat -c %s "$FILE") bytes); $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "${CHECK:-0}" = 1 ]; then
  a=$("$TERNCTL" mrt "$FILE" | sha256sum)
  b=$(bgpdump -m "$FILE" 2>/dev/null | sha256sum)
  [ "$a" = "$b" ] && echo "outputs identical" || { echo "outputs DIFFER" >&2; exit 1; }
fi

if [ "${NO_HYPERFINE:-0}" != 1 ] && command -v hyperfine >/dev/null; then
  csv=$(mktemp)
  trap 'rm -f "$csv"' EXIT
  hyperfine --runs "$RUNS" --export-csv "$csv" --command-name ternctl --command-name bgpdump \
    "$TERNCTL mrt $FILE > /dev/null" "bgpdump -m $FILE > /dev/null 2>&1"
  # command,mean,stddev,median,user,system,min,max
  awk -F, 'NR == 2 { tm = $2; tc = $5 + $6 } NR == 3 { bm = $2; bc = $5 + $6 }
    END {
      printf "ternctl: %.2f s wall, %.2f s CPU\nbgpdump: %.2f s wall, %.2f s CPU\n", tm, tc, bm, bc
      printf "ratio (bgpdump / ternctl): %.1fx wall, %.1fx CPU\n", bm / tm, bc / tc
    }' "$csv"
else
  TIMEFORMAT='%R %U %S'
  measure() {
    local best=""
    for _ in $(seq "$RUNS"); do
      t=$({ time "$@" >/dev/null 2>&1; } 2>&1)
      best=$(printf '%s\n%s\n' "$best" "$t" | awk 'NF == 3' | sort -n | head -1)
    done
    echo "$best"
  }
  read -r tw tu ts <<<"$(measure "$TERNCTL" mrt "$FILE")"
  read -r bw bu bs <<<"$(measure bgpdump -m "$FILE")"
  awk -v tw="$tw" -v tc="$(echo "$tu $ts" | awk '{print $1 + $2}')" \
    -v bw="$bw" -v bc="$(echo "$bu $bs" | awk '{print $1 + $2}')" 'BEGIN {
      printf "ternctl: %.2f s wall, %.2f s CPU (best of runs)\nbgpdump: %.2f s wall, %.2f s CPU\n", tw, tc, bw, bc
      printf "ratio (bgpdump / ternctl): %.1fx wall, %.1fx CPU\n", bw / tw, bc / tc
    }'
fi
