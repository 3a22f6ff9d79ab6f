//! `ternctl mrt FILE`: print an MRT dump (RFC 6396) one line per route or
//! event, byte-identical to `bgpdump -m`.
//!
//! The file may be gzip or bzip2 compressed (recognised by magic bytes) or
//! plain. Records are framed by `bgp_proto::mrt::StreamReader` over a
//! streaming decompressor; lines are built in one buffer and written to a
//! locked stdout in large chunks. A corrupt record is reported on stderr with
//! its offset in the decompressed stream, and reading goes on when the common
//! header still frames the next record.

mod attr;
mod format;

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use anyhow::Context as _;
use bgp_proto::mrt::StreamReader;

pub use format::Formatter;

/// Output is flushed to stdout whenever this much is buffered.
const FLUSH_AT: usize = 256 * 1024;

/// Opens `path` and undoes gzip or bzip2 compression, chosen by magic bytes.
pub fn open(path: &Path) -> anyhow::Result<Box<dyn Read>> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 3];
    let mut n = 0;
    while n < magic.len() {
        let k = file.read(&mut magic[n..]).with_context(|| format!("cannot read {}", path.display()))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let head = io::Cursor::new(magic[..n].to_vec());
    let raw = BufReader::with_capacity(256 * 1024, head.chain(file));
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        [b'B', b'Z', b'h'] => Box::new(bzip2::read::MultiBzDecoder::new(raw)),
        _ => Box::new(raw),
    })
}

/// Prints `path` as `bgpdump -m` would, to stdout.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let input = open(path)?;
    let stdout = io::stdout();
    let mut stdout = stdout.lock();
    let stderr = io::stderr();
    print_dump(input, &mut stdout, &mut stderr.lock())
}

/// Converts a whole dump; diagnostics about corrupt records go to `diag`.
pub fn print_dump(input: impl Read, out: &mut impl Write, diag: &mut impl Write) -> anyhow::Result<()> {
    let mut reader = StreamReader::new(BufReader::with_capacity(256 * 1024, input));
    let mut formatter = Formatter::new();
    let mut buf = Vec::with_capacity(FLUSH_AT + 64 * 1024);
    while let Some(next) = reader.next_record() {
        match next {
            Ok(rec) => {
                let offset = rec.offset;
                if let Err(why) = formatter.record(&rec, &mut buf) {
                    let _ = writeln!(diag, "ternctl mrt: record at offset {offset}: {why}");
                }
            }
            Err(e) => {
                let _ = writeln!(diag, "ternctl mrt: {e}");
            }
        }
        if buf.len() >= FLUSH_AT {
            write_out(out, &buf)?;
            buf.clear();
        }
    }
    write_out(out, &buf)?;
    out.flush().or_else(ignore_broken_pipe)?;
    Ok(())
}

fn write_out(out: &mut impl Write, buf: &[u8]) -> anyhow::Result<()> {
    out.write_all(buf).or_else(ignore_broken_pipe)?;
    Ok(())
}

/// `ternctl mrt FILE | head` is normal use: a closed pipe ends output quietly.
fn ignore_broken_pipe(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    Err(e)
}
