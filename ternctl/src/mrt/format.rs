//! `bgpdump -m` lines (bgpdump 1.6.2, one line per route or event).
//!
//! ```text
//! TABLE_DUMP|time|B|peer|peer_as|prefix|as_path|origin|next_hop|local_pref|med|communities|AG/NAG|aggregator|
//! TABLE_DUMP2[_AP]|time|B|peer|peer_as|prefix|[path_id|]as_path|origin|next_hop|local_pref|med|communities|AG/NAG|aggregator|
//! BGP4MP[_ET][_LOCAL][_AP]|time|A|peer|peer_as|prefix|[path_id|]as_path|...   (announcement)
//! BGP4MP[_ET][_LOCAL][_AP]|time|W|peer|peer_as|prefix[|path_id]               (withdrawal)
//! BGP4MP[_ET]|time|STATE|peer|peer_as|old_state|new_state
//! ```
//!
//! Field values follow bgpdump's reading of the record (see `attr.rs`), and
//! records bgpdump skips without output (OPEN, KEEPALIVE, NOTIFICATION,
//! ROUTE-REFRESH, PEER_INDEX_TABLE, multicast and generic RIBs) print nothing.

use bgp_proto::mrt::{bgp4mp_subtype as bs, mrt_type, table_dump_v2_subtype as ts, RawRecord};

use super::attr::{
    parse_attributes, push_i32, push_ipv4, push_ipv6, push_u32, AttrText, Attrs, Ms, Prefixes, ATTR_ATOMIC_AGGREGATE,
    ATTR_COMMUNITIES, ATTR_LOCAL_PREF, ATTR_MED, ATTR_MP_REACH,
};

/// One peer of the last PEER_INDEX_TABLE, as bgpdump keeps it.
#[derive(Clone, Copy, Debug)]
struct Peer {
    v6: bool,
    ip: [u8; 16],
    asn: u32,
}

/// Why a record produced no output although bgpdump would have wanted to
/// print it; reported on stderr with the record's offset.
pub type Skip = &'static str;

/// Converts records to `bgpdump -m` lines, keeping the peer table between records.
#[derive(Debug, Default)]
pub struct Formatter {
    peers: Option<Vec<Peer>>,
    text: AttrText,
    time: Vec<u8>,
}

/// The peering of a BGP4MP message as bgpdump prints it.
struct Session {
    v6: bool,
    /// Bytes of the peer address (IPv4 in the first four).
    ip: [u8; 16],
    asn: u32,
    local: bool,
    add_path: bool,
    label: &'static str,
}

impl Formatter {
    pub fn new() -> Self {
        Formatter::default()
    }

    /// Appends the lines for `rec` to `out`. `Err` names why bgpdump would
    /// drop the record (the caller reports it; nothing was written).
    pub fn record(&mut self, rec: &RawRecord<'_>, out: &mut Vec<u8>) -> Result<(), Skip> {
        let h = &rec.header;
        self.time.clear();
        push_u32(&mut self.time, h.timestamp);
        if let Some(us) = h.microseconds {
            self.time.push(b'.');
            let mark = self.time.len();
            push_u32(&mut self.time, us);
            let digits = self.time.len() - mark;
            if digits < 6 {
                let pad = 6 - digits;
                self.time.splice(mark..mark, std::iter::repeat_n(b'0', pad));
            }
        }
        match h.mrt_type {
            mrt_type::TABLE_DUMP => self.table_dump(h.subtype, rec.body, out),
            mrt_type::TABLE_DUMP_V2 => self.table_dump_v2(h.subtype, rec.body, out),
            mrt_type::BGP4MP | mrt_type::BGP4MP_ET => {
                self.bgp4mp(h.mrt_type == mrt_type::BGP4MP_ET, h.subtype, rec.body, out)
            }
            _ => Err("unsupported MRT type"),
        }
    }

    fn table_dump(&mut self, subtype: u16, body: &[u8], out: &mut Vec<u8>) -> Result<(), Skip> {
        let (v6, asn_len) = match subtype {
            1 => (false, 2),
            2 => (true, 2),
            3 => (false, 4),
            4 => (true, 4),
            _ => return Err("unknown TABLE_DUMP AFI"),
        };
        let mut s = Ms::new(body);
        s.getw(); // view
        s.getw(); // sequence
        let mut prefix = [0u8; 16];
        s.get(if v6 { &mut prefix[..] } else { &mut prefix[..4] });
        let mask = s.getc();
        s.getc(); // status
        s.getl(); // uptime
        let mut peer = [0u8; 16];
        s.get(if v6 { &mut peer[..] } else { &mut peer[..4] });
        let peer_as = s.asn(asn_len);
        let attrs = parse_attributes(&mut s, asn_len, false, &mut self.text);
        // bgpdump formats IPv6 only for subtype AFI_IP6 (2), not its 32-bit-AS twin.
        let v6_text = subtype == 2;
        out.extend_from_slice(b"TABLE_DUMP|");
        out.extend_from_slice(&self.time);
        out.extend_from_slice(b"|B|");
        push_addr(out, v6_text, &peer);
        out.push(b'|');
        push_u32(out, peer_as);
        out.push(b'|');
        push_addr(out, v6_text, &prefix);
        out.push(b'/');
        push_u32(out, u32::from(mask));
        out.push(b'|');
        self.route_tail(&attrs, out, RibNextHop);
        Ok(())
    }

    fn peer_index_table(&mut self, body: &[u8]) {
        let mut s = Ms::new(body);
        s.ipv4(); // collector BGP ID
        let name_len = usize::from(s.getw());
        // bgpdump skips over a view name only when it fits its 256-octet buffer.
        if name_len < 256 {
            s.skip(name_len);
        }
        let count = s.getw();
        let mut peers = Vec::with_capacity(usize::from(count).min(body.len()));
        for _ in 0..count {
            let peer_type = s.getc();
            let v6 = peer_type & 1 != 0;
            s.ipv4(); // peer BGP ID
            let mut ip = [0u8; 16];
            s.get(if v6 { &mut ip[..] } else { &mut ip[..4] });
            let asn = s.asn(if peer_type & 2 != 0 { 4 } else { 2 });
            peers.push(Peer { v6, ip, asn });
        }
        self.peers = Some(peers);
    }

    fn table_dump_v2(&mut self, subtype: u16, body: &[u8], out: &mut Vec<u8>) -> Result<(), Skip> {
        let (v6, add_path) = match subtype {
            ts::PEER_INDEX_TABLE => {
                self.peer_index_table(body);
                return Ok(());
            }
            ts::RIB_IPV4_UNICAST => (false, false),
            ts::RIB_IPV4_UNICAST_ADDPATH => (false, true),
            ts::RIB_IPV6_UNICAST => (true, false),
            ts::RIB_IPV6_UNICAST_ADDPATH => (true, true),
            // bgpdump reads neither multicast nor generic RIB records.
            _ => return Ok(()),
        };
        let mut s = Ms::new(body);
        s.getl(); // sequence
        let plen = s.getc();
        let mut prefix = [0u8; 16];
        let bytes = usize::from(plen).div_ceil(8);
        let n = bytes.min(if v6 { 16 } else { 4 });
        s.get(&mut prefix[..n]);
        s.skip(bytes - n);
        let count = s.getw();
        let Some(peers) = self.peers.take() else {
            return Err("RIB record before any PEER_INDEX_TABLE");
        };
        let mut result = Ok(());
        for _ in 0..count {
            let index = usize::from(s.getw());
            s.getl(); // originated time
            let path_id = if add_path { s.getl() } else { 0 };
            let attrs = parse_attributes(&mut s, 4, add_path, &mut self.text);
            let Some(peer) = peers.get(index) else {
                result = Err("RIB entry refers to a peer missing from the PEER_INDEX_TABLE");
                continue;
            };
            out.extend_from_slice(if add_path { b"TABLE_DUMP2_AP|" } else { b"TABLE_DUMP2|" });
            out.extend_from_slice(&self.time);
            out.extend_from_slice(b"|B|");
            push_addr(out, peer.v6, &peer.ip);
            out.push(b'|');
            push_u32(out, peer.asn);
            out.push(b'|');
            push_addr(out, v6, &prefix);
            out.push(b'/');
            push_u32(out, u32::from(plen));
            out.push(b'|');
            if add_path {
                push_u32(out, path_id);
                out.push(b'|');
            }
            self.route_tail(&attrs, out, RibNextHop);
        }
        self.peers = Some(peers);
        result
    }

    /// `aspath|origin|next_hop|local_pref|med|communities|AG|aggregator|\n`.
    fn route_tail(&self, a: &Attrs<'_>, out: &mut Vec<u8>, nh: impl NextHopRule) {
        out.extend_from_slice(&self.text.aspath);
        out.push(b'|');
        out.extend_from_slice(origin(a.origin));
        out.push(b'|');
        nh.push(a, out);
        out.push(b'|');
        let pref = if a.has(ATTR_LOCAL_PREF) { a.local_pref } else { 0 };
        let med = if a.has(ATTR_MED) { a.med } else { 0 };
        if nh.signed_numbers() {
            push_i32(out, pref);
            out.push(b'|');
            push_i32(out, med);
        } else {
            push_u32(out, pref);
            out.push(b'|');
            push_u32(out, med);
        }
        out.push(b'|');
        if a.has(ATTR_COMMUNITIES) {
            out.extend_from_slice(self.text.community.get(1..).unwrap_or_default());
        }
        out.push(b'|');
        out.extend_from_slice(if a.has(ATTR_ATOMIC_AGGREGATE) { b"AG" } else { b"NAG" });
        out.push(b'|');
        if a.aggregator_addr != [0xff; 4] {
            push_u32(out, a.aggregator_as);
            out.push(b' ');
            push_ipv4(out, &a.aggregator_addr);
        }
        out.extend_from_slice(b"|\n");
    }

    fn bgp4mp(&mut self, et: bool, subtype: u16, body: &[u8], out: &mut Vec<u8>) -> Result<(), Skip> {
        match subtype {
            bs::STATE_CHANGE => self.state_change(et, 2, body, out),
            bs::STATE_CHANGE_AS4 => self.state_change(et, 4, body, out),
            bs::MESSAGE | bs::MESSAGE_LOCAL | bs::MESSAGE_ADDPATH | bs::MESSAGE_LOCAL_ADDPATH => {
                self.message(et, subtype, 2, body, out)
            }
            _ if bs::is_as4_message(subtype) => self.message(et, subtype, 4, body, out),
            _ => Err("unknown BGP4MP subtype"),
        }
    }

    fn state_change(&mut self, et: bool, asn_len: usize, body: &[u8], out: &mut Vec<u8>) -> Result<(), Skip> {
        let mut s = Ms::new(body);
        let peer_as = s.asn(asn_len);
        s.asn(asn_len); // local AS
        let mut ip = [0u8; 16];
        let mut v6 = false;
        if body.len() == 8 {
            // A Zebra bug wrote state changes without interface and addresses.
        } else {
            s.getw(); // interface index
            match s.getw() {
                1 if body.len() == 20 || body.len() == 24 => s.get(&mut ip[..4]),
                2 if body.len() == 44 || body.len() == 48 => {
                    v6 = true;
                    s.get(&mut ip);
                }
                1 | 2 => return Err("BGP4MP state change of bad length"),
                _ => return Err("BGP4MP state change of unknown address family"),
            }
            let mut local = [0u8; 16];
            s.get(if v6 { &mut local[..] } else { &mut local[..4] });
        }
        let old = s.getw();
        let new = s.getw();
        out.extend_from_slice(if et { b"BGP4MP_ET|" } else { b"BGP4MP|" });
        out.extend_from_slice(&self.time);
        out.extend_from_slice(b"|STATE|");
        push_addr(out, v6, &ip);
        out.push(b'|');
        push_u32(out, peer_as);
        out.push(b'|');
        push_u32(out, u32::from(old));
        out.push(b'|');
        push_u32(out, u32::from(new));
        out.push(b'\n');
        Ok(())
    }

    fn message(&mut self, et: bool, subtype: u16, asn_len: usize, body: &[u8], out: &mut Vec<u8>) -> Result<(), Skip> {
        let local = bs::is_local_message(subtype);
        let add_path = bs::is_add_path_message(subtype);
        let mut s = Ms::new(body);
        let peer_as = s.asn(asn_len);
        s.asn(asn_len); // local AS
        let ifindex = s.getw();
        let afi = s.getw();
        let mut ip = [0u8; 16];
        let mut marker = [0u8; 16];
        let v6 = match afi {
            1 => {
                s.get(&mut ip[..4]);
                s.ipv4();
                s.get(&mut marker);
                false
            }
            2 => {
                s.get(&mut ip);
                let mut other = [0u8; 16];
                s.get(&mut other);
                s.get(&mut marker);
                true
            }
            0xffff if ifindex == 0xffff => {
                // Zebra wrote OPENs without interface and addresses.
                marker[..4].fill(0xff);
                s.get(&mut marker[4..]);
                false
            }
            _ => return Err("BGP4MP message of unsupported address family"),
        };
        if marker != [0xff; 16] {
            return Err("BGP4MP message with a bad BGP marker");
        }
        let size = usize::from(s.getw());
        let mut m = s.sub(size.saturating_sub(18));
        if m.getc() != 2 {
            // OPEN, NOTIFICATION, KEEPALIVE and ROUTE-REFRESH print nothing with -m.
            return Ok(());
        }
        let withdraw_len = usize::from(m.getw());
        let withdrawn = m.sub(withdraw_len);
        let attrs = parse_attributes(&mut m, asn_len, add_path, &mut self.text);
        let nlri = m;
        let label = match (et, local, add_path) {
            (true, true, true) => "BGP4MP_ET_LOCAL_AP",
            (true, true, false) => "BGP4MP_ET_LOCAL",
            (true, false, true) => "BGP4MP_ET_AP",
            (true, false, false) => "BGP4MP_ET",
            (false, true, true) => "BGP4MP_LOCAL_AP",
            (false, true, false) => "BGP4MP_LOCAL",
            (false, false, true) => "BGP4MP_AP",
            (false, false, false) => "BGP4MP",
        };
        let sess = Session { v6, ip, asn: peer_as, local, add_path, label };

        for p in Prefixes::new(withdrawn, add_path) {
            self.withdraw(&sess, false, &p, out);
        }
        for safi in 1..=3 {
            if let Some(mp) = attrs.withdraw[1][safi] {
                for p in Prefixes::new(mp.nlri, add_path) {
                    self.withdraw(&sess, false, &p, out);
                }
            }
        }
        for safi in 1..=3 {
            if let Some(mp) = attrs.withdraw[2][safi] {
                for p in Prefixes::new(mp.nlri, add_path) {
                    self.withdraw(&sess, true, &p, out);
                }
            }
        }
        for p in Prefixes::new(nlri, add_path) {
            self.announce_head(&sess, false, &p, out);
            self.route_tail(&attrs, out, AttrNextHop);
        }
        for safi in 1..=3 {
            if let Some(mp) = attrs.announce[1][safi] {
                for p in Prefixes::new(mp.nlri, add_path) {
                    self.announce_head(&sess, false, &p, out);
                    self.route_tail(&attrs, out, MpV4NextHop(mp.nexthop));
                }
            }
        }
        for safi in 1..=3 {
            if let Some(mp) = attrs.announce[2][safi] {
                for p in Prefixes::new(mp.nlri, add_path) {
                    self.announce_head(&sess, true, &p, out);
                    self.route_tail(&attrs, out, MpV6NextHop(mp.nexthop));
                }
            }
        }
        Ok(())
    }

    fn line_head(&self, sess: &Session, kind: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(sess.label.as_bytes());
        out.push(b'|');
        out.extend_from_slice(&self.time);
        out.extend_from_slice(kind);
    }

    /// `label|time|W|peer|peer_as|prefix[|path_id]`.
    fn withdraw(&self, sess: &Session, prefix_v6: bool, p: &super::attr::Prefix, out: &mut Vec<u8>) {
        self.line_head(sess, b"|W|", out);
        // bgpdump formats a sent message's IPv4 peer with its IPv6 formatter
        // when the withdrawn prefix is IPv6.
        push_addr(out, sess.v6 || (prefix_v6 && sess.local), &sess.ip);
        out.push(b'|');
        push_u32(out, sess.asn);
        out.push(b'|');
        push_addr(out, prefix_v6, &p.addr);
        out.push(b'/');
        push_u32(out, u32::from(p.len));
        if sess.add_path {
            out.push(b'|');
            push_u32(out, p.path_id);
        }
        out.push(b'\n');
    }

    /// `label|time|A|peer|peer_as|prefix|[path_id|]`.
    fn announce_head(&self, sess: &Session, prefix_v6: bool, p: &super::attr::Prefix, out: &mut Vec<u8>) {
        self.line_head(sess, b"|A|", out);
        push_addr(out, sess.v6, &sess.ip);
        out.push(b'|');
        push_u32(out, sess.asn);
        out.push(b'|');
        push_addr(out, prefix_v6, &p.addr);
        out.push(b'/');
        push_u32(out, u32::from(p.len));
        out.push(b'|');
        if sess.add_path {
            push_u32(out, p.path_id);
            out.push(b'|');
        }
    }
}

fn push_addr(out: &mut Vec<u8>, v6: bool, a: &[u8; 16]) {
    if v6 {
        push_ipv6(out, a);
    } else {
        push_ipv4(out, &a[..4]);
    }
}

fn origin(o: u8) -> &'static [u8] {
    match o {
        0 => b"IGP",
        1 => b"EGP",
        _ => b"INCOMPLETE",
    }
}

/// Which next hop a line shows, and how bgpdump prints LOCAL_PREF/MED there.
trait NextHopRule: Copy {
    fn push(&self, a: &Attrs<'_>, out: &mut Vec<u8>);
    fn signed_numbers(&self) -> bool {
        false
    }
}

/// RIB lines: the IPv6 unicast MP_REACH next hop if there is one, else NEXT_HOP.
#[derive(Clone, Copy)]
struct RibNextHop;
impl NextHopRule for RibNextHop {
    fn push(&self, a: &Attrs<'_>, out: &mut Vec<u8>) {
        match a.announce[2][1] {
            Some(mp) if a.has(ATTR_MP_REACH) => push_ipv6(out, &mp.nexthop),
            _ => push_ipv4(out, &a.nexthop),
        }
    }
}

/// IPv4 NLRI of an UPDATE: the NEXT_HOP attribute.
#[derive(Clone, Copy)]
struct AttrNextHop;
impl NextHopRule for AttrNextHop {
    fn push(&self, a: &Attrs<'_>, out: &mut Vec<u8>) {
        push_ipv4(out, &a.nexthop);
    }
}

/// IPv4 MP_REACH NLRI: the MP next hop; bgpdump prints LOCAL_PREF/MED signed here.
#[derive(Clone, Copy)]
struct MpV4NextHop([u8; 16]);
impl NextHopRule for MpV4NextHop {
    fn push(&self, _a: &Attrs<'_>, out: &mut Vec<u8>) {
        push_ipv4(out, &self.0[..4]);
    }
    fn signed_numbers(&self) -> bool {
        true
    }
}

/// IPv6 MP_REACH NLRI: the MP next hop (global address).
#[derive(Clone, Copy)]
struct MpV6NextHop([u8; 16]);
impl NextHopRule for MpV6NextHop {
    fn push(&self, _a: &Attrs<'_>, out: &mut Vec<u8>) {
        push_ipv6(out, &self.0);
    }
}
