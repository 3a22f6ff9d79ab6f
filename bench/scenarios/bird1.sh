# BIRD 1.6 (Calico's BIRD; unpacked by scripts/install-test-deps.sh) as an
# iBGP route reflector (AS 64512, cluster 1.0.0.1), one passive protocol per
# simulated peer, listening on its own address. Next hops (100.64.x.y, see
# loadgen) resolve through a static 100.64.0.0/10 on lo, which is not exported. Sourced by bench/run-rr.sh.

BIRD1=${TERN_BIRD1_DIR:-/opt/tern-test/bird1}/usr/sbin/bird

sut_version() { "$BIRD1" --version 2>&1 | head -1; }

# BENCH_IPV6=1 (mrt): BIRD 1.6 carries IPv6 routes only in bird6, over IPv6
# sessions, so run-rr.sh puts it and the peers in a network namespace
# ($BENCH_NETNS) with IPv6 addresses on lo; the replay's next hops are
# fd00:64::/32.
BIRD6=${TERN_BIRD1_DIR:-/opt/tern-test/bird1}/usr/sbin/bird6
if [ "${BENCH_IPV6:-0}" = 1 ]; then SUT_IPV6_TRANSPORT=1; fi

sut_config() {
  local dir=$1 addr=$2 peers=$3 n=0
  # bird (IPv4) takes its router ID from its address; bird6 needs an IPv4 one.
  local router_id=$addr next_hops=100.64.0.0/10
  if [ "${BENCH_IPV6:-0}" = 1 ]; then
    router_id=127.201.0.2
    next_hops=fd00:64::/32
  fi
  {
    cat <<CONF
router id $router_id;
log "$dir/bird.log" { warning, error, fatal, bug };
listen bgp address $addr;
protocol device { scan time 60; }
protocol static { route $next_hops via "lo"; }
template bgp rrpeer {
  local $addr as 64512;
  passive on;
  rr cluster id 1.0.0.1;
  next hop keep;
  import all;
  export where source = RTS_BGP;
}
CONF
    while read -r role peer; do
      n=$((n + 1))
      if [ "$role" = sender ]; then
        printf 'protocol bgp p%d from rrpeer { neighbor %s as 64512; }\n' "$n" "$peer"
      else
        printf 'protocol bgp p%d from rrpeer { neighbor %s as 64512; rr client; }\n' "$n" "$peer"
      fi
    done <"$peers"
  } >"$dir/bird.conf"
}

sut_start() {
  local dir=$1
  if [ "${BENCH_IPV6:-0}" = 1 ]; then
    ip netns exec "$BENCH_NETNS" "$BIRD6" -f -c "$dir/bird.conf" -s "$dir/bird.ctl" -P "$dir/bird.pid" \
      >"$dir/bird.out" 2>&1 &
    echo $!
    return
  fi
  "$BIRD1" -f -c "$dir/bird.conf" -s "$dir/bird.ctl" -P "$dir/bird.pid" >"$dir/bird.out" 2>&1 &
  echo $!
}
