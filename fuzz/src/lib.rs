//! Helpers shared by the fuzz targets.

use bgp_proto::{Context, Family};

/// Families a fuzzed context may enable ADD-PATH or extended next hop for.
const FAMILIES: [Family; 4] = [
    Family::IPV4_UNICAST,
    Family::IPV6_UNICAST,
    Family::new(bgp_proto::Afi::IPV4, bgp_proto::Safi::MPLS_VPN),
    Family::new(bgp_proto::Afi::IPV4, bgp_proto::Safi::MPLS_LABEL),
];

/// A decode context chosen by one input byte, so the fuzzer explores every
/// negotiated combination:
/// bit 0 four-octet AS, bit 1 extended messages, bits 2..=5 ADD-PATH for
/// [`FAMILIES`], bits 6..=7 extended next hop for the first two IPv4 ones.
pub fn context_from_byte(b: u8) -> Context {
    let add_path = FAMILIES.iter().enumerate().filter(|(i, _)| b & (1 << (i + 2)) != 0).map(|(_, f)| *f).collect();
    let mut extended_next_hop = Vec::new();
    if b & 0x40 != 0 {
        extended_next_hop.push(Family::IPV4_UNICAST);
    }
    if b & 0x80 != 0 {
        extended_next_hop.push(FAMILIES[2]);
    }
    Context { four_octet_as: b & 1 != 0, add_path, extended_message: b & 2 != 0, extended_next_hop }
}

/// Splits `data` into its first byte (the context selector) and the rest.
pub fn split_context(data: &[u8]) -> Option<(Context, &[u8])> {
    let (&b, rest) = data.split_first()?;
    Some((context_from_byte(b), rest))
}
