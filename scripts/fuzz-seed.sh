#!/usr/bin/env bash
# Fills the fuzz corpora from the captures and MRT dumps in tests/data:
#   fuzz/corpus/<target>/   every distinct input (thousands; not in git)
#   fuzz/seeds/<target>/    with --seeds: at most 200 small inputs per target,
#                           drawn from every source file (committed; the fuzz
#                           smoke in scripts/test.sh starts from them)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seed() { cargo run --release --quiet -p tern-bench --bin fuzz-seed -- "$@"; }
seed fuzz/corpus
if [ "${1:-}" = --seeds ]; then
  rm -rf fuzz/seeds
  seed fuzz/seeds 200
fi
