//! `ternctl decode [FILE|-]`: a raw BGP byte stream (one TCP direction's
//! payload: concatenated messages, headers included) as JSON lines.
//!
//! Each message gives one object: `offset` (of its first octet in the
//! stream), `length`, `type` (name) and `message` (every field decoded),
//! plus `description` for a NOTIFICATION. A malformed message gives `error`
//! instead of `message`, with the RFC 7606 `action`, the NOTIFICATION
//! `code`/`subcode`/`data` (hex) and a `detail`, and decoding goes on: the
//! header still frames the next message. A header error (marker, length)
//! cannot be framed past: it is printed and decoding stops.
//!
//! Exit status: 0 when every message decoded, 2 when some were malformed,
//! 1 when the stream could not be framed to its end (header error,
//! truncated last message) or could not be read.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bgp_proto::message::{type_name, MessageError};
use bgp_proto::serde_util::hex;
use bgp_proto::{Context, DecodeError, Family, Framer, Message};
use serde_json::{json, Map, Value};

/// Options of `ternctl decode`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// File holding the stream; `-` or nothing for standard input.
    pub file: Option<PathBuf>,
    /// The session uses 2-octet AS numbers (no RFC 6793 capability).
    #[arg(long)]
    pub as2: bool,
    /// Families whose NLRI carry ADD-PATH path identifiers (RFC 7911),
    /// comma-separated: v4, v6.
    #[arg(long, value_delimiter = ',', value_parser = parse_family)]
    pub add_path: Vec<Family>,
    /// Messages may be up to 65,535 octets (RFC 8654).
    #[arg(long)]
    pub extended_message: bool,
}

impl Args {
    /// The decode context the flags describe.
    pub fn context(&self) -> Context {
        Context {
            four_octet_as: !self.as2,
            add_path: self.add_path.clone(),
            extended_message: self.extended_message,
            ..Context::default()
        }
    }
}

fn parse_family(s: &str) -> Result<Family, String> {
    match s.trim() {
        "v4" | "ipv4" | "ipv4-unicast" => Ok(Family::IPV4_UNICAST),
        "v6" | "ipv6" | "ipv6-unicast" => Ok(Family::IPV6_UNICAST),
        other => Err(format!("unknown family {other:?} (expected v4 or v6)")),
    }
}

/// How far decoding got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub messages: usize,
    pub malformed: usize,
    /// The stream could not be framed to its end.
    pub stopped: bool,
}

impl Summary {
    fn exit_code(self) -> ExitCode {
        if self.stopped {
            ExitCode::from(1)
        } else if self.malformed > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    }
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let input: Box<dyn Read> = match &args.file {
        None => Box::new(io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(io::stdin().lock()),
        Some(p) => Box::new(File::open(p).with_context(|| format!("cannot open {}", p.display()))?),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let summary = match decode_stream(input, &args.context(), &mut out).and_then(|s| Ok(out.flush().map(|()| s)?)) {
        Ok(s) => s,
        Err(e) if is_broken_pipe(&e) => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e),
    };
    if summary.stopped {
        eprintln!("ternctl: decoding stopped after {} messages", summary.messages);
    }
    Ok(summary.exit_code())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Frames and decodes `input`, writing one JSON line per message to `out`.
pub fn decode_stream(mut input: impl Read, ctx: &Context, out: &mut impl Write) -> anyhow::Result<Summary> {
    let mut framer = Framer::new(ctx);
    let mut summary = Summary::default();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context("cannot read the stream")),
        };
        if n == 0 {
            break;
        }
        framer.push(chunk.get(..n).unwrap_or_default());
        loop {
            let offset = framer.offset();
            match framer.next_frame() {
                Ok(Some(frame)) => {
                    summary.messages += 1;
                    let line = match frame.decode(ctx) {
                        Ok(m) => message_json(offset, frame.len(), &m)?,
                        Err(e) => {
                            summary.malformed += 1;
                            malformed_json(offset, frame.len(), frame.msg_type, &e)?
                        }
                    };
                    writeln!(out, "{line}")?;
                }
                Ok(None) => break,
                Err(e) => {
                    let mut obj = Map::new();
                    obj.insert("offset".into(), json!(offset));
                    obj.insert("error".into(), error_json(&e, "SessionReset"));
                    writeln!(out, "{}", Value::Object(obj))?;
                    summary.stopped = true;
                    return Ok(summary);
                }
            }
        }
    }
    if framer.buffered() > 0 {
        let offset = framer.offset();
        let detail = format!("stream ends inside a message: {} octets left unframed", framer.buffered());
        writeln!(
            out,
            "{}",
            json!({ "offset": offset, "truncated": framer.buffered(), "error": { "detail": detail } })
        )?;
        summary.stopped = true;
    }
    Ok(summary)
}

fn message_json(offset: u64, length: usize, m: &Message) -> anyhow::Result<Value> {
    let mut obj = Map::new();
    obj.insert("offset".into(), json!(offset));
    obj.insert("length".into(), json!(length));
    obj.insert("type".into(), json!(m.type_name()));
    // The enum is externally tagged ({"Open": {..}}); `type` already names it.
    let body = match serde_json::to_value(m)? {
        Value::Object(tagged) if tagged.len() == 1 => tagged.into_iter().next().map(|(_, v)| v),
        _ => None,
    };
    if let Some(body) = body {
        obj.insert("message".into(), body);
    }
    match m {
        Message::Notification(n) => {
            obj.insert("description".into(), json!(n.describe()));
            if let Some(c) = n.shutdown_communication() {
                obj.insert("shutdown_communication".into(), serde_json::to_value(c)?);
            }
        }
        Message::Open(open) => {
            obj.insert("asn".into(), json!(open.asn()));
        }
        Message::Update(u) => {
            if let Some(f) = u.is_end_of_rib() {
                obj.insert("end_of_rib".into(), json!(f.to_string()));
            }
        }
        _ => {}
    }
    Ok(Value::Object(obj))
}

fn malformed_json(offset: u64, length: usize, msg_type: u8, e: &MessageError) -> anyhow::Result<Value> {
    let mut obj = Map::new();
    obj.insert("offset".into(), json!(offset));
    obj.insert("length".into(), json!(length));
    obj.insert("type".into(), json!(type_name(msg_type).map_or_else(|| format!("type {msg_type}"), str::to_string)));
    let action = serde_json::to_value(e.action())?;
    let mut error = error_json(e.error(), action.as_str().unwrap_or("SessionReset"));
    if let (MessageError::Update(bgp_proto::UpdateError::TreatAsWithdraw { withdrawn, .. }), Value::Object(map)) =
        (e, &mut error)
    {
        let prefixes: Vec<Value> =
            withdrawn.iter().map(|(f, n)| json!({ "family": f.to_string(), "nlri": n.to_string() })).collect();
        map.insert("withdrawn".into(), Value::Array(prefixes));
    }
    obj.insert("error".into(), error);
    Ok(Value::Object(obj))
}

fn error_json(e: &DecodeError, action: &str) -> Value {
    let notification = bgp_proto::Notification::from(e);
    json!({
        "action": action,
        "code": e.code,
        "subcode": e.subcode,
        "data": hex::encode(&e.data),
        "detail": e.detail,
        "notification": notification.describe(),
    })
}
