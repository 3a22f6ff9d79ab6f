//! A client of BIRD's control-socket protocol (what tern-speaker serves on
//! `bird.ctl`/`bird6.ctl`): connect, read the `0001` greeting, send one
//! command per line, read numbered reply lines up to the final one.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one reply may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why the daemon could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no tern-speaker running at {path} ({reason})")]
    NotRunning { path: PathBuf, reason: &'static str },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a BIRD control-socket reply: {line:?}")]
    Protocol { path: PathBuf, line: String },
}

/// One line of a reply: its code and text (without the prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub code: u16,
    pub text: String,
}

/// A whole reply; `code` is the code of the final line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub lines: Vec<Line>,
    pub code: u16,
}

impl Reply {
    /// BIRD's error codes are 8000–9999.
    pub fn is_error(&self) -> bool {
        self.code >= 8000
    }

    /// The reply as `birdc` prints it: the text of every line, the empty
    /// final `0000` line left out.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            if l.code == 0 && l.text.is_empty() {
                continue;
            }
            s.push_str(&l.text);
            s.push('\n');
        }
        s
    }
}

pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path).map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning { path: path.to_path_buf(), reason: "connection refused" }
            }
            io::ErrorKind::NotFound => ClientError::NotRunning { path: path.to_path_buf(), reason: "no such socket" },
            io::ErrorKind::PermissionDenied => {
                ClientError::NotRunning { path: path.to_path_buf(), reason: "permission denied; run as root" }
            }
            _ => ClientError::Io { path: path.to_path_buf(), source: e },
        })?;
        let io_err = |e| ClientError::Io { path: path.to_path_buf(), source: e };
        stream.set_read_timeout(Some(TIMEOUT)).map_err(io_err)?;
        stream.set_write_timeout(Some(TIMEOUT)).map_err(io_err)?;
        let mut c = Client { path: path.to_path_buf(), reader: BufReader::new(stream) };
        // `0001 BIRD 1.6.8 ready.`
        let greeting = c.read_reply()?;
        if greeting.code != 1 {
            let line = greeting.lines.first().map(|l| l.text.clone()).unwrap_or_default();
            return Err(ClientError::Protocol { path: path.to_path_buf(), line });
        }
        Ok(c)
    }

    /// Sends `command` and reads its reply.
    pub fn command(&mut self, command: &str) -> Result<Reply, ClientError> {
        let line = format!("{command}\n");
        self.reader
            .get_mut()
            .write_all(line.as_bytes())
            .map_err(|e| ClientError::Io { path: self.path.clone(), source: e })?;
        self.read_reply()
    }

    fn read_reply(&mut self) -> Result<Reply, ClientError> {
        let mut lines: Vec<Line> = Vec::new();
        loop {
            let mut raw = String::new();
            let n =
                self.reader.read_line(&mut raw).map_err(|e| ClientError::Io { path: self.path.clone(), source: e })?;
            if n == 0 {
                return Err(ClientError::Io {
                    path: self.path.clone(),
                    source: io::Error::new(io::ErrorKind::UnexpectedEof, "the daemon closed the connection"),
                });
            }
            let raw = raw.trim_end_matches('\n');
            match parse_line(raw) {
                Some((code, last, text)) => {
                    lines.push(Line { code, text: text.to_string() });
                    if last {
                        return Ok(Reply { lines, code });
                    }
                }
                None => match (raw.strip_prefix(' '), lines.last()) {
                    (Some(text), Some(prev)) => {
                        let code = prev.code;
                        lines.push(Line { code, text: text.to_string() });
                    }
                    _ => return Err(ClientError::Protocol { path: self.path.clone(), line: raw.to_string() }),
                },
            }
        }
    }
}

/// `NNNN-text` → (code, false, text); `NNNN text` → (code, true, text).
fn parse_line(raw: &str) -> Option<(u16, bool, &str)> {
    let b = raw.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = raw[..4].parse().ok()?;
    match b[4] {
        b'-' => Some((code, false, &raw[5..])),
        b' ' => Some((code, true, &raw[5..])),
        _ => None,
    }
}

/// The IPv6 socket beside an IPv4 one: `bird.ctl` → `bird6.ctl`.
pub fn ipv6_socket(v4: &Path) -> Option<PathBuf> {
    let name = v4.file_name()?.to_str()?;
    let stem = name.strip_suffix(".ctl")?;
    Some(v4.with_file_name(format!("{stem}6.ctl")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn line_prefixes() {
        assert_eq!(parse_line("0001 BIRD 1.6.8 ready."), Some((1, true, "BIRD 1.6.8 ready.")));
        assert_eq!(parse_line("1002-Mesh_1 BGP"), Some((1002, false, "Mesh_1 BGP")));
        assert_eq!(parse_line("0000 "), Some((0, true, "")));
        assert_eq!(parse_line(" Mesh_2"), None);
        assert_eq!(parse_line("12"), None);
    }

    #[test]
    fn sibling_socket() {
        assert_eq!(
            ipv6_socket(Path::new("/var/run/calico/bird.ctl")).unwrap(),
            PathBuf::from("/var/run/calico/bird6.ctl")
        );
        assert_eq!(ipv6_socket(Path::new("/tmp/x")), None);
    }
}
