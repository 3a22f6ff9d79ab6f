//! The routes each simulated peer announces: distinct IPv4 prefixes of one
//! length, numbered so that a received prefix maps straight back to the peer
//! that sent it and its index (a bit in a per-receiver bitmap, no hash set).

use std::net::Ipv4Addr;

use bgp_proto::attribute::{AsPath, EncodeOptions, Origin};
use bgp_proto::update::UpdateBuilder;
use bgp_proto::{Context, Family, Message, Nlri, PathAttributes, Update};
use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net};

/// Route numbering: route `j` of peer `i` is prefix number `g = i * per_peer + j`
/// of length `len`, counted from `base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub peers: u32,
    pub per_peer: u32,
    pub len: u8,
    base: u32,
}

impl Plan {
    /// `/26` prefixes from 10.0.0.0 (up to 262,144 routes), or for longer
    /// runs from 16.0.0.0 upward, whatever the length allows.
    pub fn new(peers: u32, per_peer: u32, len: u8) -> Result<Plan, String> {
        if !(8..=32).contains(&len) {
            return Err(format!("prefix length {len}: expected 8..=32"));
        }
        let total = u64::from(peers) * u64::from(per_peer);
        let span = 1u64 << (32 - len);
        // 10.0.0.0/8 when it fits, else 16.0.0.0 up to 223.255.255.255 (unicast).
        let base: u32 = if total * span <= 1 << 24 { 10 << 24 } else { 16 << 24 };
        let end = u64::from(base) + total * span;
        if end > 224u64 << 24 {
            return Err(format!("{total} /{len} prefixes do not fit in unicast IPv4 space"));
        }
        Ok(Plan { peers, per_peer, len, base })
    }

    pub fn total(&self) -> u64 {
        u64::from(self.peers) * u64::from(self.per_peer)
    }

    /// Network address of prefix number `g`.
    pub fn prefix(&self, g: u64) -> Ipv4Net {
        let addr = u64::from(self.base) + (g << (32 - self.len));
        let addr = u32::try_from(addr).unwrap_or(u32::MAX);
        Ipv4Net::new(Ipv4Addr::from(addr), self.len).unwrap_or_default()
    }

    /// The number of a received prefix (`len` and network octets as on the
    /// wire), or `None` when it is none of ours.
    pub fn index(&self, len: u8, octets: &[u8]) -> Option<u64> {
        if len != self.len {
            return None;
        }
        let mut addr = [0u8; 4];
        addr.get_mut(..octets.len())?.copy_from_slice(octets);
        let addr = u32::from_be_bytes(addr);
        let off = addr.checked_sub(self.base)?;
        let g = u64::from(off >> (32 - u32::from(self.len)));
        (g < self.total()).then_some(g)
    }

    /// The sender of prefix number `g`.
    pub fn owner(&self, g: u64) -> u32 {
        u32::try_from(g / u64::from(self.per_peer.max(1))).unwrap_or(u32::MAX)
    }

    /// Every UPDATE of peer `i` (announcing all its routes with `next_hop`,
    /// ORIGIN IGP, empty AS_PATH, LOCAL_PREF 100), then End-of-RIB, as one
    /// buffer to write in one go.
    pub fn encode_peer(&self, i: u32, next_hop: Ipv4Addr, ctx: &Context) -> Result<Bytes, String> {
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            next_hop: Some(next_hop),
            local_pref: Some(100),
            ..PathAttributes::default()
        };
        let builder = UpdateBuilder::new(ctx, Family::IPV4_UNICAST, &attrs, EncodeOptions::default())
            .map_err(|e| format!("encode attributes: {e}"))?;
        let first = u64::from(i) * u64::from(self.per_peer);
        let nlri: Vec<Nlri> =
            (first..first + u64::from(self.per_peer)).map(|g| Nlri::new(IpNet::V4(self.prefix(g)))).collect();
        let mut out = BytesMut::new();
        builder.announce(&nlri, &mut out).map_err(|e| format!("encode UPDATEs: {e}"))?;
        Message::Update(Update::end_of_rib(Family::IPV4_UNICAST))
            .encode(ctx, &mut out)
            .map_err(|e| format!("encode End-of-RIB: {e}"))?;
        Ok(out.freeze())
    }
}

/// What one UPDATE body (after the 19-octet header) carries in its IPv4
/// Withdrawn Routes and NLRI fields, without decoding path attributes: the
/// counting receiver sees tens of millions of NLRI and only needs which
/// prefixes came and went. Calls `f(announced, len, octets)`; `Err` for a
/// body whose lengths do not add up.
pub fn walk_update(body: &[u8], mut f: impl FnMut(bool, u8, &[u8])) -> Result<(), String> {
    let wlen = usize::from(u16::from_be_bytes(field2(body, 0)?));
    let withdrawn = body.get(2..2 + wlen).ok_or("withdrawn routes overrun the UPDATE")?;
    let alen_at = 2 + wlen;
    let alen = usize::from(u16::from_be_bytes(field2(body, alen_at)?));
    let nlri = body.get(alen_at + 2 + alen..).ok_or("path attributes overrun the UPDATE")?;
    walk_prefixes(withdrawn, |len, o| f(false, len, o))?;
    walk_prefixes(nlri, |len, o| f(true, len, o))
}

fn field2(body: &[u8], at: usize) -> Result<[u8; 2], String> {
    match body.get(at..at + 2) {
        Some(&[a, b]) => Ok([a, b]),
        _ => Err("UPDATE too short".into()),
    }
}

/// RFC 4271 §4.3 prefix encoding: length octet, then the significant octets.
fn walk_prefixes(mut data: &[u8], mut f: impl FnMut(u8, &[u8])) -> Result<(), String> {
    while let Some((&len, rest)) = data.split_first() {
        if len > 32 {
            return Err(format!("IPv4 prefix length {len}"));
        }
        let n = usize::from(len).div_ceil(8);
        let octets = rest.get(..n).ok_or("prefix overruns the UPDATE")?;
        f(len, octets);
        data = &rest[n..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::Framer;

    #[test]
    fn prefixes_map_back_to_their_sender() {
        let plan = Plan::new(200, 500, 26).expect("plan");
        assert_eq!(plan.prefix(0).to_string(), "10.0.0.0/26");
        assert_eq!(plan.prefix(1).to_string(), "10.0.0.64/26");
        let last = plan.prefix(plan.total() - 1);
        let octets = last.addr().octets();
        let g = plan.index(26, &octets[..4]).expect("ours");
        assert_eq!(g, plan.total() - 1);
        assert_eq!(plan.owner(g), 199);
        assert_eq!(plan.index(24, &octets[..3]), None);
        assert_eq!(plan.index(26, &[9, 0, 0, 0]), None);
    }

    #[test]
    fn a_million_slash24_start_above_10_8() {
        let plan = Plan::new(10, 100_000, 24).expect("plan");
        assert_eq!(plan.prefix(0).to_string(), "16.0.0.0/24");
        assert_eq!(plan.prefix(999_999).to_string(), "31.66.63.0/24");
        assert!(Plan::new(1000, 1_000_000, 24).is_err());
    }

    #[test]
    fn encoded_updates_carry_every_route_once_then_end_of_rib() {
        let plan = Plan::new(3, 1500, 26).expect("plan");
        let ctx = Context::default();
        let bytes = plan.encode_peer(1, Ipv4Addr::new(127, 100, 0, 2), &ctx).expect("encode");
        let mut framer = Framer::new(&ctx);
        framer.push(&bytes);
        let (mut seen, mut updates, mut eor) = (Vec::new(), 0, 0);
        while let Some(frame) = framer.next_frame().expect("frame") {
            let mut n = 0;
            walk_update(&frame.body, |announced, len, o| {
                assert!(announced);
                seen.push(plan.index(len, o).expect("ours"));
                n += 1;
            })
            .expect("walk");
            // The codec agrees with the fast walk.
            let Message::Update(u) = frame.decode(&ctx).expect("decode") else { panic!("not an UPDATE") };
            assert_eq!(u.nlri.len(), n);
            if n == 0 {
                eor += 1;
            } else {
                updates += 1;
                assert_eq!(u.attributes.next_hop, Some(Ipv4Addr::new(127, 100, 0, 2)));
            }
        }
        assert_eq!(seen, (1500..3000).collect::<Vec<u64>>());
        assert!(updates >= 2, "1,500 /26 need more than one 4,096-octet UPDATE");
        assert_eq!(eor, 1);
    }

    #[test]
    fn truncated_updates_are_errors_not_panics() {
        for body in [&[][..], &[0, 5, 1], &[0, 0, 0, 9, 1], &[0, 0, 0, 0, 33, 1, 2, 3, 4, 5], &[0, 0, 0, 0, 24, 10]] {
            assert!(walk_update(body, |_, _, _| {}).is_err(), "{body:?}");
        }
    }
}
