#!/usr/bin/env bash
# Installs the things the interop tests need that are not plain Debian
# packages (those are in APT_PACKAGES of scripts/test.sh): BIRD 1.6, the BIRD
# that Calico ships. Its package `bird` conflicts with `bird2`, so it is
# unpacked, not installed, into a fixed directory:
#
#   $TERN_BIRD1_DIR (default /opt/tern-test/bird1)/usr/sbin/{bird,bird6,birdc,birdc6}
#
# The interop tests look there (or at $TERN_BIRD1_DIR). Idempotent: does
# nothing when the binaries are already there.
set -Eeuo pipefail

DIR=${TERN_BIRD1_DIR:-/opt/tern-test/bird1}

if [ -x "$DIR/usr/sbin/bird" ] && [ -x "$DIR/usr/sbin/bird6" ] && [ -x "$DIR/usr/sbin/birdc" ]; then
  echo "BIRD 1.6 present in $DIR: $("$DIR/usr/sbin/bird" --version 2>&1)"
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 777 "$work" # apt downloads as _apt, which must be able to write here
(cd "$work" && apt-get download bird) || {
  as_root apt-get update -q
  (cd "$work" && apt-get download bird)
}
deb=$(ls "$work"/bird_*.deb)
as_root mkdir -p "$DIR"
as_root dpkg -x "$deb" "$DIR"
"$DIR/usr/sbin/bird" --version
