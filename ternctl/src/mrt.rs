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

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bgp/mrt").join(name);
        let mut out = Vec::new();
        open(&path).expect("open").read_to_end(&mut out).expect("read");
        out
    }

    /// Flipped and truncated bytes anywhere: output and diagnostics, never a panic.
    #[test]
    fn mutated_dumps_never_panic() {
        let mut input = data("mrtparse__quagga_bgp");
        input.extend(data("mrtparse__openbgpd_rib_table-v2"));
        input.extend(data("mrtparse__bird-mrtdump_bgp"));
        input.extend(data("mrtparse__openbgpd_rib_table"));
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut lines = 0;
        for round in 0..2000 {
            let mut d = input.clone();
            for _ in 0..1 + round % 5 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed as usize) % d.len();
                d[at] = (seed >> 40) as u8;
            }
            if round % 9 == 0 {
                d.truncate((seed as usize >> 3) % d.len());
            }
            let (mut out, mut diag) = (Vec::new(), Vec::new());
            print_dump(&d[..], &mut out, &mut diag).expect("in-memory output");
            lines += out.iter().filter(|&&b| b == b'\n').count();
        }
        assert!(lines > 0);
    }

    #[test]
    fn et_timestamps_have_six_digit_microseconds() {
        let mut rec = vec![0x56, 0x29, 0x95, 0xee, 0, 17, 0, 5, 0, 0, 0, 28, 0, 0, 0, 42];
        rec.extend_from_slice(&[0, 0, 0xfd, 0xe8, 0, 0, 0xfd, 0xe9, 0, 0, 0, 1, 10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2]);
        let (mut out, mut diag) = (Vec::new(), Vec::new());
        print_dump(&rec[..], &mut out, &mut diag).expect("output");
        assert_eq!(String::from_utf8_lossy(&out), "BGP4MP_ET|1445565934.000042|STATE|10.0.0.1|65000|1|2\n");
        assert!(diag.is_empty());
    }
}
