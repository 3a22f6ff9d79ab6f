//! OPEN checks and capability negotiation: from our OPEN and the peer's to
//! what the session may use (RFC 4271 §6.2, RFC 5492, and the RFC of each
//! capability).

use bgp_proto::capability::{AddPathMode, GracefulRestart, Role};
use bgp_proto::error::open_subcode;
use bgp_proto::open::BGP_VERSION;
use bgp_proto::types::RouterId;
use bgp_proto::{Capability, Context, DecodeError, Family, Open};

use crate::config::PeerConfig;

/// The peer's graceful restart state as far as this session is concerned
/// (RFC 4724 §3, RFC 8538 §2). Present only when both sides announced the capability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegotiatedGracefulRestart {
    /// How long to keep the peer's routes stale once it goes away (seconds).
    pub peer_restart_time: u16,
    /// R bit in the peer's OPEN: it restarted and will send End-of-RIB.
    pub peer_restarting: bool,
    /// Negotiated families the peer listed in its capability: those whose
    /// routes are retained when the session drops.
    pub families: Vec<Family>,
    /// The subset of `families` with the F bit: the peer kept forwarding
    /// state across its restart (RFC 4724 §4.2: otherwise flush at once).
    pub forwarding_preserved: Vec<Family>,
    /// Both sides set the N bit: NOTIFICATIONs other than Hard Reset also
    /// keep routes (RFC 8538 §2).
    pub notification: bool,
}

/// What a session negotiated: the result of comparing both OPENs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub local_as: u32,
    /// The peer's AS: its 4-octet AS capability, else its My AS field (RFC 6793 §4.1).
    pub peer_as: u32,
    pub local_id: RouterId,
    pub peer_id: RouterId,
    /// min(ours, theirs); 0 means no hold timer and no keepalives (RFC 4271 §4.2).
    pub hold_time: u16,
    /// Seconds between KEEPALIVEs; 0 when the hold time is 0.
    pub keepalive: u16,
    /// Families both sides announced (RFC 4760 §8; IPv4 unicast for an OPEN without any).
    pub families: Vec<Family>,
    /// Both sides announced 4-octet AS support (RFC 6793).
    pub four_octet_as: bool,
    /// Families on which we send path identifiers (RFC 7911 §4).
    pub add_path_send: Vec<Family>,
    /// Families on which the peer sends path identifiers.
    pub add_path_receive: Vec<Family>,
    /// Both sides support ROUTE-REFRESH (RFC 2918, or the pre-standard code 128).
    pub route_refresh: bool,
    /// Both sides support enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// Both sides support messages up to 65,535 octets (RFC 8654).
    pub extended_message: bool,
    /// IPv4 families on which both sides accept IPv6 next hops (RFC 8950).
    pub extended_next_hop: Vec<Family>,
    pub graceful_restart: Option<NegotiatedGracefulRestart>,
    /// The peer's BGP role (RFC 9234), if it announced one.
    pub peer_role: Option<Role>,
    /// Decode context for messages from the peer.
    pub rx: Context,
    /// Encode context for messages to the peer.
    pub tx: Context,
    /// The peer's OPEN as received.
    pub peer_open: Open,
}

impl Negotiated {
    pub fn is_ibgp(&self) -> bool {
        self.local_as == self.peer_as
    }
}

/// Checks the peer's OPEN against our configuration and negotiates the
/// session (RFC 4271 §6.2). Errors are the NOTIFICATION to send, checked in
/// the RFC's order: version, peer AS, hold time, BGP identifier, optional
/// parameters, then role (RFC 9234 §4.2), then at least one common family
/// (else Unsupported Capability with our Multiprotocol capabilities, RFC 5492 §5).
pub fn negotiate(config: &PeerConfig, ours: &Open, theirs: &Open) -> Result<Negotiated, DecodeError> {
    if theirs.version != BGP_VERSION {
        // Open::validate knows the data format (largest supported version, 2 octets).
        return Err(theirs.validate().err().unwrap_or_else(|| {
            DecodeError::open(open_subcode::UNSUPPORTED_VERSION, u16::from(BGP_VERSION).to_be_bytes().to_vec(), "")
        }));
    }
    let peer_caps: Vec<&Capability> = theirs.capabilities().collect();
    let our_caps: Vec<&Capability> = ours.capabilities().collect();

    let peer_as = theirs.asn();
    if peer_as != config.peer_as {
        return Err(DecodeError::open(
            open_subcode::BAD_PEER_AS,
            Vec::new(),
            format!("peer announced AS {peer_as}, expected AS {}", config.peer_as),
        ));
    }
    // AS_TRANS without the 4-octet AS capability (RFC 6793 §4.2.2) names no
    // real AS: it fails the comparison above unless AS_TRANS is configured.
    // Hold time 1 or 2, BGP identifier 0, unknown optional parameters.
    theirs.validate()?;
    // RFC 6286 §2.2: identifiers must differ within an AS; across ASes they may coincide.
    if config.is_ibgp() && theirs.bgp_id == config.local_id {
        return Err(DecodeError::open(
            open_subcode::BAD_BGP_IDENTIFIER,
            Vec::new(),
            format!("iBGP peer uses our own BGP identifier {}", theirs.bgp_id),
        ));
    }
    let peer_role = check_role(config, &peer_caps)?;

    let hold_time = ours.hold_time.min(theirs.hold_time);
    let keepalive = match (hold_time, config.keepalive) {
        (0, _) => 0,
        (h, Some(k)) if k > 0 && k <= h => k,
        (h, _) => (h / 3).max(1),
    };

    let families = {
        let ours = announced_families(&our_caps);
        let theirs = announced_families(&peer_caps);
        ours.into_iter().filter(|f| theirs.contains(f)).collect::<Vec<_>>()
    };
    if families.is_empty() {
        // RFC 5492 §5: a required capability the peer lacks; the data lists ours.
        // Each as code 1 | length 4 | AFI(2) | reserved | SAFI (RFC 4760 §8).
        let data: Vec<u8> = announced_families(&our_caps)
            .into_iter()
            .flat_map(|f| {
                let [a0, a1] = f.afi.0.to_be_bytes();
                [1, 4, a0, a1, 0, f.safi.0]
            })
            .collect();
        return Err(DecodeError::open(open_subcode::UNSUPPORTED_CAPABILITY, data, "no address family in common"));
    }
    let has = |caps: &[&Capability], want: fn(&Capability) -> bool| caps.iter().any(|c| want(c));
    let four_octet_as = has(&our_caps, |c| matches!(c, Capability::FourOctetAs(_)))
        && has(&peer_caps, |c| matches!(c, Capability::FourOctetAs(_)));
    let route_refresh = has(&our_caps, is_route_refresh) && has(&peer_caps, is_route_refresh);
    let enhanced_route_refresh = has(&our_caps, |c| matches!(c, Capability::EnhancedRouteRefresh))
        && has(&peer_caps, |c| matches!(c, Capability::EnhancedRouteRefresh));
    let extended_message = has(&our_caps, |c| matches!(c, Capability::ExtendedMessage))
        && has(&peer_caps, |c| matches!(c, Capability::ExtendedMessage));

    // RFC 7911 §4: we send path identifiers where we said Send/Both and the
    // peer said Receive/Both; we receive them in the mirror case.
    let mut add_path_send = Vec::new();
    let mut add_path_receive = Vec::new();
    for f in &families {
        let (Some(mine), Some(peer)) = (add_path_mode(&our_caps, *f), add_path_mode(&peer_caps, *f)) else {
            continue;
        };
        if mine.sends() && peer.receives() {
            add_path_send.push(*f);
        }
        if mine.receives() && peer.sends() {
            add_path_receive.push(*f);
        }
    }

    let extended_next_hop = {
        let ours = extended_next_hop_families(&our_caps);
        let theirs = extended_next_hop_families(&peer_caps);
        ours.into_iter().filter(|f| theirs.contains(f) && families.contains(f)).collect::<Vec<_>>()
    };

    let graceful_restart = match (graceful_restart(&our_caps), graceful_restart(&peer_caps)) {
        (Some(mine), Some(peer)) => Some(NegotiatedGracefulRestart {
            peer_restart_time: peer.restart_time,
            peer_restarting: peer.restarting,
            families: peer.families.iter().map(|f| f.family).filter(|f| families.contains(f)).collect(),
            forwarding_preserved: peer.preserved_families().filter(|f| families.contains(f)).collect(),
            notification: mine.notification && peer.notification,
        }),
        _ => None,
    };

    let rx = Context {
        four_octet_as,
        add_path: add_path_receive.clone(),
        extended_message,
        extended_next_hop: extended_next_hop.clone(),
    };
    let tx = Context { add_path: add_path_send.clone(), ..rx.clone() };
    Ok(Negotiated {
        local_as: config.local_as,
        peer_as,
        local_id: config.local_id,
        peer_id: theirs.bgp_id,
        hold_time,
        keepalive,
        families,
        four_octet_as,
        add_path_send,
        add_path_receive,
        route_refresh,
        enhanced_route_refresh,
        extended_message,
        extended_next_hop,
        graceful_restart,
        peer_role,
        rx,
        tx,
        peer_open: theirs.clone(),
    })
}

fn is_route_refresh(c: &Capability) -> bool {
    matches!(c, Capability::RouteRefresh | Capability::RouteRefreshOld)
}

/// RFC 4760 §8: the Multiprotocol capabilities; a speaker that announces
/// none speaks IPv4 unicast only (RFC 4760 §1, RFC 4271).
fn announced_families(caps: &[&Capability]) -> Vec<Family> {
    let mut out = Vec::new();
    for c in caps {
        if let Capability::Multiprotocol(f) = c {
            if !out.contains(f) {
                out.push(*f);
            }
        }
    }
    if out.is_empty() {
        out.push(Family::IPV4_UNICAST);
    }
    out
}

/// The ADD-PATH mode a side announced for `family`; the last entry wins
/// when a family repeats. Values outside 1..=3 count as not announced.
fn add_path_mode(caps: &[&Capability], family: Family) -> Option<AddPathMode> {
    caps.iter()
        .filter_map(|c| match c {
            Capability::AddPath(entries) => Some(entries.iter()),
            _ => None,
        })
        .flatten()
        .filter(|e| e.family == family && !matches!(e.mode, AddPathMode::Other(_)))
        .map(|e| e.mode)
        .next_back()
}

/// IPv4 families with IPv6 next hops (RFC 8950 §4).
fn extended_next_hop_families(caps: &[&Capability]) -> Vec<Family> {
    caps.iter()
        .filter_map(|c| match c {
            Capability::ExtendedNextHop(entries) => Some(entries.iter()),
            _ => None,
        })
        .flatten()
        .filter(|e| e.next_hop_afi == bgp_proto::Afi::IPV6)
        .map(|e| e.family)
        .collect()
}

/// RFC 4724 §3: a speaker announces the capability once; the last one counts otherwise.
fn graceful_restart<'a>(caps: &[&'a Capability]) -> Option<&'a GracefulRestart> {
    caps.iter()
        .filter_map(|c| match c {
            Capability::GracefulRestart(gr) => Some(gr),
            _ => None,
        })
        .next_back()
}

/// RFC 9234 §4.2: a peer announcing several different roles, a role pair
/// outside Provider–Customer, Customer–Provider, RS–RS-Client,
/// RS-Client–RS, Peer–Peer, or (strict mode) no role: Role Mismatch.
fn check_role(config: &PeerConfig, peer_caps: &[&Capability]) -> Result<Option<Role>, DecodeError> {
    let mut roles = peer_caps.iter().filter_map(|c| match c {
        Capability::Role(r) => Some(*r),
        _ => None,
    });
    let peer_role = roles.next();
    let mismatch = |detail: String| DecodeError::open(open_subcode::ROLE_MISMATCH, Vec::new(), detail);
    if let Some(first) = peer_role {
        if roles.any(|r| r != first) {
            return Err(mismatch("peer announced several different roles".into()));
        }
    }
    let Some(local) = config.role else { return Ok(peer_role) };
    match peer_role {
        None if config.strict_role => Err(mismatch(format!("strict role {local:?}: peer announced no role"))),
        None => Ok(None),
        Some(peer) => {
            let ok = matches!(
                (local, peer),
                (Role::Provider, Role::Customer)
                    | (Role::Customer, Role::Provider)
                    | (Role::RouteServer, Role::RouteServerClient)
                    | (Role::RouteServerClient, Role::RouteServer)
                    | (Role::Peer, Role::Peer)
            );
            if ok {
                Ok(Some(peer))
            } else {
                Err(mismatch(format!("local role {local:?} and peer role {peer:?} do not match")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use bgp_proto::capability::{AddPathFamily, GracefulRestartFamily};
    use bgp_proto::error::code;
    use bgp_proto::open::OptionalParameter;

    use super::*;
    use crate::config::GracefulRestartConfig;
    use bgp_proto::types::AS_TRANS;

    const ID_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const ID_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn pair(local_as: u32, peer_as: u32) -> (PeerConfig, PeerConfig) {
        (PeerConfig::new(local_as, ID_A, peer_as), PeerConfig::new(peer_as, ID_B, local_as))
    }

    fn run(a: &PeerConfig, b: &PeerConfig) -> Result<Negotiated, DecodeError> {
        negotiate(a, &a.open(), &b.open())
    }

    fn err(a: &PeerConfig, theirs: &Open) -> (u8, u8, Vec<u8>) {
        let e = negotiate(a, &a.open(), theirs).expect_err("OPEN must be refused");
        (e.code, e.subcode, e.data.to_vec())
    }

    #[test]
    fn families_are_the_intersection() {
        let (mut a, mut b) = pair(65000, 65000);
        a.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        b.families = vec![Family::IPV6_UNICAST, Family::IPV4_MULTICAST];
        let n = run(&a, &b).expect("negotiates");
        assert_eq!(n.families, vec![Family::IPV6_UNICAST]);
    }

    #[test]
    fn no_common_family_is_unsupported_capability() {
        let (mut a, mut b) = pair(65000, 65000);
        a.families = vec![Family::IPV6_UNICAST];
        b.families = vec![Family::IPV4_UNICAST];
        let e = run(&a, &b).expect_err("nothing to exchange");
        assert_eq!((e.code, e.subcode), (code::OPEN_MESSAGE, open_subcode::UNSUPPORTED_CAPABILITY));
        assert_eq!(e.data.as_ref(), &[1, 4, 0, 2, 0, 1]);
        let plain = Open::new(65000, 90, ID_B, vec![]);
        assert_eq!(
            negotiate(&a, &a.open(), &plain).expect_err("IPv4 only").subcode,
            open_subcode::UNSUPPORTED_CAPABILITY
        );
    }

    #[test]
    fn no_multiprotocol_capability_means_ipv4_unicast() {
        let (mut a, _) = pair(65000, 65001);
        a.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        let plain = Open::new(65001, 90, ID_B, vec![]);
        let n = negotiate(&a, &a.open(), &plain).expect("negotiates");
        assert_eq!(n.families, vec![Family::IPV4_UNICAST]);
        assert!(!n.four_octet_as);
        assert!(!n.route_refresh);
        assert_eq!(n.rx, Context::legacy());
        assert_eq!(n.hold_time, 90);
        assert_eq!(n.keepalive, 30);
    }

    #[test]
    fn four_octet_peer_as_from_capability() {
        let (a, b) = pair(65000, 4_200_000_001);
        let theirs = b.open();
        assert_eq!(theirs.my_as, AS_TRANS as u16);
        let n = negotiate(&a, &a.open(), &theirs).expect("negotiates");
        assert_eq!(n.peer_as, 4_200_000_001);
        assert!(n.four_octet_as && n.rx.four_octet_as && n.tx.four_octet_as);
        assert!(!n.is_ibgp());
    }

    #[test]
    fn as_trans_without_capability_is_bad_peer_as() {
        let (a, _) = pair(65000, 4_200_000_001);
        let theirs = Open::new(4_200_000_001, 90, ID_B, vec![]);
        assert_eq!(err(&a, &theirs), (code::OPEN_MESSAGE, open_subcode::BAD_PEER_AS, vec![]));
    }

    #[test]
    fn two_octet_peer_without_capability() {
        let (a, mut b) = pair(65000, 65001);
        b.four_octet_as = false;
        let n = run(&a, &b).expect("negotiates");
        assert_eq!(n.peer_as, 65001);
        assert!(!n.four_octet_as && !n.tx.four_octet_as);
    }

    #[test]
    fn open_errors_have_rfc_codes() {
        let (a, b) = pair(65000, 65001);
        let mut o = b.open();
        o.version = 3;
        assert_eq!(err(&a, &o), (2, open_subcode::UNSUPPORTED_VERSION, vec![0, 4]));

        let wrong_as = PeerConfig::new(65002, ID_B, 65000).open();
        assert_eq!(err(&a, &wrong_as), (2, open_subcode::BAD_PEER_AS, vec![]));

        for hold in [1, 2] {
            let mut o = b.open();
            o.hold_time = hold;
            assert_eq!(err(&a, &o), (2, open_subcode::UNACCEPTABLE_HOLD_TIME, vec![]));
        }
        let mut o = b.open();
        o.bgp_id = Ipv4Addr::UNSPECIFIED;
        assert_eq!(err(&a, &o), (2, open_subcode::BAD_BGP_IDENTIFIER, vec![]));

        let mut o = b.open();
        o.parameters.push(OptionalParameter::Unknown { param_type: 1, value: vec![1, 2].into() });
        assert_eq!(err(&a, &o), (2, open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER, vec![]));
    }

    #[test]
    fn version_is_checked_before_peer_as() {
        let (a, _) = pair(65000, 65001);
        let mut o = PeerConfig::new(1, ID_B, 65000).open();
        o.version = 5;
        assert_eq!(err(&a, &o).1, open_subcode::UNSUPPORTED_VERSION);
    }

    #[test]
    fn same_identifier_refused_on_ibgp_only() {
        let (a, _) = pair(65000, 65000);
        let same = PeerConfig::new(65000, ID_A, 65000).open();
        assert_eq!(err(&a, &same), (2, open_subcode::BAD_BGP_IDENTIFIER, vec![]));
        let (e, _) = pair(65000, 65001);
        let same_ebgp = PeerConfig::new(65001, ID_A, 65000).open();
        assert!(negotiate(&e, &e.open(), &same_ebgp).is_ok());
    }

    #[test]
    fn hold_time_is_the_minimum_and_keepalive_a_third() {
        let (mut a, mut b) = pair(65000, 65000);
        a.hold_time = 90;
        b.hold_time = 30;
        let n = run(&a, &b).expect("negotiates");
        assert_eq!((n.hold_time, n.keepalive), (30, 10));
        a.keepalive = Some(7);
        let n = run(&a, &b).expect("negotiates");
        assert_eq!((n.hold_time, n.keepalive), (30, 7));
        b.hold_time = 0;
        let n = run(&a, &b).expect("negotiates");
        assert_eq!((n.hold_time, n.keepalive), (0, 0));
        b.hold_time = 3;
        a.keepalive = None;
        let n = run(&a, &b).expect("negotiates");
        assert_eq!((n.hold_time, n.keepalive), (3, 1));
    }

    #[test]
    fn add_path_directions_per_family() {
        let (mut a, mut b) = pair(65000, 65000);
        a.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        b.families = a.families.clone();
        a.add_path = vec![(Family::IPV4_UNICAST, AddPathMode::Both), (Family::IPV6_UNICAST, AddPathMode::Send)];
        b.add_path = vec![(Family::IPV4_UNICAST, AddPathMode::Receive), (Family::IPV6_UNICAST, AddPathMode::Both)];
        let n = run(&a, &b).expect("negotiates");
        assert_eq!(n.add_path_send, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
        assert_eq!(n.add_path_receive, vec![]);
        assert_eq!(n.tx.add_path, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
        assert!(n.rx.add_path.is_empty());
        // The peer's view is the mirror.
        let m = run(&b, &a).expect("negotiates");
        assert_eq!(m.add_path_receive, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
        assert!(m.add_path_send.is_empty());
    }

    #[test]
    fn add_path_only_on_negotiated_families() {
        let (mut a, mut b) = pair(65000, 65000);
        a.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        a.add_path = vec![(Family::IPV6_UNICAST, AddPathMode::Both)];
        b.add_path = vec![(Family::IPV6_UNICAST, AddPathMode::Both)];
        let n = run(&a, &b).expect("negotiates");
        assert!(n.add_path_send.is_empty() && n.add_path_receive.is_empty());
    }

    #[test]
    fn add_path_other_mode_is_ignored() {
        let (mut a, b) = pair(65000, 65000);
        a.add_path = vec![(Family::IPV4_UNICAST, AddPathMode::Both)];
        let mut theirs = b.open();
        theirs.parameters.push(OptionalParameter::Capabilities(vec![Capability::AddPath(vec![AddPathFamily {
            family: Family::IPV4_UNICAST,
            mode: AddPathMode::Other(7),
        }])]));
        let n = negotiate(&a, &a.open(), &theirs).expect("negotiates");
        assert!(n.add_path_send.is_empty() && n.add_path_receive.is_empty());
    }

    #[test]
    fn extended_message_and_next_hop_need_both() {
        let (mut a, mut b) = pair(65000, 65000);
        a.extended_message = true;
        a.extended_next_hop = vec![Family::IPV4_UNICAST];
        let n = run(&a, &b).expect("negotiates");
        assert!(!n.extended_message && n.extended_next_hop.is_empty());
        b.extended_message = true;
        b.extended_next_hop = vec![Family::IPV4_UNICAST];
        let n = run(&a, &b).expect("negotiates");
        assert!(n.extended_message && n.rx.extended_message && n.tx.extended_message);
        assert_eq!(n.rx.extended_next_hop, vec![Family::IPV4_UNICAST]);
        assert_eq!(n.rx.max_message_len(), 65535);
    }

    #[test]
    fn route_refresh_variants() {
        let (mut a, mut b) = pair(65000, 65000);
        a.enhanced_route_refresh = true;
        b.enhanced_route_refresh = true;
        let n = run(&a, &b).expect("negotiates");
        assert!(n.route_refresh && n.enhanced_route_refresh);
        let old = Open::new(65000, 90, ID_B, vec![Capability::RouteRefreshOld]);
        let n = negotiate(&a, &a.open(), &old).expect("negotiates");
        assert!(n.route_refresh && !n.enhanced_route_refresh);
        b.route_refresh = false;
        b.enhanced_route_refresh = false;
        assert!(!run(&a, &b).expect("negotiates").route_refresh);
    }

    #[test]
    fn graceful_restart_from_peer_capability() {
        let (mut a, b) = pair(65000, 65000);
        a.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        a.graceful_restart = Some(GracefulRestartConfig::default());
        let theirs = Open::new(
            65000,
            240,
            ID_B,
            vec![
                Capability::Multiprotocol(Family::IPV4_UNICAST),
                Capability::Multiprotocol(Family::IPV6_UNICAST),
                Capability::GracefulRestart(GracefulRestart {
                    restarting: true,
                    notification: true,
                    reserved_flags: 0,
                    restart_time: 77,
                    families: vec![
                        GracefulRestartFamily {
                            family: Family::IPV4_UNICAST,
                            forwarding_preserved: true,
                            reserved_flags: 0,
                        },
                        GracefulRestartFamily {
                            family: Family::IPV6_UNICAST,
                            forwarding_preserved: false,
                            reserved_flags: 0,
                        },
                        GracefulRestartFamily {
                            family: Family::IPV4_MULTICAST,
                            forwarding_preserved: true,
                            reserved_flags: 0,
                        },
                    ],
                }),
            ],
        );
        let n = negotiate(&a, &a.open(), &theirs).expect("negotiates");
        let gr = n.graceful_restart.expect("GR negotiated");
        assert_eq!(gr.peer_restart_time, 77);
        assert!(gr.peer_restarting && gr.notification);
        assert_eq!(gr.families, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
        assert_eq!(gr.forwarding_preserved, vec![Family::IPV4_UNICAST]);

        // N bit needs both sides; no GR at all without our capability.
        a.graceful_restart = Some(GracefulRestartConfig { notification: false, ..Default::default() });
        let n = negotiate(&a, &a.open(), &theirs).expect("negotiates");
        assert!(!n.graceful_restart.expect("GR").notification);
        a.graceful_restart = None;
        assert!(negotiate(&a, &a.open(), &theirs).expect("negotiates").graceful_restart.is_none());
        assert!(run(&a, &b).expect("negotiates").graceful_restart.is_none());
    }

    #[test]
    fn roles() {
        let (mut a, mut b) = pair(65000, 65001);
        a.role = Some(Role::Provider);
        b.role = Some(Role::Customer);
        assert_eq!(run(&a, &b).expect("negotiates").peer_role, Some(Role::Customer));
        b.role = Some(Role::Provider);
        let e = run(&a, &b).expect_err("mismatch");
        assert_eq!((e.code, e.subcode), (2, open_subcode::ROLE_MISMATCH));
        b.role = None;
        assert!(run(&a, &b).is_ok());
        a.strict_role = true;
        assert_eq!(run(&a, &b).expect_err("strict").subcode, open_subcode::ROLE_MISMATCH);
    }
}
