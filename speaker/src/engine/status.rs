//! How a peer is shown: BIRD's wording for why a session went down and
//! for the capabilities a neighbour announced.

use std::io;

use bgp_proto::capability::AddPathMode;
use bgp_proto::{Capability, Open};

use crate::fsm::DownReason;

/// BIRD's `Last error` for a session that ended (`Received: Cease / ...`,
/// `Hold timer expired`, `Connection closed`).
pub(super) fn down_reason(reason: &DownReason) -> String {
    match reason {
        DownReason::Stopped(n) => format!("Shutdown: {}", n.describe()),
        DownReason::HoldTimerExpired => "Hold timer expired".to_string(),
        DownReason::NotificationSent(n) => format!("Error: {}", n.describe()),
        DownReason::NotificationReceived(n) => format!("Received: {}", n.describe()),
        DownReason::ConnectionLost => "Connection closed".to_string(),
        DownReason::PeerRestarted => "Peer restarted (graceful restart)".to_string(),
    }
}

/// `Socket: Connection refused`: the OS message without Rust's `(os error N)`.
pub(super) fn socket_error(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => text.get(..i).unwrap_or(&text).to_string(),
        None => text,
    };
    format!("Socket: {text}")
}

/// The capability names BIRD prints under `Neighbor caps`.
pub(super) fn capability_names(open: &Open) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut push = |n: &str| {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    };
    for c in open.capabilities() {
        match c {
            Capability::RouteRefresh | Capability::RouteRefreshOld => push("refresh"),
            Capability::EnhancedRouteRefresh => push("enhanced-refresh"),
            Capability::GracefulRestart(gr) => {
                if gr.families.is_empty() {
                    push("restart-aware");
                } else {
                    push("restart-able");
                }
            }
            Capability::LongLivedGracefulRestart(_) => push("llgr"),
            Capability::FourOctetAs(_) => push("AS4"),
            Capability::AddPath(fams) => {
                // The peer's modes: it receives (we may send) / it sends (we receive).
                if fams.iter().any(|f| matches!(f.mode, AddPathMode::Receive | AddPathMode::Both)) {
                    push("add-path-rx");
                }
                if fams.iter().any(|f| matches!(f.mode, AddPathMode::Send | AddPathMode::Both)) {
                    push("add-path-tx");
                }
            }
            Capability::ExtendedNextHop(_) => push("ext-next-hop"),
            Capability::ExtendedMessage => push("ext-messages"),
            Capability::Fqdn { .. } => push("hostname"),
            Capability::Role(_) => push("role"),
            Capability::Multiprotocol(_) | Capability::Unknown { .. } => {}
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::error::cease_subcode;
    use bgp_proto::Notification;

    #[test]
    fn reasons_read_like_birds() {
        let refused = io::Error::from_raw_os_error(111);
        assert_eq!(socket_error(&refused), "Socket: Connection refused");
        let n = Notification::cease(cease_subcode::PEER_DECONFIGURED);
        assert_eq!(down_reason(&DownReason::NotificationReceived(n)), "Received: Cease / Peer De-configured");
        assert_eq!(down_reason(&DownReason::HoldTimerExpired), "Hold timer expired");
    }
}
