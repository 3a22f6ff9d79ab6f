//! What one peering is configured to be: our side of the OPEN and the FSM timers.

use std::time::Duration;

use bgp_proto::capability::GracefulRestart;
use bgp_proto::capability::{AddPathFamily, AddPathMode, ExtendedNextHop, GracefulRestartFamily, Role};
use bgp_proto::types::RouterId;
use bgp_proto::{Capability, Family, Open};

/// Hold time proposed when none is configured: BIRD's default, which Calico keeps.
pub const DEFAULT_HOLD_TIME: u16 = 240;

/// Timers of the RFC 4271 §8 FSM and the optional session attributes Calico
/// sets (its BIRD template: connect delay 2 s, connect retry 5 s, error wait 5–30 s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timers {
    /// Wait after a start before the first outgoing connection (RFC 4271 §8.1.1
    /// leaves the initial connection delay to the implementation).
    pub connect_delay: Duration,
    /// ConnectRetryTime (RFC 4271 §10 suggests 120 s; Calico uses 5 s).
    pub connect_retry: Duration,
    /// First IdleHoldTime after an error (RFC 4271 §8.1.1 DampPeerOscillations; BIRD's error wait).
    pub idle_hold: Duration,
    /// The IdleHoldTime doubles on each consecutive error up to this.
    pub idle_hold_max: Duration,
    /// An error this long after the previous one starts the backoff over (BIRD's error forget time).
    pub error_forget: Duration,
    /// Hold timer while waiting for the peer's OPEN (RFC 4271 §8.2.2: "a large value", 4 minutes).
    pub open_hold: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            connect_delay: Duration::from_secs(2),
            connect_retry: Duration::from_secs(5),
            idle_hold: Duration::from_secs(5),
            idle_hold_max: Duration::from_secs(30),
            error_forget: Duration::from_secs(300),
            open_hold: Duration::from_secs(240),
        }
    }
}

/// Our graceful restart capability (RFC 4724 §3, N bit RFC 8538 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// Seconds the peer should keep our routes after we go away (12 bits; Calico: 120).
    pub restart_time: u16,
    /// R bit: we are restarting (set in the first OPEN after a restart).
    pub restarting: bool,
    /// N bit: graceful restart also on NOTIFICATION (RFC 8538).
    pub notification: bool,
    /// Families for which we kept forwarding state across a restart (F bit).
    pub forwarding_preserved: Vec<Family>,
}

impl Default for GracefulRestartConfig {
    fn default() -> Self {
        GracefulRestartConfig {
            restart_time: 120,
            restarting: false,
            notification: true,
            forwarding_preserved: Vec::new(),
        }
    }
}

/// Configuration of one peer, as far as the FSM and the OPEN are concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    pub local_as: u32,
    /// Our BGP identifier (RFC 4271 §4.2, RFC 6286).
    pub local_id: RouterId,
    /// The AS the peer must announce (RFC 4271 §6.2 Bad Peer AS otherwise).
    pub peer_as: u32,
    /// Hold time we propose (0, or at least 3).
    pub hold_time: u16,
    /// Keepalive interval; a third of the negotiated hold time when `None`.
    pub keepalive: Option<u16>,
    /// Address families to announce (RFC 4760 Multiprotocol capability each).
    pub families: Vec<Family>,
    /// Announce the 4-octet AS capability (RFC 6793). Off only to test old peers.
    pub four_octet_as: bool,
    /// ADD-PATH modes per family (RFC 7911).
    pub add_path: Vec<(Family, AddPathMode)>,
    /// Route refresh (RFC 2918).
    pub route_refresh: bool,
    /// Enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// Extended messages (RFC 8654).
    pub extended_message: bool,
    /// IPv4 families for which we accept IPv6 next hops (RFC 8950).
    pub extended_next_hop: Vec<Family>,
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Our BGP role (RFC 9234); checked against the peer's when both announce one.
    pub role: Option<Role>,
    /// RFC 9234 §4.2 strict mode: a peer without a role is refused (Role Mismatch).
    pub strict_role: bool,
    /// RFC 8538 §5.1: with the N bit exchanged, an Administrative Reset also
    /// goes out as a Hard Reset (the peer drops our routes instead of keeping them stale).
    pub hard_admin_reset: bool,
    /// Never connect; only accept the peer's connections (RFC 4271 §8.1.1 PassiveTcpEstablishment).
    pub passive: bool,
    /// Restart by itself after an error, after the IdleHold wait (RFC 4271 §8.1.1 AutomaticStart).
    pub automatic_restart: bool,
    pub timers: Timers,
}

impl PeerConfig {
    /// A peer with Calico's defaults: IPv4 unicast, 4-octet AS, route refresh,
    /// hold time 240 s, active, restarting by itself after errors.
    pub fn new(local_as: u32, local_id: RouterId, peer_as: u32) -> Self {
        PeerConfig {
            local_as,
            local_id,
            peer_as,
            hold_time: DEFAULT_HOLD_TIME,
            keepalive: None,
            families: vec![Family::IPV4_UNICAST],
            four_octet_as: true,
            add_path: Vec::new(),
            route_refresh: true,
            enhanced_route_refresh: false,
            extended_message: false,
            extended_next_hop: Vec::new(),
            graceful_restart: None,
            role: None,
            strict_role: false,
            hard_admin_reset: false,
            passive: false,
            automatic_restart: true,
            timers: Timers::default(),
        }
    }

    pub fn is_ibgp(&self) -> bool {
        self.local_as == self.peer_as
    }

    /// The capabilities we announce (RFC 5492), in a stable order.
    pub fn capabilities(&self) -> Vec<Capability> {
        let mut caps: Vec<Capability> = self.families.iter().map(|f| Capability::Multiprotocol(*f)).collect();
        if self.route_refresh {
            caps.push(Capability::RouteRefresh);
        }
        if self.enhanced_route_refresh {
            caps.push(Capability::EnhancedRouteRefresh);
        }
        if self.extended_message {
            caps.push(Capability::ExtendedMessage);
        }
        if !self.extended_next_hop.is_empty() {
            caps.push(Capability::ExtendedNextHop(
                self.extended_next_hop
                    .iter()
                    .map(|f| ExtendedNextHop { family: *f, next_hop_afi: bgp_proto::Afi::IPV6 })
                    .collect(),
            ));
        }
        if let Some(gr) = &self.graceful_restart {
            caps.push(Capability::GracefulRestart(GracefulRestart {
                restarting: gr.restarting,
                notification: gr.notification,
                reserved_flags: 0,
                restart_time: gr.restart_time.min(0x0fff),
                families: self
                    .families
                    .iter()
                    .map(|f| GracefulRestartFamily {
                        family: *f,
                        forwarding_preserved: gr.forwarding_preserved.contains(f),
                        reserved_flags: 0,
                    })
                    .collect(),
            }));
        }
        if self.four_octet_as {
            caps.push(Capability::FourOctetAs(self.local_as));
        }
        if !self.add_path.is_empty() {
            caps.push(Capability::AddPath(
                self.add_path.iter().map(|(family, mode)| AddPathFamily { family: *family, mode: *mode }).collect(),
            ));
        }
        if let Some(role) = self.role {
            caps.push(Capability::Role(role));
        }
        caps
    }

    /// The OPEN we send (RFC 4271 §4.2): My AS is AS_TRANS when our AS needs
    /// four octets (RFC 6793 §4.1).
    pub fn open(&self) -> Open {
        Open::new(self.local_as, self.hold_time, self.local_id, self.capabilities())
    }
}
