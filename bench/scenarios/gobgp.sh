# GoBGP as an iBGP route reflector (AS 64512, cluster 1.0.0.1): one passive
# neighbor per simulated peer, route-reflector clients except the ingest
# senders. Sourced by bench/run-rr.sh.

sut_version() { gobgpd --version 2>&1 | head -1; }

sut_config() {
  local dir=$1 addr=$2 peers=$3
  {
    cat <<TOML
[global.config]
  as = 64512
  router-id = "$addr"
  port = 179
  local-address-list = ["$addr"]
TOML
    while read -r role peer; do
      local client=true
      [ "$role" = sender ] && client=false
      cat <<TOML

[[neighbors]]
  [neighbors.config]
    neighbor-address = "$peer"
    peer-as = 64512
  [neighbors.transport.config]
    passive-mode = true
    local-address = "$addr"
  [neighbors.route-reflector.config]
    route-reflector-client = $client
    route-reflector-cluster-id = "1.0.0.1"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
TOML
      # BENCH_IPV6=1 (mrt): IPv6 unicast on the same sessions.
      if [ "${BENCH_IPV6:-0}" = 1 ]; then
        printf '  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = "ipv6-unicast"\n'
      fi
    done <"$peers"
  } >"$dir/gobgpd.toml"
}

sut_start() {
  local dir=$1 addr=$2
  gobgpd -f "$dir/gobgpd.toml" -t toml -l warn -p --pprof-disable --api-hosts="$addr:50051" >"$dir/gobgpd.log" 2>&1 &
  echo $!
}
