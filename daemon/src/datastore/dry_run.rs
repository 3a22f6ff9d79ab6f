//! `--dry-run`: the desired state derived for a node, as JSON, for operators comparing it with
//! what BIRD ran. Secrets are never read: a password shows where it would come from.

use config::schema::EncapMode;
use config::{Community, DesiredPeer, DesiredState, Password, TtlMode};
use serde_json::{json, Value};

use crate::calico::{pool_class, within, CalicoOptions, CalicoRules, PoolClass};

fn community(c: &Community) -> String {
    match c {
        Community::Standard(a, b) => format!("{a}:{b}"),
        Community::Large(a, b, c) => format!("{a}:{b}:{c}"),
    }
}

fn encap(m: EncapMode) -> &'static str {
    match m {
        EncapMode::Never => "Never",
        EncapMode::Always => "Always",
        EncapMode::CrossSubnet => "CrossSubnet",
    }
}

fn peer(p: &DesiredPeer) -> Value {
    let password = match &p.password {
        None => Value::Null,
        Some(Password::File(path)) => json!({ "file": path.display().to_string() }),
        Some(Password::Inline(_)) => json!("inline (hidden)"),
    };
    let (ttl_security, multihop_ttl) = match p.ttl {
        TtlMode::Security { hops } => (json!(hops), Value::Null),
        TtlMode::Multihop { ttl } => (Value::Null, json!(ttl)),
    };
    json!({
        "name": p.name,
        "kind": format!("{:?}", p.kind),
        "address": p.address.to_string(),
        "port": p.port,
        "as": p.remote_asn,
        "local_as": p.local_asn,
        "passive": p.passive,
        "rr_client": p.rr_client,
        "cluster_id": p.cluster_id.map(|c| c.to_string()),
        "next_hop_mode": format!("{:?}", p.next_hop_mode).to_lowercase(),
        "password": password,
        "ttl_security": ttl_security,
        "multihop_ttl": multihop_ttl,
        "source_address": p.local_address.map(|a| a.to_string()),
        "graceful_restart_time": p.graceful_restart_time,
        "keepalive_time": p.keepalive_time,
        "hold_time": p.hold_time,
        "families": p.families.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        "allow_own_as": p.allow_own_as,
    })
}

/// The JSON document `--dry-run` prints for `state`; `malformed` lists the objects skipped.
pub fn render(state: &DesiredState, malformed: &[(String, String)]) -> Value {
    let options =
        CalicoOptions { program_cluster_routes: state.calico.program_cluster_routes, ..CalicoOptions::default() };
    let rules = CalicoRules::new(state, options);
    let communities_of = |prefix: &ipnet::IpNet| -> Vec<String> {
        state
            .calico
            .prefix_communities
            .iter()
            .filter(|(cidr, _)| within(&prefix.trunc(), &cidr.trunc()))
            .flat_map(|(_, cs)| cs.iter().map(community))
            .collect()
    };
    let originated: Vec<Value> = rules
        .originated_routes()
        .iter()
        .map(|(prefix, _)| json!({ "prefix": prefix.to_string(), "communities": communities_of(prefix) }))
        .collect();
    let pools: Vec<Value> = state
        .calico
        .ip_pools
        .iter()
        .map(|p| {
            let pool = config::PoolState { cidr: p.cidr.trunc(), ..p.clone() };
            let kernel = if rules.felix_owned(&pool) {
                "felix".to_string()
            } else {
                match pool_class(&pool) {
                    PoolClass::Ipip { cross_subnet: false } => "tern: via tunl0".to_string(),
                    PoolClass::Ipip { cross_subnet: true } => "tern: direct on subnet, else via tunl0".to_string(),
                    PoolClass::NoEncap | PoolClass::Vxlan => "tern: direct".to_string(),
                }
            };
            json!({
                "cidr": p.cidr.to_string(),
                "ipip_mode": encap(p.ipip_mode),
                "vxlan_mode": encap(p.vxlan_mode),
                "disabled": p.disabled,
                "disable_bgp_export": p.disable_bgp_export,
                "kernel_routes": kernel,
                "communities": communities_of(&p.cidr),
            })
        })
        .collect();
    json!({
        "node": state.node_name,
        "router_id": state.router_id.to_string(),
        "as": state.asn,
        "ipv4": state.ipv4.map(|a| a.to_string()),
        "ipv6": state.ipv6.map(|a| a.to_string()),
        "route_reflector_cluster_id": state.rr_cluster_id.map(|c| c.to_string()),
        "listen": state.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "listen_ranges": state.listen_ranges.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "peers": state.peers.iter().map(peer).collect::<Vec<_>>(),
        "originated": originated,
        "prefix_communities": state.calico.prefix_communities.iter().map(|(cidr, cs)| json!({
            "cidr": cidr.to_string(),
            "communities": cs.iter().map(community).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "program_cluster_routes": format!("{:?}", state.calico.program_cluster_routes),
        "pools": pools,
        "service_cidrs": {
            "cluster": state.calico.service_cluster_cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "external": state.calico.service_external_cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "loadbalancer": state.calico.service_loadbalancer_cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        },
        "malformed": malformed.iter().map(|(k, e)| json!({ "key": k, "error": e })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use config::calico::{Datastore, TranslateOptions};

    const R: &str = "/calico/resources/v3/projectcalico.org";

    #[test]
    fn dry_run_shows_peers_pools_and_password_sources_without_secrets() {
        let mut ds = Datastore::new();
        let put = |ds: &mut Datastore, k: &str, v: &str| ds.apply_put(k, v.as_bytes()).expect(k);
        put(
            &mut ds,
            &format!("{R}/nodes/n1"),
            r#"{"metadata":{"name":"n1"},"spec":{"bgp":{"ipv4Address":"10.0.0.1/24"}}}"#,
        );
        put(
            &mut ds,
            &format!("{R}/nodes/n2"),
            r#"{"metadata":{"name":"n2"},"spec":{"bgp":{"ipv4Address":"10.0.0.2/24"}}}"#,
        );
        put(
            &mut ds,
            &format!("{R}/bgppeers/tor"),
            r#"{"spec":{"peerIP":"10.0.0.254","asNumber":65000,"ttlSecurity":1,
                "password":{"secretKeyRef":{"name":"bgp","key":"tor"}}}}"#,
        );
        put(&mut ds, &format!("{R}/ippools/p"), r#"{"spec":{"cidr":"10.244.0.0/16","ipipMode":"Always"}}"#);
        put(&mut ds, &format!("{R}/ippools/v"), r#"{"spec":{"cidr":"10.245.0.0/16","vxlanMode":"Always"}}"#);
        put(&mut ds, "/calico/ipam/v2/host/n1/ipv4/block/10.244.1.0-26", r#"{"state":"confirmed"}"#);
        let opts = TranslateOptions { secret_dir: "/run/secrets".into(), router_id: None };
        let state = ds.desired_state("n1", &opts).expect("state");
        let v = render(&state, &[]);
        assert_eq!(v["as"], 64512);
        assert_eq!(v["router_id"], "10.0.0.1");
        let peers = v["peers"].as_array().expect("peers");
        let tor = peers.iter().find(|p| p["address"] == "10.0.0.254").expect("tor");
        assert_eq!(tor["as"], 65000);
        assert_eq!(tor["password"]["file"], "/run/secrets/bgp/tor");
        assert_eq!(tor["ttl_security"], 1);
        assert_eq!(tor["name"], "Global_10_0_0_254");
        let mesh = peers.iter().find(|p| p["name"] == "Mesh_10_0_0_2").expect("mesh");
        assert_eq!(mesh["passive"], true, "10.0.0.2 > 10.0.0.1 as strings: n1 waits");
        assert_eq!(v["originated"][0]["prefix"], "10.244.1.0/26");
        let pools = v["pools"].as_array().expect("pools");
        let kernel = |cidr: &str| pools.iter().find(|p| p["cidr"] == cidr).expect(cidr)["kernel_routes"].clone();
        assert_eq!(kernel("10.244.0.0/16"), "tern: via tunl0");
        assert_eq!(kernel("10.245.0.0/16"), "felix");
    }
}
