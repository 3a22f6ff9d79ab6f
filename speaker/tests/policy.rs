//! Route policies: prefix sets with ge/le, community and large-community matches and changes,
//! LOCAL_PREF / MED / next hop, accept/reject order, chaining — and a policy registered with the
//! RIB shaping what a peer is actually sent.

mod rib_common;

use std::sync::Arc;

use bgp_proto::attribute::{LargeCommunity, MpNextHop, Origin};
use bgp_proto::{Family, Nlri, PathAttributes};
use ipnet::IpNet;
use rib_common::*;
use speaker::policy::{
    community, large_community, next_hop, Action, Chain, Match, PolicyError, PrefixRange, PrefixSet, RoutePolicy,
    Verdict,
};
use speaker::rib::{Input, Policy};

fn p(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn run(policy: &dyn Policy, family: Family, prefix: &str, attrs: &mut PathAttributes) -> bool {
    policy.apply(family, &net(prefix), attrs)
}

#[test]
fn prefix_range_ge_le_bounds_are_inclusive() {
    let r = PrefixRange::new(p("10.244.0.0/16"), 24, 26).expect("valid range");
    assert!(!r.matches(&p("10.244.0.0/16")), "shorter than ge");
    assert!(!r.matches(&p("10.244.1.0/23")));
    assert!(r.matches(&p("10.244.1.0/24")));
    assert!(r.matches(&p("10.244.1.64/26")));
    assert!(!r.matches(&p("10.244.1.64/27")), "longer than le");
    assert!(!r.matches(&p("10.245.1.0/24")), "outside the prefix");
    assert!(!r.matches(&p("fd00::/24")), "other family");
    assert_eq!(r.to_string(), "10.244.0.0/16{24,26}");
}

#[test]
fn prefix_range_exact_or_longer_and_longer() {
    let block = p("192.168.221.64/26");
    let exact = PrefixRange::exact(block);
    assert!(exact.matches(&block));
    assert!(!exact.matches(&p("192.168.221.65/32")));

    let plus = PrefixRange::or_longer(block);
    assert!(plus.matches(&block));
    assert!(plus.matches(&p("192.168.221.65/32")));
    assert!(!plus.matches(&p("192.168.221.0/24")));

    let strictly = PrefixRange::longer(block).expect("a /26 has longer prefixes");
    assert!(!strictly.matches(&block));
    assert!(strictly.matches(&p("192.168.221.96/27")));
    assert_eq!(PrefixRange::longer(p("10.0.0.1/32")), None);

    let v6 = PrefixRange::or_longer(p("fd00:10:244::/48"));
    assert!(v6.matches(&p("fd00:10:244:1::/64")));
    assert!(v6.matches(&p("fd00:10:244:1::7/128")));
    assert!(!v6.matches(&p("fd00:10:245::/64")));
}

#[test]
fn prefix_range_host_bits_are_ignored_and_bad_ranges_refused() {
    let r = PrefixRange::new(p("10.244.3.7/16"), 16, 32).expect("valid");
    assert_eq!(r.prefix(), p("10.244.0.0/16"));
    assert!(r.matches(&p("10.244.200.0/24")));

    assert_eq!(
        PrefixRange::new(p("10.0.0.0/16"), 8, 24),
        Err(PolicyError::BadLengthRange { prefix: p("10.0.0.0/16"), ge: 8, le: 24 })
    );
    assert!(PrefixRange::new(p("10.0.0.0/16"), 24, 20).is_err(), "ge > le");
    assert!(PrefixRange::new(p("10.0.0.0/16"), 16, 33).is_err(), "le beyond /32");
    assert!(PrefixRange::new(p("fd00::/16"), 16, 128).is_ok());
    let e = PrefixRange::new(p("10.0.0.0/16"), 8, 24).expect_err("ge below the prefix length");
    assert_eq!(e.to_string(), "bad prefix length range 10.0.0.0/16{8,24}: need 16 <= ge <= le <= 32");
}

#[test]
fn prefix_set_matches_any_entry() {
    let set = PrefixSet::from_iter([
        PrefixRange::exact(p("10.96.0.0/12")),
        PrefixRange::new(p("192.168.0.0/16"), 26, 32).expect("valid"),
    ]);
    assert!(set.matches(&p("10.96.0.0/12")));
    assert!(!set.matches(&p("10.96.0.0/16")));
    assert!(set.matches(&p("192.168.3.192/26")));
    assert!(!set.matches(&p("192.168.3.0/24")));
    assert!(set.contains_addr(ip("192.168.3.1")));
    assert!(!PrefixSet::new().matches(&p("10.96.0.0/12")));
}

#[test]
fn reject_by_default_and_first_terminating_rule_wins() {
    let policy = RoutePolicy::reject_by_default()
        .rule(Match::within(p("10.244.0.0/16")), [Action::SetLocalPref(200)])
        .rule(Match::exactly(p("10.244.7.0/26")), [Action::Reject])
        .rule(Match::within(p("10.244.0.0/16")), [Action::Accept])
        .rule(Match::Any, [Action::SetLocalPref(999), Action::Accept]);

    let mut a = attrs(&[], "10.0.0.1");
    assert!(run(&policy, V4, "10.244.1.0/26", &mut a));
    assert_eq!(a.local_pref, Some(200), "change of an earlier non-terminating rule is kept");

    let mut a = attrs(&[], "10.0.0.1");
    assert!(!run(&policy, V4, "10.244.7.0/26", &mut a), "explicit reject before the accept");

    let mut a = attrs(&[], "10.0.0.1");
    assert!(run(&policy, V4, "172.16.0.0/24", &mut a), "catch-all accept");
    assert_eq!(a.local_pref, Some(999));

    let nothing = RoutePolicy::reject_by_default().rule(Match::within(p("10.244.0.0/16")), [Action::Accept]);
    let mut a = attrs(&[], "10.0.0.1");
    assert_eq!(nothing.evaluate(V4, &net("172.16.0.0/24"), &mut a), Verdict::Reject);
    assert_eq!(RoutePolicy::accept_by_default().evaluate(V4, &net("172.16.0.0/24"), &mut a), Verdict::Accept);
}

#[test]
fn actions_after_accept_do_not_run() {
    let policy = RoutePolicy::reject_by_default().rule(Match::Any, [Action::Accept, Action::SetMed(5)]);
    let mut a = attrs(&[], "10.0.0.1");
    assert!(run(&policy, V4, "10.0.0.0/8", &mut a));
    assert_eq!(a.med, None);
}

#[test]
fn community_add_is_idempotent_and_matchable() {
    let c = community(64512, 100);
    assert_eq!(c, 0xfc00_0064);
    let tag = RoutePolicy::accept_by_default()
        .rule(Match::within(p("10.244.0.0/16")), [Action::AddCommunity(c), Action::AddCommunity(community(65000, 1))]);
    let mut a = attrs(&[], "10.0.0.1");
    a.communities = Some(vec![c]);
    assert!(run(&tag, V4, "10.244.1.0/26", &mut a));
    assert_eq!(a.communities, Some(vec![c, community(65000, 1)]), "no duplicate of 64512:100");

    let only_tagged = RoutePolicy::reject_by_default().rule(Match::Community(c), [Action::Accept]);
    assert!(run(&only_tagged, V4, "10.244.1.0/26", &mut a));
    let mut untagged = attrs(&[], "10.0.0.1");
    assert!(!run(&only_tagged, V4, "10.244.1.0/26", &mut untagged));

    let strip = RoutePolicy::accept_by_default()
        .rule(Match::Any, [Action::RemoveCommunity(c), Action::RemoveCommunity(community(65000, 1))]);
    assert!(run(&strip, V4, "10.244.1.0/26", &mut a));
    assert_eq!(a.communities, None, "an emptied attribute is dropped, not sent empty");
}

#[test]
fn large_community_add_match_remove() {
    let lc = large_community(4_200_000_000, 7, 42);
    assert_eq!(lc, LargeCommunity { global_admin: 4_200_000_000, local_data1: 7, local_data2: 42 });
    let policy = RoutePolicy::reject_by_default()
        .rule(Match::within(p("fd00:10:244::/48")), [Action::AddLargeCommunity(lc), Action::AddLargeCommunity(lc)])
        .rule(Match::LargeCommunity(lc), [Action::Accept]);
    let mut a = PathAttributes::default();
    assert!(policy.apply(V6, &net("fd00:10:244:1::/64"), &mut a));
    assert_eq!(a.large_communities, Some(vec![lc]));
    let mut b = PathAttributes::default();
    assert!(!policy.apply(V6, &net("fd00:99::/64"), &mut b));
    assert_eq!(b.large_communities, None);

    let strip = RoutePolicy::accept_by_default().rule(Match::Any, [Action::RemoveLargeCommunity(lc)]);
    assert!(strip.apply(V6, &net("fd00:10:244:1::/64"), &mut a));
    assert_eq!(a.large_communities, None);
}

#[test]
fn set_local_pref_and_med_and_match_ranges() {
    let policy = RoutePolicy::reject_by_default()
        .rule(Match::Any, [Action::SetLocalPref(2_147_482_623), Action::SetMed(10)])
        .rule(Match::LocalPref { min: 2_147_482_623, max: u32::MAX }, [Action::RemoveMed])
        .rule(Match::Med { min: 0, max: u32::MAX }, [Action::Reject])
        .rule(Match::Any, [Action::Accept]);
    let mut a = attrs(&[], "10.0.0.1");
    assert!(run(&policy, V4, "10.244.1.0/26", &mut a));
    assert_eq!(a.local_pref, Some(2_147_482_623));
    assert_eq!(a.med, None, "the MED rule saw the removal");
}

#[test]
fn set_next_hop_ipv4_uses_next_hop_attribute() {
    let policy = RoutePolicy::accept_by_default().rule(Match::Any, [Action::SetNextHop(ip("192.168.1.10"))]);
    let mut a = attrs(&[], "10.0.0.1");
    assert!(run(&policy, V4, "10.244.1.0/26", &mut a));
    assert_eq!(a.next_hop, Some("192.168.1.10".parse().expect("addr")));
    assert_eq!(a.mp_reach, None);
    assert_eq!(next_hop(V4, &a), Some(ip("192.168.1.10")));
}

#[test]
fn set_next_hop_ipv6_uses_mp_reach_and_keeps_family() {
    let policy = RoutePolicy::accept_by_default().rule(Match::Any, [Action::SetNextHop(ip("fd00::a"))]);
    let mut a = PathAttributes::default();
    assert!(policy.apply(V6, &net("fd00:10:244:1::/64"), &mut a));
    let reach = a.mp_reach.as_ref().expect("MP_REACH set");
    assert_eq!(reach.family, V6);
    assert_eq!(reach.next_hop, MpNextHop::V6("fd00::a".parse().expect("addr")));
    assert_eq!(a.next_hop, None);

    // An IPv6 next hop for an IPv4 route (RFC 8950) goes into MP_REACH too.
    let mut b = attrs(&[], "10.0.0.1");
    assert!(policy.apply(V4, &net("10.244.1.0/26"), &mut b));
    assert_eq!(b.next_hop, None);
    assert_eq!(next_hop(V4, &b), Some(ip("fd00::a")));
}

#[test]
fn next_hop_match_tests_the_address() {
    let subnet = PrefixSet::from_iter([PrefixRange::or_longer(p("10.0.0.0/24"))]);
    let on_link = RoutePolicy::reject_by_default().rule(Match::NextHop(subnet), [Action::Accept]);
    assert!(run(&on_link, V4, "10.244.1.0/26", &mut attrs(&[], "10.0.0.7")));
    assert!(!run(&on_link, V4, "10.244.1.0/26", &mut attrs(&[], "10.0.1.7")));
    assert!(!run(&on_link, V4, "10.244.1.0/26", &mut PathAttributes::default()), "no next hop: no match");
}

#[test]
fn as_path_matches_and_prepend() {
    let mut a = attrs(&[65001, 65002], "10.0.0.1");
    assert!(Match::AsPathContains(65002).matches(V4, &net("10.0.0.0/8"), &a));
    assert!(Match::OriginAs(65002).matches(V4, &net("10.0.0.0/8"), &a));
    assert!(!Match::OriginAs(65001).matches(V4, &net("10.0.0.0/8"), &a));
    assert!(Match::AsPathLength { min: 2, max: 2 }.matches(V4, &net("10.0.0.0/8"), &a));
    let policy = RoutePolicy::accept_by_default()
        .rule(Match::Any, [Action::PrependAs { asn: 64512, count: 3 }, Action::SetOrigin(Origin::Incomplete)]);
    assert!(run(&policy, V4, "10.0.0.0/8", &mut a));
    assert_eq!(a.as_path, Some(seq(&[64512, 64512, 64512, 65001, 65002])));
    assert_eq!(a.origin, Some(Origin::Incomplete));
}

#[test]
fn nested_matches() {
    let pods = Match::within(p("10.244.0.0/16"));
    let tagged = Match::Community(community(64512, 1));
    let m = Match::All(vec![pods.clone(), Match::AnyOf(vec![tagged, Match::Family(V6)]).negate()]);
    let mut a = attrs(&[], "10.0.0.1");
    assert!(m.matches(V4, &net("10.244.1.0/26"), &a));
    a.communities = Some(vec![community(64512, 1)]);
    assert!(!m.matches(V4, &net("10.244.1.0/26"), &a));
    assert!(Match::All(vec![]).matches(V4, &net("10.0.0.0/8"), &a));
    assert!(!Match::AnyOf(vec![]).matches(V4, &net("10.0.0.0/8"), &a));
    let custom = Match::custom(|_, n: &Nlri, _| n.prefix.prefix_len() == 26);
    assert!(custom.matches(V4, &net("10.244.1.0/26"), &a));
    assert!(format!("{custom:?}").contains("Custom"));
}

#[test]
fn chain_needs_every_link_and_passes_changes_along() {
    let tag = RoutePolicy::accept_by_default().rule(Match::Any, [Action::AddCommunity(community(64512, 7))]);
    let needs_tag = RoutePolicy::reject_by_default().rule(Match::Community(community(64512, 7)), [Action::Accept]);
    let no_default = |_: Family, n: &Nlri, _: &mut PathAttributes| n.prefix.prefix_len() > 0;
    let chain = Chain::new().then(tag).then(needs_tag).then(no_default);
    assert_eq!(chain.len(), 3);
    let mut a = attrs(&[], "10.0.0.1");
    assert!(run(&chain, V4, "10.244.1.0/26", &mut a), "the second link sees the first link's community");
    assert!(!run(&chain, V4, "0.0.0.0/0", &mut attrs(&[], "10.0.0.1")), "the closure link rejects");
    assert!(run(&Chain::new(), V4, "0.0.0.0/0", &mut attrs(&[], "10.0.0.1")), "empty chain accepts");
}

/// A policy registered with the RIB decides what the peer receives, with the changes it made.
#[test]
fn export_policy_in_the_rib_filters_and_tags_what_a_peer_receives() {
    let mut rib = rib();
    let blocks = PrefixSet::from_iter([PrefixRange::new(p("10.244.0.0/16"), 26, 26).expect("valid")]);
    let policy = RoutePolicy::reject_by_default().rule(
        Match::Prefix(blocks),
        [
            Action::AddCommunity(community(64512, 100)),
            Action::AddLargeCommunity(large_community(64512, 1, 2)),
            Action::SetMed(50),
            Action::Accept,
        ],
    );
    rib.set_policy(1, Arc::new(policy));
    let mut peer = info(1, 65001);
    peer.export_policy = Some(1);
    up(&mut rib, 1, peer);
    let mut out = Vec::new();
    for prefix in ["10.244.1.0/26", "10.244.2.0/24", "10.244.1.5/32"] {
        out.extend(
            rib.handle(t0(), Input::Originate { family: V4, nlri: net(prefix), attrs: attrs(&[], "10.0.0.254") }),
        );
    }
    assert_eq!(announced_to(&out, 1), vec![net("10.244.1.0/26")]);
    let updates = sent_to(&out, 1);
    let sent = updates.iter().find(|u| !u.nlri.is_empty()).expect("an announcement");
    assert_eq!(sent.attributes.communities, Some(vec![community(64512, 100)]));
    assert_eq!(sent.attributes.large_communities, Some(vec![large_community(64512, 1, 2)]));
    assert_eq!(sent.attributes.med, Some(50));
    assert_eq!(sent.attributes.as_path, Some(seq(&[LOCAL_AS])), "the RIB's eBGP rules still ran");
}
