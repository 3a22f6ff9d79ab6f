# BIRD 2 as an iBGP route reflector (AS 64512, cluster 1.0.0.1), one passive
# protocol per simulated peer from a template. Next hops (100.64.x.y, see
# loadgen) resolve through a static 100.64.0.0/10 on lo, which is
# not exported. Sourced by bench/run-rr.sh.

sut_version() { bird --version 2>&1 | head -1; }

sut_config() {
  local dir=$1 addr=$2 peers=$3 n=0
  {
    cat <<CONF
router id $addr;
log "$dir/bird.log" { warning, error, fatal, bug };
protocol device { scan time 60; }
protocol static { ipv4; route 100.64.0.0/10 via "lo"; }
CONF
    # BENCH_IPV6=1 (mrt): an IPv6 channel too; the replay's next hops are fd00:64::/32.
    local v6=""
    if [ "${BENCH_IPV6:-0}" = 1 ]; then
      echo 'protocol static { ipv6; route fd00:64::/32 via "lo"; }'
      v6='ipv6 { import all; export where source = RTS_BGP; next hop keep; };'
    fi
    cat <<CONF
template bgp rrpeer {
  local $addr as 64512;
  neighbor as 64512;
  passive on;
  strict bind on;
  rr cluster id 1.0.0.1;
  ipv4 { import all; export where source = RTS_BGP; next hop keep; };
  $v6
}
CONF
    while read -r role peer; do
      n=$((n + 1))
      if [ "$role" = sender ]; then
        printf 'protocol bgp p%d from rrpeer { neighbor %s; }\n' "$n" "$peer"
      else
        printf 'protocol bgp p%d from rrpeer { neighbor %s; rr client; }\n' "$n" "$peer"
      fi
    done <"$peers"
  } >"$dir/bird.conf"
}

sut_start() {
  local dir=$1
  bird -f -c "$dir/bird.conf" -s "$dir/bird.ctl" -P "$dir/bird.pid" >"$dir/bird.out" 2>&1 &
  echo $!
}
