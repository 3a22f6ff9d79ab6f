//! Golden byte tables for every path attribute and UPDATE variant, and the
//! real UPDATEs of the MRT dumps in `tests/data/bgp/mrt`.

use std::io::Read;
use std::path::PathBuf;

use bgp_proto::update::{decode_update, Update};
use bgp_proto::{Context, Family, UpdateError};
use bytes::BytesMut;

/// One BGP message of a BGP4MP record (RFC 6396 §4.4) with what its subtype
/// says about the session.
struct MrtMessage {
    four_octet_as: bool,
    add_path: bool,
    /// The whole BGP message, header included.
    msg: Vec<u8>,
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bgp/mrt")
}

fn read_dump(name: &str) -> Vec<u8> {
    let raw = std::fs::read(data_dir().join(name)).expect("test data file");
    let mut out = Vec::new();
    if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out).expect("gzip");
    } else if name.ends_with(".bz2") {
        bzip2::read::MultiBzDecoder::new(&raw[..]).read_to_end(&mut out).expect("bzip2");
    } else {
        out = raw;
    }
    out
}

/// A minimal BGP4MP / BGP4MP_ET reader: MRT common header (timestamp 4,
/// type 2, subtype 2, length 4), the ET microseconds, then the message
/// subtypes' peer fields and the BGP message.
fn bgp4mp_messages(data: &[u8]) -> Vec<MrtMessage> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 12 <= data.len() {
        let typ = u16::from_be_bytes([data[pos + 4], data[pos + 5]]);
        let subtype = u16::from_be_bytes([data[pos + 6], data[pos + 7]]);
        let len = u32::from_be_bytes([data[pos + 8], data[pos + 9], data[pos + 10], data[pos + 11]]) as usize;
        let Some(mut rec) = data.get(pos + 12..pos + 12 + len) else { break };
        pos += 12 + len;
        if typ != 16 && typ != 17 {
            continue;
        }
        if typ == 17 {
            rec = &rec[4..];
        }
        // MESSAGE 1, MESSAGE_AS4 4, _LOCAL 6/7, _ADDPATH 8/9, _LOCAL_ADDPATH 10/11.
        if !matches!(subtype, 1 | 4 | 6 | 7 | 8 | 9 | 10 | 11) {
            continue;
        }
        let four_octet_as = matches!(subtype, 4 | 7 | 9 | 11);
        let add_path = subtype >= 8;
        let as_len = if four_octet_as { 4 } else { 2 };
        let afi_at = 2 * as_len + 2;
        let afi = u16::from_be_bytes([rec[afi_at], rec[afi_at + 1]]);
        let ip_len = if afi == 2 { 16 } else { 4 };
        let msg = &rec[afi_at + 2 + 2 * ip_len..];
        out.push(MrtMessage { four_octet_as, add_path, msg: msg.to_vec() });
    }
    out
}

fn context_for(m: &MrtMessage) -> Context {
    let all = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST, Family::IPV4_MULTICAST, Family::IPV6_MULTICAST];
    Context {
        four_octet_as: m.four_octet_as,
        add_path: if m.add_path { all.clone() } else { Vec::new() },
        extended_message: true,
        extended_next_hop: all,
    }
}

const UPDATE_DUMPS: &[&str] = &[
    "bgpdump__updates.20070211.0141.gz",
    "bgpdump__updates.20100722.2015.gz",
    "bgpdump__updates.20160811.1600.gz",
    "ris-rrc00__updates.20181218.1140.gz",
    "ris-rrc06__updates.20150401.0000.gz",
    "ris-rrc15__updates.20100227.1600.gz",
    "routeviews-jinx__updates.20150401.0000.bz2",
    "routeviews6__updates.20151009.1230.bz2",
    "routeviews__updates.20240914.ET.bz2",
    "mrtparse__bird_bgp",
    "mrtparse__bird6_bgp",
    "mrtparse__quagga_bgp",
    "mrtparse__openbgpd_bgp",
    "mrtparse__bird-mrtdump_bgp",
];

/// Decodes an UPDATE of a BGP4MP record. BIRD's mrtdump writes ADD-PATH
/// NLRI under the non-ADD-PATH subtypes; such a message is retried with
/// ADD-PATH, as a reader of those files has to.
fn decode_mrt_update(m: &MrtMessage) -> (Context, Result<Update, UpdateError>) {
    let ctx = context_for(m);
    let r = decode_update(&m.msg[19..], &ctx);
    if matches!(&r, Err(UpdateError::SessionReset(_))) && !m.add_path {
        let retry = MrtMessage { add_path: true, four_octet_as: m.four_octet_as, msg: m.msg.clone() };
        let ctx = context_for(&retry);
        let r = decode_update(&m.msg[19..], &ctx);
        if r.is_ok() {
            return (ctx, r);
        }
    }
    (ctx, r)
}

/// Whether the attribute section of an UPDATE is in the canonical form the
/// encoder writes: MP_REACH_NLRI / MP_UNREACH_NLRI first, then ascending
/// type codes, Extended Length only above 255 octets, no unused flag bits,
/// and the flags RFC 4271 §5 prescribes for recognised attributes.
fn canonical_attributes(body: &[u8]) -> bool {
    let wl = u16::from_be_bytes([body[0], body[1]]) as usize;
    let al = u16::from_be_bytes([body[2 + wl], body[3 + wl]]) as usize;
    let mut a = &body[4 + wl..4 + wl + al];
    let mut last: i32 = -1;
    let mut mp_phase = true;
    while !a.is_empty() {
        let (f, code) = (a[0], a[1]);
        let (hl, len) = if f & 0x10 != 0 { (4, u16::from_be_bytes([a[2], a[3]]) as usize) } else { (3, a[2] as usize) };
        if f & 0x0f != 0 || (f & 0x10 != 0) != (len > 255) {
            return false;
        }
        let is_mp = code == 14 || code == 15;
        if is_mp && !mp_phase {
            return false;
        }
        if !is_mp && mp_phase {
            mp_phase = false;
            last = -1;
        }
        if i32::from(code) <= last {
            return false;
        }
        last = i32::from(code);
        let expected = match code {
            1 | 2 | 3 | 5 | 6 => Some(0x40),
            4 | 9 | 10 | 14 | 15 => Some(0x80),
            7 | 8 | 16 | 17 | 18 | 32 | 35 => Some(0xc0),
            _ => None,
        };
        if let Some(e) = expected {
            let partial_ok = e == 0xc0;
            if f & 0xc0 != e || (!partial_ok && f & 0x20 != 0) {
                return false;
            }
        }
        a = &a[hl + len..];
    }
    true
}

#[test]
fn real_updates_reencode_to_their_bytes_where_canonical() {
    let (mut same, mut noncanonical) = (0, 0);
    for name in UPDATE_DUMPS {
        let data = read_dump(name);
        for m in bgp4mp_messages(&data) {
            if m.msg.len() < 19 || m.msg[18] != 2 {
                continue;
            }
            let (ctx, r) = decode_mrt_update(&m);
            let u = r.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(u.discarded.is_empty(), "{name}: {:?}", u.discarded);
            let mut out = BytesMut::new();
            u.encode(&ctx, &mut out).expect("re-encode");
            if out[..] == m.msg[..] {
                same += 1;
            } else if canonical_attributes(&m.msg[19..]) {
                panic!("{name}: canonical message re-encoded differently\n{}\n{}", hex(&m.msg), hex(&out));
            } else {
                noncanonical += 1;
            }
        }
    }
    eprintln!("byte-exact {same}, not canonical {noncanonical}");
    assert!(same > 10_000, "only {same} messages re-encoded byte-exact");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn real_updates_decode() {
    for name in UPDATE_DUMPS {
        let data = read_dump(name);
        let (mut ok, mut discard, mut withdraw, mut reset) = (0, 0, 0, 0);
        for m in bgp4mp_messages(&data) {
            if m.msg.len() < 19 || m.msg[18] != 2 {
                continue;
            }
            match decode_mrt_update(&m).1 {
                Ok(u) if u.discarded.is_empty() => ok += 1,
                Ok(u) => {
                    discard += 1;
                    eprintln!("{name}: discarded {:?}", u.discarded);
                }
                Err(UpdateError::TreatAsWithdraw { error, .. }) => {
                    withdraw += 1;
                    eprintln!("{name}: treat-as-withdraw {error}");
                }
                Err(UpdateError::SessionReset(e)) => {
                    reset += 1;
                    eprintln!("{name}: reset {e}");
                }
            }
        }
        eprintln!("{name}: ok {ok} discard {discard} withdraw {withdraw} reset {reset}");
    }
}
