# FRR bgpd alone (no zebra: -Z, no kernel: -n) as an iBGP route reflector
# (AS 64512, cluster 1.0.0.1): peers in passive peer-groups, "clients" are
# route-reflector clients, "senders" (ingest) are not. Logs errors only (it
# logs per route otherwise). Sourced by bench/run-rr.sh.

sut_version() { /usr/lib/frr/bgpd --version 2>&1 | head -1; }

sut_config() {
  local dir=$1 addr=$2 peers=$3
  {
    cat <<CONF
hostname bench-rr
log file $dir/bgpd.log errors
!
router bgp 64512
 bgp router-id $addr
 bgp cluster-id 1.0.0.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor clients peer-group
 neighbor clients remote-as 64512
 neighbor clients passive
 neighbor senders peer-group
 neighbor senders remote-as 64512
 neighbor senders passive
CONF
    while read -r role peer; do
      if [ "$role" = sender ]; then echo " neighbor $peer peer-group senders"; else echo " neighbor $peer peer-group clients"; fi
    done <"$peers"
    cat <<CONF
 address-family ipv4 unicast
  neighbor clients route-reflector-client
  neighbor clients activate
  neighbor senders activate
 exit-address-family
CONF
    # BENCH_IPV6=1 (mrt): IPv6 unicast on the same sessions.
    if [ "${BENCH_IPV6:-0}" = 1 ]; then
      cat <<CONF
 address-family ipv6 unicast
  neighbor clients route-reflector-client
  neighbor clients activate
  neighbor senders activate
 exit-address-family
CONF
    fi
    echo '!'
  } >"$dir/bgpd.conf"
}

sut_start() {
  local dir=$1 addr=$2
  /usr/lib/frr/bgpd -f "$dir/bgpd.conf" -i "$dir/bgpd.pid" --vty_socket "$dir" \
    -Z -S -n -P 0 -p 179 -l "$addr" >"$dir/bgpd.out" 2>&1 &
  echo $!
}
