#!/usr/bin/env bash
# The one command that checks tern: installs what the tests need, then builds,
# tests, lints, smoke-fuzzes and smoke-benches the workspace.
#
# Runs on a fresh Debian 12 machine as root (or with sudo), with Rust stable and
# cargo-nextest. CI (.ci/run) calls exactly this script.
#
# Environment knobs:
#   FUZZ_SECONDS=N   seconds per fuzz target in the smoke run (default 30, 0 skips)
#   SKIP_APT=1       do not touch system packages
#   SKIP_BENCH=1     skip the bench smoke
#   FUZZ_REGRESSIONS_STRICT=1  fail when an input in fuzz/regressions/ still crashes
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

# System packages the tests need. Extend this array; nothing else to change.
#   bgpdump: reference MRT decoder compared against by the MRT tests.
#   iproute2: `ip netns` / `ip link` for the fib crate's network-namespace tests.
#   build-essential, pkg-config: C toolchain for -sys crates (bzip2).
#   bird2, gobgpd, frr: real peers of the speaker's interop tests (BIRD 1.6,
#     which conflicts with bird2, comes from scripts/install-test-deps.sh).
#   protobuf-compiler: protoc for the etcd-client crate's build; etcd-server,
#     etcd-client: the real etcd (and etcdctl) of the datastore tests; openssl:
#     the certificates of their TLS test.
APT_PACKAGES=(
  bgpdump
  iproute2
  build-essential
  pkg-config
  bird2
  gobgpd
  frr
  protobuf-compiler
  etcd-server
  etcd-client
  openssl
)

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
# Hard bound per fuzz target (build already done): run time + startup slack.
FUZZ_WALL=$((FUZZ_SECONDS + 90))
FUZZ_TARGETS=(message_decode update_attributes framer mrt_record)

START=$(date +%s)
step() { printf '\n==> [%4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
die() {
  printf '\nFAILED: %s\n' "$*" >&2
  exit 1
}
trap 'die "command failed (exit $?) at scripts/test.sh line $LINENO: $BASH_COMMAND"' ERR

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

install_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "all present: ${APT_PACKAGES[*]}"
    return
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q || die "apt-get update failed"
  as_root apt-get install -y -q --no-install-recommends "${missing[@]}" || die "apt-get install ${missing[*]} failed"
}

step "toolchain"
command -v cargo >/dev/null || die "cargo not found: install Rust stable (rustup) first"
cargo --version
cargo nextest --version >/dev/null 2>&1 || {
  echo "cargo-nextest missing; installing"
  cargo install cargo-nextest || die "cargo install cargo-nextest failed"
}

if [ "${SKIP_APT:-0}" != 1 ]; then
  step "system packages"
  install_packages
  "$ROOT/scripts/install-test-deps.sh" || die "scripts/install-test-deps.sh failed"
fi

if [ -d fuzz ] && [ "$FUZZ_SECONDS" != 0 ]; then
  cargo fuzz --version >/dev/null 2>&1 || {
    step "installing cargo-fuzz"
    cargo install cargo-fuzz || die "cargo install cargo-fuzz failed"
  }
fi

step "build (workspace, all targets)"
cargo build --workspace --all-targets || die "build failed"

step "tests (cargo nextest run --workspace)"
cargo nextest run --workspace || die "tests failed (see the nextest summary above)"

step "demo (ternctl demo, the README's first command, on the debug build)"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
timeout --kill-after=10 120 "$TARGET_DIR/debug/ternctl" demo --speaker "$TARGET_DIR/debug/tern-speaker" ||
  die "ternctl demo failed"

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings || die "clippy found warnings"

step "rustfmt"
cargo fmt --all --check || die "code is not formatted: run 'cargo fmt --all'"

if [ -d fuzz ] && [ "$FUZZ_SECONDS" != 0 ]; then
  step "fuzz smoke: build"
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --sanitizer none) || die "cargo fuzz build failed"
  (cd fuzz && cargo fmt --all --check) || die "fuzz/ is not formatted: run 'cd fuzz && cargo fmt --all'"
  mkdir -p fuzz/artifacts
  for t in "${FUZZ_TARGETS[@]}"; do
    step "fuzz smoke: $t (${FUZZ_SECONDS}s)"
    mkdir -p "fuzz/corpus/$t"
    seeds=()
    [ -d "fuzz/seeds/$t" ] && seeds+=("seeds/$t")
    log="fuzz/artifacts/smoke-$t.log"
    if (cd fuzz && timeout --kill-after=10 "$FUZZ_WALL" env RUSTC_BOOTSTRAP=1 \
      cargo fuzz run --sanitizer none "$t" "corpus/$t" "${seeds[@]}" -- \
      -max_total_time="$FUZZ_SECONDS" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1; then
      grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
    else
      tail -60 "$log"
      die "fuzz target $t crashed or hung (log: $log; input under fuzz/artifacts/$t/)"
    fi
  done
  # Inputs that once crashed a target (fuzz/regressions/<target>/). Replayed
  # on every run; fatal only with FUZZ_REGRESSIONS_STRICT=1 until each known
  # crash is fixed (a crash found late must not block unrelated work).
  for t in "${FUZZ_TARGETS[@]}"; do
    if [ -n "$(ls -A "fuzz/regressions/$t" 2>/dev/null)" ]; then
      step "fuzz regressions: $t"
      log="fuzz/artifacts/regressions-$t.log"
      if ! (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$t" "regressions/$t"/* -- -runs=1) >"$log" 2>&1; then
        grep -E -m5 'panicked|^thread|Running:' "$log" || true
        if [ "${FUZZ_REGRESSIONS_STRICT:-0}" = 1 ]; then
          die "a saved regression input for $t still fails (log: $log)"
        fi
        echo "WARNING: a saved regression input for $t still fails (log: $log)"
      fi
    fi
  done
fi

if [ -d bench ] && [ "${SKIP_BENCH:-0}" != 1 ]; then
  step "bench smoke (criterion --test: each benchmark runs once)"
  cargo bench -p tern-bench --bench codec -- --test || die "bench smoke failed"
fi

step "all checks passed in $(($(date +%s) - START))s"
