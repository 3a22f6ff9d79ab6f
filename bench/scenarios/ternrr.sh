# tern-reflector fed from a real etcd (issue 6): the same reflector as
# tern.sh (AS 64512, cluster 1.0.0.1, one address, port 179), but every
# client is a Calico Node object in etcd instead of a [[peer]] in a file.
#
# etcd (Debian's etcd-server) runs on ADDR:2379 (peer port ADDR:2380) with its
# data dir under DIR and holds what calicoctl would write for Calico's
# route-reflector recipe:
#   - BGPConfiguration default: asNumber 64512, nodeToNodeMeshEnabled false,
#     bindMode NodeIP (the reflector listens on ADDR only, as run-rr.sh needs);
#   - Node bench-rr: ipv4Address ADDR, routeReflectorClusterID 1.0.0.1, label
#     route-reflector=true (the node tern-reflector runs for);
#   - one Node per simulated peer (client-N, ipv4Address 127.100.x.y); an
#     ingest sender gets routeReflectorClusterID 1.0.0.1 too, which makes it a
#     non-client as tern.sh's rr_client = false does (Calico's rule: a client
#     is a same-AS node with another or no cluster ID);
#   - BGPPeer peer-with-rr: nodeSelector all(), peerSelector
#     route-reflector == 'true' (every node peers with the reflector, which
#     peers back with every node);
#   - IPPools 10.0.0.0/8 and 16.0.0.0/4 (encapsulation off): Calico's export
#     filter passes loadgen's prefixes, as tern.sh's [[calico.ip_pools]].
# Unlike tern.sh's passive [[peer]]s, Calico's BGPPeer sessions are active on
# both sides: the reflector also tries to connect to each client (refused:
# loadgen does not listen), as it would in a cluster.
#
# The objects go in with `etcdctl txn` (batches of 250 puts) before
# tern-reflector starts, so its first list holds every Node. etcd is stopped,
# and its data dir removed, by a watcher as soon as tern-reflector exits
# (run-rr.sh stops it by PID after each system) or run-rr.sh itself exits,
# whichever comes first; the watcher prints etcd's own CPU time and peak RSS
# (not in loadgen's figures, which are the reflector's).
#
# A setup failure (etcd, etcdctl) or mrt mode (BENCH_IPV6=1) makes sut_config
# fail with the reason (etcd stopped): run-rr.sh skips the system.
#
# Sourced by bench/run-rr.sh: sut_version; sut_config DIR ADDR PEERS_FILE;
# sut_start DIR ADDR (prints tern-reflector's PID).
#   TERN_REFLECTOR=PATH   another tern-reflector binary (default: the release build, built unless NO_BUILD=1)

TERN_REFLECTOR=${TERN_REFLECTOR:-${TARGET_DIR:-target}/release/tern-reflector}

sut_version() {
  # run-rr.sh builds tern-speaker and loadgen only; this builds tern-reflector
  # (a no-op when it is up to date). sut_version runs once per system, first.
  if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release --quiet -p tern-speaker --bin tern-reflector >&2
  fi
  echo "$("$TERN_REFLECTOR" --version 2>&1 | head -1), $(etcd --version 2>&1 | head -1) (etcd-fed)"
}

# etcdctl against the scenario's etcd.
ternrr_ctl() { ETCDCTL_API=3 etcdctl --endpoints "http://$TERNRR_ADDR:2379" --dial-timeout 2s --command-timeout 20s "$@"; }

# Stops etcd at once (a failed setup) and says why.
ternrr_fail() {
  echo "ternrr: $2" >&2
  kill "$(cat "$1/etcd.pid")" 2>/dev/null || true
}

# One `put KEY "VALUE"` line of an etcdctl txn (a Go-quoted string: \ and " escaped).
ternrr_put() {
  local v=${2//\\/\\\\}
  printf 'put %s "%s"\n' "$1" "${v//\"/\\\"}"
}

sut_config() {
  local dir=$1 addr=$2 peers=$3
  local res=/calico/resources/v3/projectcalico.org
  TERNRR_ADDR=$addr
  if [ "${BENCH_IPV6:-0}" = 1 ]; then
    # Calico gives a session to an IPv4 address IPv4 unicast only (no IPv6 over it).
    echo "ternrr: IPv6 routes over IPv4 sessions (mrt mode) have no Calico equivalent" >&2
    return 1
  fi
  mkdir -p "$dir/etcd"
  etcd --name bench --data-dir "$dir/etcd/data" \
    --listen-client-urls "http://$addr:2379" --advertise-client-urls "http://$addr:2379" \
    --listen-peer-urls "http://$addr:2380" --initial-advertise-peer-urls "http://$addr:2380" \
    --initial-cluster "bench=http://$addr:2380" --max-txn-ops 1000 \
    >"$dir/etcd.log" 2>&1 </dev/null &
  echo $! >"$dir/etcd.pid"
  ternrr_watch "$dir" "$$" &
  # Healthy within 20 s, unless etcd exits first.
  local ok="" end=$((SECONDS + 20))
  while [ "$SECONDS" -lt "$end" ] && ternrr_alive "$(cat "$dir/etcd.pid")"; do
    if ETCDCTL_API=3 etcdctl --endpoints "http://$addr:2379" --dial-timeout 1s --command-timeout 2s \
      endpoint health >/dev/null 2>&1; then
      ok=1
      break
    fi
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    ternrr_fail "$dir" "etcd did not start on $addr:2379: $(tail -n 3 "$dir/etcd.log")"
    return 1
  fi

  {
    ternrr_put "$res/bgpconfigurations/default" \
      '{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"default"},"spec":{"asNumber":64512,"nodeToNodeMeshEnabled":false,"bindMode":"NodeIP","logSeverityScreen":"Warning"}}'
    ternrr_put "$res/nodes/bench-rr" \
      "{\"kind\":\"Node\",\"apiVersion\":\"projectcalico.org/v3\",\"metadata\":{\"name\":\"bench-rr\",\"labels\":{\"route-reflector\":\"true\"}},\"spec\":{\"bgp\":{\"ipv4Address\":\"$addr/32\",\"routeReflectorClusterID\":\"1.0.0.1\"}}}"
    ternrr_put "$res/bgppeers/peer-with-rr" \
      '{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"peer-with-rr"},"spec":{"nodeSelector":"all()","peerSelector":"route-reflector == '"'"'true'"'"'"}}'
    local cidr name
    for cidr in 10.0.0.0/8 16.0.0.0/4; do
      name="pool-${cidr//[.\/]/-}"
      ternrr_put "$res/ippools/$name" \
        "{\"kind\":\"IPPool\",\"apiVersion\":\"projectcalico.org/v3\",\"metadata\":{\"name\":\"$name\"},\"spec\":{\"cidr\":\"$cidr\",\"ipipMode\":\"Never\",\"vxlanMode\":\"Never\"}}"
    done
    local n=0 role peer cluster
    while read -r role peer; do
      n=$((n + 1))
      cluster=""
      [ "$role" = sender ] && cluster=',"routeReflectorClusterID":"1.0.0.1"'
      ternrr_put "$res/nodes/client-$n" \
        "{\"kind\":\"Node\",\"apiVersion\":\"projectcalico.org/v3\",\"metadata\":{\"name\":\"client-$n\"},\"spec\":{\"bgp\":{\"ipv4Address\":\"$peer/32\"$cluster}}}"
    done <"$peers"
  } >"$dir/objects.txn"
  # A transaction is: compares, a blank line, success ops, a blank line, failure ops, a blank line.
  split -l 250 -d -a 4 "$dir/objects.txn" "$dir/objects.part."
  local part
  for part in "$dir"/objects.part.*; do
    if ! { echo; cat "$part"; echo; echo; } | ternrr_ctl txn >"$dir/txn.out" 2>&1 || ! grep -q SUCCESS "$dir/txn.out"; then
      ternrr_fail "$dir" "etcdctl txn failed for $part: $(tail -n 3 "$dir/txn.out")"
      return 1
    fi
  done
  echo "ternrr: etcd holds $(ternrr_ctl get --prefix --keys-only "$res/nodes/" | grep -c .) Node objects" >&2
  printf '[kernel]\nlearn = false\nprogram = false\n\n[log]\nlevel = "warn"\n' >"$dir/local.toml"
}

# Whether PID runs (a zombie, exited but not yet reaped by its parent, does not).
ternrr_alive() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo Z)" != Z ]; }

# Stops etcd (and removes its data) once tern-reflector has exited, or once
# run-rr.sh has (PID $2), whichever comes first; then prints etcd's CPU time
# and peak RSS. Runs in the background.
ternrr_watch() {
  local dir=$1 parent=$2 epid sut hz
  set +e # run-rr.sh's -e would end the watcher at the first failed kill
  exec </dev/null >/dev/null
  epid=$(cat "$dir/etcd.pid")
  hz=$(getconf CLK_TCK)
  while ternrr_alive "$parent" && ternrr_alive "$epid"; do
    sut=$(cat "$dir/sut.pid" 2>/dev/null || true)
    if [ -n "$sut" ] && ! ternrr_alive "$sut"; then break; fi
    sleep 0.2
  done
  if ternrr_alive "$epid"; then
    local cpu hwm
    cpu=$(awk -v hz="$hz" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$epid/stat" 2>/dev/null || echo "?")
    hwm=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$epid/status" 2>/dev/null || echo "?")
    kill "$epid" 2>/dev/null
    for _ in $(seq 50); do ternrr_alive "$epid" || break; sleep 0.1; done
    kill -9 "$epid" 2>/dev/null
    echo "ternrr: etcd used $cpu CPU s, peak RSS $hwm MB; stopped" >&2
  fi
  rm -rf "$dir/etcd"
}

sut_start() {
  local dir=$1 addr=$2
  "$TERN_REFLECTOR" --datastore etcd --etcd-endpoints "http://$addr:2379" --node bench-rr \
    --no-control --config "$dir/local.toml" >"$dir/tern-reflector.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$dir/sut.pid"
  echo "$pid"
}
