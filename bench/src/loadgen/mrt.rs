//! The `mrt` scenario's routes: a TABLE_DUMP_V2 RIB (e.g. RouteViews'
//! IPv6 table) replayed from its peers. Every MRT peer with routes becomes
//! one simulated sender that announces its own entries with their own path
//! attributes (AS path, communities, MED, aggregator, ...), packed into
//! UPDATEs per distinct attribute set as a real peer would send them.
//!
//! Changed on the way, so the replay is a valid iBGP feed toward a route
//! reflector: the next hop becomes the sender's own address `fd00:64::N`
//! (a unique local address the SUT configs route to `lo`; the file's next
//! hops are other networks' addresses, and some fall inside prefixes of the
//! table itself, which recursive next-hop resolution would refuse),
//! LOCAL_PREF 100 is added where absent (an iBGP UPDATE carries it), and
//! ORIGINATOR_ID, CLUSTER_LIST, AS4_PATH and AS4_AGGREGATOR are dropped
//! (iBGP-only attributes of the collector's peers; the AS path is already
//! 4-octet).

use std::collections::HashMap;
use std::io::Read;
use std::net::Ipv6Addr;
use std::path::Path;

use bgp_proto::attribute::{EncodeOptions, MpNextHop, MpNlri, MpReach};
use bgp_proto::mrt::{decode_record, Record, StreamReader};
use bgp_proto::update::UpdateBuilder;
use bgp_proto::{Context, Family, Message, Nlri, Update};
use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv6Net};

/// AS4_PATH and AS4_AGGREGATOR (RFC 6793): not sent between 4-octet speakers.
const AS4_ATTRIBUTES: [u8; 2] = [17, 18];

/// What the monitor must end up holding, and how to check what it holds.
#[derive(Debug, Default)]
pub struct Expect {
    /// Every IPv6 unicast prefix of the file, numbered.
    pub index: HashMap<Ipv6Net, u32>,
    /// Per prefix number: a bit per sender that announced it.
    pub senders: Vec<u64>,
}

impl Expect {
    pub fn total(&self) -> u64 {
        self.index.len() as u64
    }

    /// Whether sender `s` announced prefix number `g` (the monitor checks a
    /// received route came from one of the paths the SUT was given).
    pub fn announced_by(&self, g: u32, s: u32) -> bool {
        let bit = 1u64.checked_shl(s).unwrap_or(0);
        self.senders.get(usize::try_from(g).unwrap_or(usize::MAX)).is_some_and(|b| b & bit != 0)
    }
}

/// One simulated sender of the replay.
#[derive(Debug)]
pub struct Sender {
    /// The MRT peer it stands for (address and AS, for the report).
    pub mrt_peer: String,
    /// Its RIB entries (= routes it announces).
    pub routes: u64,
    /// Its UPDATEs then End-of-RIB for IPv6 and IPv4 unicast.
    pub bulk: Bytes,
}

/// The replay: senders in PEER_INDEX_TABLE order (peers without IPv6
/// unicast entries left out) and the monitor's expectation.
#[derive(Debug)]
pub struct Replay {
    pub senders: Vec<Sender>,
    pub expect: Expect,
    /// RIB entries of the file that were not IPv6 unicast or did not
    /// decode, left out.
    pub skipped: u64,
}

/// The next hop of sender `i`.
pub fn next_hop(i: u32) -> Ipv6Addr {
    let i = i + 1;
    Ipv6Addr::new(0xfd00, 0x64, 0, 0, 0, 0, (i >> 16) as u16, (i & 0xffff) as u16)
}

/// The sender whose next hop is `nh`.
pub fn sender_of(nh: Ipv6Addr) -> Option<u32> {
    let s = nh.segments();
    if s[..6] != [0xfd00, 0x64, 0, 0, 0, 0] {
        return None;
    }
    (u32::from(s[6]) << 16 | u32::from(s[7])).checked_sub(1)
}

/// Reads `path` (bz2/gz by name, or plain), streaming, and builds the
/// replay; at most `limit` RIB records (prefixes) when given, for a short
/// smoke run (only that much of the file is decompressed).
pub fn load(path: &Path, limit: Option<usize>, ctx: &Context) -> Result<Replay, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let raw = std::io::BufReader::with_capacity(256 * 1024, file);
    let name = path.to_string_lossy();
    let input: Box<dyn Read> = if name.ends_with(".bz2") {
        Box::new(bzip2::read::MultiBzDecoder::new(raw))
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    build(StreamReader::new(std::io::BufReader::with_capacity(256 * 1024, input)), limit, ctx)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Per MRT peer: raw attribute bytes -> prefixes, in first-seen order.
type Groups = (HashMap<Vec<u8>, usize>, Vec<(Vec<u8>, Vec<Nlri>)>);

fn build<R: Read>(mut reader: StreamReader<R>, limit: Option<usize>, ctx: &Context) -> Result<Replay, String> {
    let mut peers: Vec<String> = Vec::new();
    let mut groups: Vec<Groups> = Vec::new();
    let mut expect = Expect::default();
    let mut skipped = 0u64;
    let mut ribs = 0usize;
    while let Some(raw) = reader.next_record() {
        let raw = raw.map_err(|e| format!("MRT: {e}"))?;
        match decode_record(&raw) {
            Ok(Record::PeerIndexTable(t)) => {
                peers = t.peers.iter().map(|p| format!("{} AS{}", p.ip, p.asn)).collect();
                groups = (0..peers.len()).map(|_| (HashMap::new(), Vec::new())).collect();
            }
            Ok(Record::Rib(rib)) => {
                let IpNet::V6(prefix) = rib.prefix else {
                    skipped += u64::from(rib.entry_count);
                    continue;
                };
                if rib.family != Family::IPV6_UNICAST || rib.add_path {
                    skipped += u64::from(rib.entry_count);
                    continue;
                }
                if limit.is_some_and(|l| ribs >= l) {
                    break;
                }
                ribs += 1;
                for entry in rib.entries() {
                    let Ok(entry) = entry else {
                        skipped += 1;
                        continue;
                    };
                    let Some((by_attrs, list)) = groups.get_mut(usize::from(entry.peer_index)) else {
                        return Err(format!("RIB entry of peer {} beyond the peer index table", entry.peer_index));
                    };
                    let at = match by_attrs.get(entry.attributes) {
                        Some(&at) => at,
                        None => {
                            list.push((entry.attributes.to_vec(), Vec::new()));
                            by_attrs.insert(entry.attributes.to_vec(), list.len() - 1);
                            list.len() - 1
                        }
                    };
                    list[at].1.push(Nlri::new(IpNet::V6(prefix)));
                }
            }
            _ => {}
        }
    }
    // Senders: the MRT peers with routes, renumbered densely.
    let mut senders = Vec::new();
    for (p, (_, list)) in groups.into_iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let s = u32::try_from(senders.len()).map_err(|_| "too many senders")?;
        if s >= 64 {
            return Err("more than 64 MRT peers with routes: the monitor's check holds 64".into());
        }
        let mut out = BytesMut::new();
        let mut routes = 0u64;
        for (raw_attrs, nlri) in &list {
            let Some(attrs) = sendable(raw_attrs, next_hop(s)) else {
                skipped += nlri.len() as u64;
                continue;
            };
            let builder = UpdateBuilder::new(ctx, Family::IPV6_UNICAST, &attrs, EncodeOptions::default())
                .map_err(|e| format!("encode attributes of {}: {e}", peers[p]))?;
            builder.announce(nlri, &mut out).map_err(|e| format!("encode UPDATEs of {}: {e}", peers[p]))?;
            for n in nlri {
                let IpNet::V6(net) = n.prefix else { continue };
                let next = u32::try_from(expect.index.len()).unwrap_or(u32::MAX);
                let g = *expect.index.entry(net).or_insert(next);
                if g == next {
                    expect.senders.push(0);
                }
                if let Some(bits) = expect.senders.get_mut(usize::try_from(g).unwrap_or(usize::MAX)) {
                    *bits |= 1 << s;
                }
                routes += 1;
            }
        }
        for family in [Family::IPV6_UNICAST, Family::IPV4_UNICAST] {
            Message::Update(Update::end_of_rib(family)).encode(ctx, &mut out).map_err(|e| e.to_string())?;
        }
        senders.push(Sender { mrt_peer: peers[p].clone(), routes, bulk: out.freeze() });
    }
    if senders.is_empty() {
        return Err("no IPv6 unicast RIB entries in the file".into());
    }
    Ok(Replay { senders, expect, skipped })
}

/// An entry's attributes as this sender announces them (see the module
/// comment), or `None` when they do not decode.
fn sendable(raw: &[u8], nh: Ipv6Addr) -> Option<bgp_proto::PathAttributes> {
    let entry = bgp_proto::mrt::RibEntry { peer_index: 0, originated: 0, path_id: None, attributes: raw };
    let (mut attrs, _) = entry.decode_attributes(Family::IPV6_UNICAST).ok()?;
    attrs.next_hop = None;
    attrs.mp_unreach = None;
    attrs.mp_reach = Some(MpReach {
        family: Family::IPV6_UNICAST,
        next_hop: MpNextHop::V6(nh),
        reserved: 0,
        nlri: MpNlri::Prefixes(Vec::new()),
    });
    attrs.local_pref = attrs.local_pref.or(Some(100));
    attrs.originator_id = None;
    attrs.cluster_list = None;
    attrs.unknown.retain(|a| !AS4_ATTRIBUTES.contains(&a.type_code));
    Some(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::attribute::AsPath;
    use bgp_proto::Framer;

    #[test]
    fn next_hops_map_back_to_their_sender() {
        assert_eq!(next_hop(0).to_string(), "fd00:64::1");
        assert_eq!(next_hop(70_000).to_string(), "fd00:64::1:1171");
        for i in [0, 1, 26, 70_000] {
            assert_eq!(sender_of(next_hop(i)), Some(i));
        }
        assert_eq!(sender_of("fd00:65::1".parse().expect("v6")), None);
        assert_eq!(sender_of("fd00:64::".parse().expect("v6")), None);
    }

    /// The head of the real table: every sender's UPDATEs carry its own
    /// next hop, the file's AS path, and together every prefix once per
    /// entry.
    #[test]
    fn replays_the_routeviews_table_head_per_peer() {
        let path = tern_bench::data_dir().join(tern_bench::rib::RIB_FILE);
        let ctx = Context::default();
        let replay = load(&path, Some(500), &ctx).expect("load");
        assert_eq!(replay.expect.total(), 500);
        assert!(replay.senders.len() > 10, "{} senders", replay.senders.len());
        let mut entries = 0;
        for (s, sender) in replay.senders.iter().enumerate() {
            let mut framer = Framer::new(&ctx);
            framer.push(&sender.bulk);
            let (mut routes, mut eor) = (0, 0);
            while let Some(frame) = framer.next_frame().expect("frame") {
                let Message::Update(u) = frame.decode(&ctx).expect("decode") else { panic!("not an UPDATE") };
                let Some(reach) = u.attributes.mp_reach else {
                    eor += 1;
                    continue;
                };
                assert_eq!(reach.next_hop, MpNextHop::V6(next_hop(s as u32)));
                assert!(u.attributes.local_pref.is_some());
                let path = u.attributes.as_path.unwrap_or_else(AsPath::default);
                assert!(!path.segments.is_empty(), "the file's AS path is kept");
                let MpNlri::Prefixes(p) = reach.nlri else { panic!("opaque NLRI") };
                for n in &p {
                    let IpNet::V6(net) = n.prefix else { panic!("IPv4 prefix") };
                    let g = replay.expect.index[&net];
                    assert!(replay.expect.announced_by(g, s as u32));
                }
                routes += p.len() as u64;
            }
            assert_eq!(routes, sender.routes, "{}", sender.mrt_peer);
            assert_eq!(eor, 2);
            entries += routes;
        }
        assert!(entries > 500 * 10, "{entries} entries for 500 prefixes");
    }
}
