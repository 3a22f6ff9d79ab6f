# tern-speaker as an iBGP route reflector (AS 64512, cluster 1.0.0.1):
# every simulated peer a passive [[peer]]; rr clients in rr mode, in ingest
# the senders are non-clients (nothing is reflected to them) and the monitor
# is the one client. Kernel learning and programming off, no control socket.
# Peers keep Calico's default import/export policies (as on a real reflector).
# Sourced by bench/run-rr.sh: sut_config DIR ADDR PEERS_FILE; sut_start DIR ADDR (prints the PID).

sut_version() { "$TERN_SPEAKER" --version 2>&1 | head -1; }

sut_config() {
  local dir=$1 addr=$2 peers=$3
  {
    cat <<TOML
[global]
asn = 64512
node_name = "bench-rr"
router_id = "$addr"
ipv4 = "$addr"
rr_cluster_id = "1.0.0.1"
listen_addresses = ["$addr"]

[mesh]
enabled = false

[kernel]
learn = false
program = false

[log]
level = "warn"

# Calico's export filter (calico_export_to_bgp_peers) passes routes inside IP
# pools: loadgen's prefixes are in 10.0.0.0/8 (rr) and 16.0.0.0/4 (ingest).
[[calico.ip_pools]]
cidr = "10.0.0.0/8"

[[calico.ip_pools]]
cidr = "16.0.0.0/4"
TOML
    # BENCH_IPV6=1 (run-rr.sh mrt): IPv6 unicast on every session and a pool
    # covering the whole replayed table (its odd prefixes included).
    local families=""
    if [ "${BENCH_IPV6:-0}" = 1 ]; then
      printf '\n[[calico.ip_pools]]\ncidr = "::/0"\n'
      families='families = ["ipv4-unicast", "ipv6-unicast"]\n'
    fi
    while read -r role peer; do
      local client=true
      [ "$role" = sender ] && client=false
      printf "\n[[peer]]\naddress = \"%s\"\nasn = 64512\npassive = true\nrr_client = %s\n$families" "$peer" "$client"
    done <"$peers"
  } >"$dir/tern.toml"
}

sut_start() {
  local dir=$1
  "$TERN_SPEAKER" --no-control --config "$dir/tern.toml" >"$dir/tern.log" 2>&1 &
  echo $!
}
