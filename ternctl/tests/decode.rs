//! `ternctl decode` run as a user would: the built binary on byte streams
//! assembled from golden messages, its JSON lines and exit status checked.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn h(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// A whole message: marker, length, type, body.
fn msg(msg_type: u8, body: &str) -> Vec<u8> {
    let body = h(body);
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(19 + body.len()).expect("length").to_be_bytes());
    m.push(msg_type);
    m.extend_from_slice(&body);
    m
}

/// OPEN: AS 65001, hold 90, id 192.0.2.1; MP IPv4 unicast, route refresh, 4-octet AS 65001.
const OPEN: &str = "04 fde9 005a c0000201 10 02 0e 01040001 0001 0200 4104 0000fde9";
/// UPDATE: ORIGIN IGP, AS_PATH 65001 (4-octet), NEXT_HOP 192.0.2.1, NLRI 10.0.0.0/24.
const UPDATE: &str = "0000 0014 40010100 400206 02 01 0000fde9 400304 c0000201 18 0a0000";
/// The same with ORIGIN 3: treat-as-withdraw (RFC 7606 §7.1).
const UPDATE_BAD_ORIGIN: &str = "0000 0014 40010103 400206 02 01 0000fde9 400304 c0000201 18 0a0000";
/// Cease / Administrative Shutdown, "hello" (RFC 9003).
const SHUTDOWN: &str = "06 02 05 68656c6c6f";

/// Runs `ternctl decode ARGS` with `stream` in a file (or on stdin when `stdin`).
fn run(name: &str, stream: &[u8], args: &[&str], stdin: bool) -> (Vec<Value>, i32) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ternctl"));
    cmd.arg("decode").args(args);
    let output: Output = if stdin {
        cmd.arg("-").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("ternctl runs");
        child.stdin.take().expect("stdin").write_all(stream).expect("writes stdin");
        child.wait_with_output().expect("ternctl finishes")
    } else {
        let path: PathBuf = std::env::temp_dir().join(format!("ternctl-decode-{}-{name}.bin", std::process::id()));
        std::fs::write(&path, stream).expect("writes the stream");
        let out = cmd.arg(&path).output().expect("ternctl runs");
        let _ = std::fs::remove_file(&path);
        out
    };
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let lines = stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    (lines, output.status.code().expect("exit code"))
}

#[test]
fn every_message_type_and_malformed_ones() {
    let stream = [
        msg(1, OPEN),
        msg(4, ""),
        msg(2, UPDATE),
        msg(2, UPDATE_BAD_ORIGIN),
        msg(3, SHUTDOWN),
        msg(5, "0002 00 01"),
        msg(9, ""),
        msg(4, "00"),
        msg(4, ""),
    ]
    .concat();
    let (lines, code) = run("all", &stream, &[], false);
    assert_eq!(code, 2, "some messages were malformed");
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().expect("type")).collect();
    assert_eq!(
        types,
        ["OPEN", "KEEPALIVE", "UPDATE", "UPDATE", "NOTIFICATION", "ROUTE-REFRESH", "type 9", "KEEPALIVE", "KEEPALIVE"]
    );
    let offsets: Vec<u64> = lines.iter().map(|l| l["offset"].as_u64().expect("offset")).collect();
    assert_eq!(offsets, [0, 45, 64, 111, 158, 185, 208, 227, 247]);

    let open = &lines[0]["message"];
    assert_eq!(open["bgp_id"], "192.0.2.1");
    assert_eq!(open["hold_time"], 90);
    assert_eq!(open["parameters"][0]["Capabilities"][2]["FourOctetAs"], 65001);
    assert_eq!(lines[0]["asn"], 65001);

    let update = &lines[2]["message"];
    assert_eq!(update["nlri"][0]["prefix"], "10.0.0.0/24");
    assert_eq!(update["attributes"]["next_hop"], "192.0.2.1");
    assert_eq!(update["attributes"]["as_path"]["segments"][0]["asns"][0], 65001);

    let bad = &lines[3]["error"];
    assert_eq!(bad["action"], "TreatAsWithdraw");
    assert_eq!((bad["code"].as_u64(), bad["subcode"].as_u64()), (Some(3), Some(6)));
    assert_eq!(bad["data"], "40010103", "the malformed attribute, in hex");
    assert_eq!(bad["withdrawn"][0]["nlri"], "10.0.0.0/24");
    assert!(lines[3].get("message").is_none());

    assert_eq!(lines[4]["description"], "Cease / Administrative Shutdown: \"hello\"");
    assert_eq!(lines[4]["message"]["data"], "0568656c6c6f");
    assert_eq!(lines[4]["shutdown_communication"]["text"], "hello");

    assert_eq!(lines[5]["message"]["family"]["afi"], 2);
    assert_eq!(lines[5]["message"]["subtype"], "Request");

    let unknown = &lines[6]["error"];
    assert_eq!((unknown["code"].as_u64(), unknown["subcode"].as_u64()), (Some(1), Some(3)));
    assert_eq!(unknown["data"], "09");
    assert_eq!(unknown["action"], "SessionReset");
    assert_eq!(unknown["notification"], "Message Header Error / Bad Message Type");

    assert_eq!(lines[7]["error"]["data"], "0014", "KEEPALIVE of 20 octets");
    assert!(lines[8].get("error").is_none(), "decoding went on after the malformed messages");
}

#[test]
fn header_error_stops_decoding() {
    let mut bad = msg(4, "");
    bad[5] = 0;
    let stream = [msg(1, OPEN), msg(4, ""), bad, msg(4, "")].concat();
    let (lines, code) = run("header", &stream, &[], false);
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(lines[2]["offset"], 64);
    assert_eq!((lines[2]["error"]["code"].as_u64(), lines[2]["error"]["subcode"].as_u64()), (Some(1), Some(1)));
    assert_eq!(lines[2]["error"]["notification"], "Message Header Error / Connection Not Synchronized");
}

#[test]
fn truncated_stream() {
    let mut stream = [msg(4, ""), msg(1, OPEN)].concat();
    stream.truncate(19 + 30);
    let (lines, code) = run("truncated", &stream, &[], true);
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["type"], "KEEPALIVE");
    assert_eq!(lines[1]["offset"], 19);
    assert_eq!(lines[1]["truncated"], 30);
}

#[test]
fn as2_flag() {
    // AS_PATH with a 2-octet AS: 65001.
    let update = "0000 0012 40010100 400204 02 01 fde9 400304 c0000201 18 0a0000";
    let stream = msg(2, update);
    let (lines, code) = run("as2", &stream, &["--as2"], true);
    assert_eq!(code, 0);
    assert_eq!(lines[0]["message"]["attributes"]["as_path"]["segments"][0]["asns"][0], 65001);
    // Read as 4-octet AS numbers the path is malformed.
    let (lines, code) = run("as4", &stream, &[], true);
    assert_eq!(code, 2);
    assert_eq!(lines[0]["error"]["code"], 3);
}

#[test]
fn add_path_flag() {
    // NLRI with path identifier 7 (RFC 7911 §3).
    let update = "0000 0014 40010100 400206 02 01 0000fde9 400304 c0000201 00000007 18 0a0000";
    let (lines, code) = run("addpath", &msg(2, update), &["--add-path", "v4,v6"], false);
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(lines[0]["message"]["nlri"][0]["path_id"], 7);
    assert_eq!(lines[0]["message"]["nlri"][0]["prefix"], "10.0.0.0/24");
}

#[test]
fn extended_message_flag() {
    // A 5,000-octet NOTIFICATION (RFC 8654 allows it once negotiated).
    let mut big = msg(3, "06 02");
    big.resize(5000, 0);
    big[16..18].copy_from_slice(&5000u16.to_be_bytes());
    let (lines, code) = run("std", &big, &[], false);
    assert_eq!(code, 1);
    assert_eq!(lines[0]["error"]["data"], "1388", "the length field");
    let (lines, code) = run("ext", &big, &["--extended-message"], false);
    assert_eq!(code, 0);
    assert_eq!(lines[0]["length"], 5000);
    assert_eq!(lines[0]["message"]["data"].as_str().map(str::len), Some(2 * (5000 - 21)));
}

#[test]
fn unknown_family_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_ternctl"))
        .args(["decode", "--add-path", "v5", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("ternctl runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown family"));
}
