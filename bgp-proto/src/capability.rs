//! Capabilities advertisement (RFC 5492) and the capabilities tern knows.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::types::{Afi, Family, RouterId, Safi};

/// Capability codes (IANA "Capability Codes").
pub mod code {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const ROUTE_REFRESH: u8 = 2;
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    pub const EXTENDED_MESSAGE: u8 = 6;
    pub const BGP_ROLE: u8 = 9;
    pub const GRACEFUL_RESTART: u8 = 64;
    pub const FOUR_OCTET_AS: u8 = 65;
    pub const ADD_PATH: u8 = 69;
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    pub const LONG_LIVED_GRACEFUL_RESTART: u8 = 71;
    pub const FQDN: u8 = 73;
    /// Pre-standard Cisco route refresh (RFC 2918 §2 mentions it).
    pub const ROUTE_REFRESH_OLD: u8 = 128;
}

/// ADD-PATH Send/Receive field (RFC 7911 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AddPathMode {
    Receive,
    Send,
    Both,
    /// A value outside 1..=3, kept so the capability re-encodes as received.
    Other(u8),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AddPathFamily {
    pub family: Family,
    pub mode: AddPathMode,
}

/// Per-family entry of the graceful restart capability (RFC 4724 §3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GracefulRestartFamily {
    pub family: Family,
    /// "Forwarding State" bit: forwarding was preserved for this family.
    pub forwarding_preserved: bool,
    /// The other 7 flag bits as received.
    pub reserved_flags: u8,
}

/// Graceful restart capability (RFC 4724 §3, N bit from RFC 8538 §2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GracefulRestart {
    /// R bit: the sender restarted.
    pub restarting: bool,
    /// N bit (RFC 8538): the sender supports graceful NOTIFICATION.
    pub notification: bool,
    /// The two remaining reserved flag bits as received (low bits of the nibble).
    pub reserved_flags: u8,
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    pub families: Vec<GracefulRestartFamily>,
}

/// Per-family entry of the long-lived graceful restart capability (RFC 9494 §3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LongLivedGracefulRestartFamily {
    pub family: Family,
    /// F bit: forwarding state preserved.
    pub forwarding_preserved: bool,
    pub reserved_flags: u8,
    /// Long-lived stale time in seconds (24 bits).
    pub stale_time: u32,
}

/// Extended next hop encoding entry (RFC 8950 §4): NLRI family + next-hop AFI.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExtendedNextHop {
    pub family: Family,
    /// AFI of the next hop (2 = IPv6). Encoded as a 2-octet AFI; the NLRI SAFI is 2 octets on the wire.
    pub next_hop_afi: crate::types::Afi,
}

/// BGP role (RFC 9234 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Role {
    Provider,
    RouteServer,
    RouteServerClient,
    Customer,
    Peer,
    Other(u8),
}

/// One capability from an OPEN's Capabilities optional parameter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Capability {
    /// RFC 4760 §8.
    Multiprotocol(Family),
    /// RFC 2918 (code 2).
    RouteRefresh,
    /// Pre-standard route refresh (code 128).
    RouteRefreshOld,
    /// RFC 7313 (code 70).
    EnhancedRouteRefresh,
    /// RFC 6793 (code 65).
    FourOctetAs(u32),
    /// RFC 4724 (code 64).
    GracefulRestart(GracefulRestart),
    /// RFC 9494 (code 71).
    LongLivedGracefulRestart(Vec<LongLivedGracefulRestartFamily>),
    /// RFC 7911 (code 69).
    AddPath(Vec<AddPathFamily>),
    /// RFC 8950 (code 5).
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// RFC 8654 (code 6).
    ExtendedMessage,
    /// draft-walton-bgp-hostname-capability (code 73): host and domain name.
    Fqdn {
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_util::text"))]
        hostname: Bytes,
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_util::text"))]
        domain: Bytes,
    },
    /// RFC 9234 (code 9).
    Role(Role),
    /// Anything else (or a known code whose value did not parse), kept as bytes.
    Unknown {
        code: u8,
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_util::hex"))]
        value: Bytes,
    },
}

/// The RouterId type is re-exported here for OPEN users.
pub type Identifier = RouterId;

/// R bit of the graceful restart flags nibble (RFC 4724 §3).
const GR_RESTARTING: u8 = 0x8;
/// N bit of the graceful restart flags nibble (RFC 8538 §2).
const GR_NOTIFICATION: u8 = 0x4;
/// The per-family "forwarding state preserved" bit (RFC 4724 §3, RFC 9494 §3).
const FORWARDING_BIT: u8 = 0x80;

impl AddPathMode {
    fn from_wire(v: u8) -> Self {
        match v {
            1 => AddPathMode::Receive,
            2 => AddPathMode::Send,
            3 => AddPathMode::Both,
            other => AddPathMode::Other(other),
        }
    }

    pub fn to_wire(self) -> u8 {
        match self {
            AddPathMode::Receive => 1,
            AddPathMode::Send => 2,
            AddPathMode::Both => 3,
            AddPathMode::Other(v) => v,
        }
    }

    /// Whether the sender can receive path identifiers for the family.
    pub fn receives(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }

    /// Whether the sender will send path identifiers for the family.
    pub fn sends(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }
}

impl Role {
    fn from_wire(v: u8) -> Self {
        match v {
            0 => Role::Provider,
            1 => Role::RouteServer,
            2 => Role::RouteServerClient,
            3 => Role::Customer,
            4 => Role::Peer,
            other => Role::Other(other),
        }
    }

    pub fn to_wire(self) -> u8 {
        match self {
            Role::Provider => 0,
            Role::RouteServer => 1,
            Role::RouteServerClient => 2,
            Role::Customer => 3,
            Role::Peer => 4,
            Role::Other(v) => v,
        }
    }
}

impl Capability {
    /// The capability code this value is advertised with.
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::RouteRefreshOld => code::ROUTE_REFRESH_OLD,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Capability::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Capability::LongLivedGracefulRestart(_) => code::LONG_LIVED_GRACEFUL_RESTART,
            Capability::AddPath(_) => code::ADD_PATH,
            Capability::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Capability::ExtendedMessage => code::EXTENDED_MESSAGE,
            Capability::Fqdn { .. } => code::FQDN,
            Capability::Role(_) => code::BGP_ROLE,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Interprets one capability value (RFC 5492 §4). Never fails: an unknown
    /// code, or a known code whose value does not have the layout its RFC
    /// gives, is kept as [`Capability::Unknown`] so that the session layer
    /// decides (RFC 5492 §5 leaves unknown capabilities to be ignored).
    pub fn decode(code: u8, value: &[u8]) -> Capability {
        Capability::decode_known(code, value)
            .unwrap_or_else(|| Capability::Unknown { code, value: Bytes::copy_from_slice(value) })
    }

    fn decode_known(code: u8, v: &[u8]) -> Option<Capability> {
        Some(match code {
            // RFC 4760 §8: AFI(2) | reserved(1) | SAFI(1); the reserved octet is ignored.
            code::MULTIPROTOCOL => {
                let [a0, a1, _, safi] = *<&[u8; 4]>::try_from(v).ok()?;
                Capability::Multiprotocol(Family::new(Afi(u16::from_be_bytes([a0, a1])), Safi(safi)))
            }
            code::ROUTE_REFRESH if v.is_empty() => Capability::RouteRefresh,
            code::ROUTE_REFRESH_OLD if v.is_empty() => Capability::RouteRefreshOld,
            code::ENHANCED_ROUTE_REFRESH if v.is_empty() => Capability::EnhancedRouteRefresh,
            code::EXTENDED_MESSAGE if v.is_empty() => Capability::ExtendedMessage,
            code::FOUR_OCTET_AS => Capability::FourOctetAs(u32::from_be_bytes(*<&[u8; 4]>::try_from(v).ok()?)),
            code::GRACEFUL_RESTART => Capability::GracefulRestart(decode_graceful_restart(v)?),
            code::LONG_LIVED_GRACEFUL_RESTART => {
                let entries = exact_chunks::<7>(v)?
                    .map(|&[a0, a1, safi, flags, t0, t1, t2]| LongLivedGracefulRestartFamily {
                        family: family(a0, a1, safi),
                        forwarding_preserved: flags & FORWARDING_BIT != 0,
                        reserved_flags: flags & !FORWARDING_BIT,
                        stale_time: u32::from_be_bytes([0, t0, t1, t2]),
                    })
                    .collect();
                Capability::LongLivedGracefulRestart(entries)
            }
            code::ADD_PATH => Capability::AddPath(
                exact_chunks::<4>(v)?
                    .map(|&[a0, a1, safi, mode]| AddPathFamily {
                        family: family(a0, a1, safi),
                        mode: AddPathMode::from_wire(mode),
                    })
                    .collect(),
            ),
            // RFC 8950 §4: NLRI AFI(2) | NLRI SAFI(2) | next-hop AFI(2). A SAFI
            // above 255 names no SAFI (RFC 4760 §6 SAFIs are one octet).
            code::EXTENDED_NEXT_HOP => Capability::ExtendedNextHop(
                exact_chunks::<6>(v)?
                    .map(|&[a0, a1, s0, s1, n0, n1]| {
                        (s0 == 0).then(|| ExtendedNextHop {
                            family: family(a0, a1, s1),
                            next_hop_afi: Afi(u16::from_be_bytes([n0, n1])),
                        })
                    })
                    .collect::<Option<Vec<_>>>()?,
            ),
            code::FQDN => {
                let (&host_len, rest) = v.split_first()?;
                let hostname = rest.get(..usize::from(host_len))?;
                let (&domain_len, domain) = rest.get(usize::from(host_len)..)?.split_first()?;
                if domain.len() != usize::from(domain_len) {
                    return None;
                }
                Capability::Fqdn { hostname: Bytes::copy_from_slice(hostname), domain: Bytes::copy_from_slice(domain) }
            }
            code::BGP_ROLE => match v {
                [role] => Capability::Role(Role::from_wire(*role)),
                _ => return None,
            },
            _ => return None,
        })
    }

    /// Decodes the capabilities of one Capabilities optional parameter
    /// (RFC 5492 §4: a sequence of code(1) | length(1) | value triples).
    ///
    /// A capability whose length runs past the parameter makes the parameter
    /// malformed: OPEN Message Error / subcode 0 (Unspecific), as RFC 4271
    /// §6.2 prescribes for a recognized but malformed optional parameter.
    pub fn decode_list(mut buf: &[u8]) -> Result<Vec<Capability>, DecodeError> {
        let mut caps = Vec::new();
        while let Some((&[code, len], rest)) = buf.split_first_chunk::<2>() {
            let len = usize::from(len);
            let (Some(value), Some(rest)) = (rest.get(..len), rest.get(len..)) else {
                return Err(DecodeError::open(
                    0,
                    Vec::new(),
                    format!("capability {code} of length {len} overruns its optional parameter"),
                ));
            };
            caps.push(Capability::decode(code, value));
            buf = rest;
        }
        if !buf.is_empty() {
            return Err(DecodeError::open(0, Vec::new(), "truncated capability header in optional parameter"));
        }
        Ok(caps)
    }

    /// Appends code | length | value (RFC 5492 §4). Fails when the value
    /// does not fit the one-octet length or a field its range.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        out.put_u8(self.code());
        out.put_u8(0);
        let r = self.encode_value(out);
        let len = out.len() - start - 2;
        match (r, u8::try_from(len)) {
            (Ok(()), Ok(l)) => {
                out[start + 1] = l;
                Ok(())
            }
            (r, _) => {
                out.truncate(start);
                r.and(Err(EncodeError::FieldTooLong { what: "capability value", len }))
            }
        }
    }

    fn encode_value(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Capability::Multiprotocol(f) => {
                out.put_u16(f.afi.0);
                out.put_u8(0);
                out.put_u8(f.safi.0);
            }
            Capability::RouteRefresh
            | Capability::RouteRefreshOld
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => {}
            Capability::FourOctetAs(asn) => out.put_u32(*asn),
            Capability::GracefulRestart(gr) => {
                if gr.restart_time > 0x0fff || gr.reserved_flags > 0x3 {
                    return Err(EncodeError::Invalid(format!(
                        "graceful restart time {} (max 4095) or reserved flags {:#x} (max 0x3)",
                        gr.restart_time, gr.reserved_flags
                    )));
                }
                let mut flags = u16::from(gr.reserved_flags);
                if gr.restarting {
                    flags |= u16::from(GR_RESTARTING);
                }
                if gr.notification {
                    flags |= u16::from(GR_NOTIFICATION);
                }
                out.put_u16(flags << 12 | gr.restart_time);
                for f in &gr.families {
                    put_family(out, f.family);
                    out.put_u8(forwarding_flags(f.forwarding_preserved, f.reserved_flags)?);
                }
            }
            Capability::LongLivedGracefulRestart(families) => {
                for f in families {
                    if f.stale_time > 0x00ff_ffff {
                        return Err(EncodeError::Invalid(format!("LLGR stale time {} exceeds 24 bits", f.stale_time)));
                    }
                    put_family(out, f.family);
                    out.put_u8(forwarding_flags(f.forwarding_preserved, f.reserved_flags)?);
                    out.put_slice(&f.stale_time.to_be_bytes()[1..]);
                }
            }
            Capability::AddPath(families) => {
                for f in families {
                    put_family(out, f.family);
                    out.put_u8(f.mode.to_wire());
                }
            }
            Capability::ExtendedNextHop(entries) => {
                for e in entries {
                    out.put_u16(e.family.afi.0);
                    out.put_u16(u16::from(e.family.safi.0));
                    out.put_u16(e.next_hop_afi.0);
                }
            }
            Capability::Fqdn { hostname, domain } => {
                for (what, name) in [("FQDN hostname", hostname), ("FQDN domain name", domain)] {
                    let len =
                        u8::try_from(name.len()).map_err(|_| EncodeError::FieldTooLong { what, len: name.len() })?;
                    out.put_u8(len);
                    out.put_slice(name);
                }
            }
            Capability::Role(role) => out.put_u8(role.to_wire()),
            Capability::Unknown { value, .. } => out.put_slice(value),
        }
        Ok(())
    }
}

/// RFC 4724 §3 restart-time field and flags, for display and the FSM.
impl GracefulRestart {
    /// Families for which the sender kept its forwarding state.
    pub fn preserved_families(&self) -> impl Iterator<Item = Family> + '_ {
        self.families.iter().filter(|f| f.forwarding_preserved).map(|f| f.family)
    }
}

fn family(a0: u8, a1: u8, safi: u8) -> Family {
    Family::new(Afi(u16::from_be_bytes([a0, a1])), Safi(safi))
}

/// AFI(2) | SAFI(1), the per-family prefix of RFC 4724, RFC 7911 and RFC 9494 entries.
fn put_family(out: &mut BytesMut, f: Family) {
    out.put_u16(f.afi.0);
    out.put_u8(f.safi.0);
}

fn forwarding_flags(preserved: bool, reserved: u8) -> Result<u8, EncodeError> {
    if reserved & FORWARDING_BIT != 0 {
        return Err(EncodeError::Invalid(format!("reserved per-family flags {reserved:#x} overlap the F bit")));
    }
    Ok(if preserved { FORWARDING_BIT | reserved } else { reserved })
}

/// `v` as whole `N`-octet entries, or `None` when its length is not a multiple of `N`.
fn exact_chunks<const N: usize>(v: &[u8]) -> Option<impl Iterator<Item = &[u8; N]>> {
    let chunks = v.chunks_exact(N);
    chunks.remainder().is_empty().then(|| chunks.filter_map(|c| <&[u8; N]>::try_from(c).ok()))
}

/// RFC 4724 §3: Restart Flags(4) | Restart Time(12) | (AFI(2) | SAFI(1) | Flags(1))*.
fn decode_graceful_restart(v: &[u8]) -> Option<GracefulRestart> {
    let (&[f0, f1], rest) = v.split_first_chunk::<2>()?;
    let nibble = f0 >> 4;
    let families = exact_chunks::<4>(rest)?
        .map(|&[a0, a1, safi, flags]| GracefulRestartFamily {
            family: family(a0, a1, safi),
            forwarding_preserved: flags & FORWARDING_BIT != 0,
            reserved_flags: flags & !FORWARDING_BIT,
        })
        .collect();
    Some(GracefulRestart {
        restarting: nibble & GR_RESTARTING != 0,
        notification: nibble & GR_NOTIFICATION != 0,
        reserved_flags: nibble & 0x3,
        restart_time: u16::from_be_bytes([f0 & 0x0f, f1]),
        families,
    })
}
