//! BIRD's control socket: a unix stream socket, a `0001` greeting, then
//! one command per line, each answered with numbered reply lines
//! ([`bird_format`](super::bird_format)). calicoctl, calico-node's health checks and `birdcl`
//! talk to it unchanged.
//!
//! BIRD 1.6 runs one daemon per address family; calico-node asks
//! `bird.ctl` about IPv4 and `bird6.ctl` about IPv6, so each socket serves
//! the peers and routes of one family.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bgp_proto::{Afi, Family};
use ipnet::IpNet;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn};

use super::bird_format::{self as fmt, RouteOrigin};
use crate::status::{PeerStatus, RouteFilter, StatusSource};

/// BIRD's default graceful-restart wait (`graceful restart wait`), shown as
/// `Wait timer is N/240` during recovery.
pub const DEFAULT_GR_WAIT: Duration = Duration::from_secs(240);

/// Longest command line accepted (BIRD's `CLI_MAX_CMD` is smaller).
const MAX_COMMAND: usize = 4096;

/// Clients served at once; more wait for a slot.
const MAX_CLIENTS: usize = 64;

/// One parsed control-socket command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    ShowProtocols {
        all: bool,
        name: Option<String>,
    },
    ShowStatus,
    ShowRoute(RouteQuery),
    ShowMemory,
    /// BIRD's `configure`, or tern's `reload`.
    Reload,
    /// Empty line: no reply.
    Nothing,
}

/// `show route [all] [for ADDR|PREFIX] [PREFIX] [protocol NAME] [count]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteQuery {
    pub all: bool,
    pub prefix: Option<IpNet>,
    /// `for`: the most specific route containing the address or prefix.
    pub longest_match: bool,
    pub protocol: Option<String>,
    pub count: bool,
}

/// Why a command line was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    Syntax,
}

/// BIRD's second-level `show` keywords, so that an abbreviation is only
/// accepted when BIRD would find it unique too.
const SHOW_WORDS: &[&str] = &[
    "status",
    "memory",
    "protocols",
    "interfaces",
    "ospf",
    "static",
    "route",
    "roa",
    "symbols",
    "rip",
    "babel",
    "bfd",
];

/// Matches `word` against `keywords` by unique prefix, as BIRD's CLI does.
fn keyword<'k>(word: &str, keywords: &[&'k str]) -> Option<&'k str> {
    let word = word.to_ascii_lowercase();
    if let Some(k) = keywords.iter().find(|k| **k == word) {
        return Some(k);
    }
    let mut found = keywords.iter().filter(|k| k.starts_with(&word));
    match (found.next(), found.next()) {
        (Some(k), None) => Some(k),
        _ => None,
    }
}

/// Splits a command line into words; `"quoted words"` stay one word.
fn words(line: &str) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut w = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => w.push(c),
                    None => return Err(ParseError::Syntax),
                }
            }
            out.push(w);
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(w);
        }
    }
    Ok(out)
}

/// Parses one command line.
pub fn parse(line: &str) -> Result<Command, ParseError> {
    let w = words(line)?;
    let Some(first) = w.first() else { return Ok(Command::Nothing) };
    match keyword(first, &["show", "configure", "reload", "restart", "enable", "disable", "dump", "debug", "down"]) {
        Some("show") => parse_show(&w[1..]),
        // `configure [soft]`: tern re-reads its own file (BIRD's `configure
        // check|confirm|undo|timeout` have no counterpart).
        Some("configure") if w.len() == 1 || (w.len() == 2 && keyword(&w[1], &["soft"]).is_some()) => {
            Ok(Command::Reload)
        }
        Some("reload") if w.len() == 1 => Ok(Command::Reload),
        _ => Err(ParseError::Syntax),
    }
}

fn parse_show(w: &[String]) -> Result<Command, ParseError> {
    let Some(what) = w.first() else { return Err(ParseError::Syntax) };
    let rest = &w[1..];
    match keyword(what, SHOW_WORDS) {
        Some("status") if rest.is_empty() => Ok(Command::ShowStatus),
        Some("memory") if rest.is_empty() => Ok(Command::ShowMemory),
        Some("protocols") => {
            let mut all = false;
            let mut name = None;
            for word in rest {
                if !all && name.is_none() && keyword(word, &["all"]).is_some() {
                    all = true;
                } else if name.is_none() {
                    name = Some(word.clone());
                } else {
                    return Err(ParseError::Syntax);
                }
            }
            Ok(Command::ShowProtocols { all, name })
        }
        Some("route") => parse_route(rest).map(Command::ShowRoute),
        _ => Err(ParseError::Syntax),
    }
}

fn parse_route(w: &[String]) -> Result<RouteQuery, ParseError> {
    let mut q = RouteQuery::default();
    let mut i = 0;
    while i < w.len() {
        let word = &w[i];
        if let Some(net) = parse_net(word) {
            if q.prefix.is_some() {
                return Err(ParseError::Syntax);
            }
            q.prefix = Some(net);
        } else {
            match keyword(word, &["all", "for", "protocol", "count", "primary", "stats"]) {
                Some("all") => q.all = true,
                Some("count") | Some("stats") => q.count = true,
                Some("primary") => {}
                Some("for") => {
                    i += 1;
                    let net = w.get(i).and_then(|x| parse_net(x)).ok_or(ParseError::Syntax)?;
                    if q.prefix.is_some() {
                        return Err(ParseError::Syntax);
                    }
                    q.prefix = Some(net);
                    q.longest_match = true;
                }
                Some("protocol") => {
                    i += 1;
                    q.protocol = Some(w.get(i).ok_or(ParseError::Syntax)?.clone());
                }
                _ => return Err(ParseError::Syntax),
            }
        }
        i += 1;
    }
    Ok(q)
}

/// A prefix, or an address as a host prefix.
fn parse_net(s: &str) -> Option<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n);
    }
    s.parse::<std::net::IpAddr>().ok().map(IpNet::from)
}

/// A bound control socket, ready to [`serve`](Self::serve).
#[derive(Debug)]
pub struct BirdSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl BirdSocket {
    /// Binds `path`, replacing a stale socket file that nobody answers on.
    /// Refuses when another daemon still answers there.
    pub async fn bind(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                tokio::fs::create_dir_all(parent).await?;
            }
        }
        if tokio::fs::symlink_metadata(path).await.is_ok() {
            if UnixStream::connect(path).await.is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{}: another daemon answers on this socket", path.display()),
                ));
            }
            tokio::fs::remove_file(path).await?;
        }
        let listener = UnixListener::bind(path)?;
        Ok(BirdSocket { listener, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves clients until `shutdown` turns true (or its sender is
    /// dropped), then removes the socket file.
    pub async fn serve(self, source: Arc<dyn StatusSource>, family: Option<Afi>, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
        info!(socket = %self.path.display(), "control socket listening");
        loop {
            tokio::select! {
                r = self.listener.accept() => match r {
                    Ok((stream, _)) => {
                        // Wait for a free slot, but not past shutdown.
                        let slot = tokio::select! {
                            s = slots.clone().acquire_owned() => s,
                            _ = shutdown.changed() => break,
                        };
                        let Ok(slot) = slot else { break };
                        let source = source.clone();
                        let stop = shutdown.clone();
                        tokio::spawn(async move {
                            if let Err(e) = client(stream, source, family, stop).await {
                                debug!("control socket client: {e}");
                            }
                            drop(slot);
                        });
                    }
                    Err(e) => {
                        warn!(socket = %self.path.display(), "control socket accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { break },
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds `path` and serves BIRD's control protocol for `family` (`None`:
/// both families) until `shutdown`.
pub async fn serve_bird_socket(
    path: &Path,
    source: Arc<dyn StatusSource>,
    family: Option<Afi>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let socket = BirdSocket::bind(path).await?;
    socket.serve(source, family, shutdown).await;
    Ok(())
}

async fn client(
    stream: UnixStream,
    source: Arc<dyn StatusSource>,
    family: Option<Afi>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(fmt::greeting(&source.daemon()).as_bytes()).await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut limited = (&mut read).take(MAX_COMMAND as u64 + 1);
        let n = tokio::select! {
            r = limited.read_until(b'\n', &mut line) => r?,
            _ = shutdown.changed() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        let reply = if line.len() > MAX_COMMAND && line.last() != Some(&b'\n') {
            // Skip the rest of the oversized line.
            let mut sink = Vec::new();
            read.read_until(b'\n', &mut sink).await?;
            fmt::Reply::new().end(fmt::code::COMMAND_TOO_LONG, "Command too long")
        } else {
            let text = String::from_utf8_lossy(&line);
            debug!(command = %text.trim(), "control socket command");
            match parse(&text) {
                Ok(Command::Nothing) => continue,
                Ok(cmd) => answer(&*source, family, cmd).await,
                Err(ParseError::Syntax) => fmt::syntax_error(),
            }
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

fn family_of(afi: Afi) -> Family {
    Family::new(afi, bgp_proto::Safi::UNICAST)
}

async fn family_peers(source: &dyn StatusSource, family: Option<Afi>) -> Vec<PeerStatus> {
    let mut peers = source.peers().await;
    peers.retain(|p| fmt::address_in_family(p.address, family));
    peers
}

/// The reply to one command.
pub async fn answer(source: &dyn StatusSource, family: Option<Afi>, cmd: Command) -> String {
    let now = SystemTime::now();
    match cmd {
        Command::Nothing => String::new(),
        Command::ShowStatus => {
            let stats = source.stats().await;
            let peers = family_peers(source, family).await;
            fmt::show_status(&source.daemon(), &stats, &peers, DEFAULT_GR_WAIT, now)
        }
        Command::ShowProtocols { all, name } => {
            let mut peers = family_peers(source, family).await;
            if let Some(name) = &name {
                peers.retain(|p| &p.name == name);
                if peers.is_empty() {
                    return fmt::no_such_protocol(name);
                }
            }
            if all {
                let mut preferred = Vec::with_capacity(peers.len());
                for p in &peers {
                    let filter = RouteFilter { peer: Some(p.name.clone()), ..RouteFilter::default() };
                    preferred.push(source.routes(filter).await.iter().filter(|r| r.best).count());
                }
                let blocks: Vec<(&PeerStatus, usize)> = peers.iter().zip(preferred).collect();
                fmt::show_protocols_all(&blocks, now)
            } else {
                fmt::show_protocols(&peers, now)
            }
        }
        Command::ShowRoute(q) => show_route(source, family, q, now).await,
        Command::ShowMemory => {
            let stats = source.stats().await;
            let routes = source.routes(RouteFilter::default()).await.len();
            let peers = source.peers().await.len();
            fmt::show_memory(routes, &stats, peers)
        }
        Command::Reload => fmt::reload_reply(&source.reload().await),
    }
}

async fn show_route(source: &dyn StatusSource, family: Option<Afi>, q: RouteQuery, now: SystemTime) -> String {
    if let (Some(p), Some(f)) = (q.prefix, family) {
        let afi = if p.addr().is_ipv4() { Afi::IPV4 } else { Afi::IPV6 };
        if afi != f {
            return fmt::syntax_error();
        }
    }
    let filter = RouteFilter {
        family: family.map(family_of),
        prefix: q.prefix,
        longest_match: q.longest_match,
        peer: q.protocol.clone(),
    };
    let mut routes = source.routes(filter).await;
    routes.retain(|r| fmt::address_in_family(r.prefix.prefix.addr(), family));
    if q.prefix.is_some() && routes.is_empty() {
        return fmt::not_in_table();
    }
    if q.count {
        let mut nets: Vec<IpNet> = routes.iter().map(|r| r.prefix.prefix).collect();
        nets.dedup();
        let n = routes.len();
        return fmt::Reply::new().end(14, &format!("{n} of {n} routes for {} networks", nets.len()));
    }
    let peers = source.peers().await;
    let started = source.daemon().started;
    let origins: Vec<RouteOrigin<'_>> = routes
        .iter()
        .map(|r| match &r.from {
            Some(name) => RouteOrigin {
                protocol: name,
                since: peers.iter().find(|p| &p.name == name).map(|p| p.since).unwrap_or(started),
            },
            None => RouteOrigin { protocol: "static1", since: started },
        })
        .collect();
    fmt::show_route(&routes, &origins, q.all, now)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_abbreviations() {
        assert_eq!(parse("show protocols\n"), Ok(Command::ShowProtocols { all: false, name: None }));
        assert_eq!(parse("show proto"), Ok(Command::ShowProtocols { all: false, name: None }));
        assert_eq!(
            parse("sh p all Mesh_10_0_0_2"),
            Ok(Command::ShowProtocols { all: true, name: Some("Mesh_10_0_0_2".into()) })
        );
        assert_eq!(parse("show status"), Ok(Command::ShowStatus));
        assert_eq!(parse("show mem"), Ok(Command::ShowMemory));
        assert_eq!(parse("configure"), Ok(Command::Reload));
        assert_eq!(parse("configure soft"), Ok(Command::Reload));
        assert_eq!(parse("reload"), Ok(Command::Reload));
        assert_eq!(parse(""), Ok(Command::Nothing));
        assert_eq!(
            parse("show route all for 10.65.3.1"),
            Ok(Command::ShowRoute(RouteQuery {
                all: true,
                prefix: Some("10.65.3.1/32".parse().unwrap()),
                longest_match: true,
                ..RouteQuery::default()
            }))
        );
        assert_eq!(
            parse("show route 10.65.2.0/26 protocol Mesh_10_99_0_2"),
            Ok(Command::ShowRoute(RouteQuery {
                prefix: Some("10.65.2.0/26".parse().unwrap()),
                protocol: Some("Mesh_10_99_0_2".into()),
                ..RouteQuery::default()
            }))
        );
    }

    #[test]
    fn refused_commands() {
        for bad in [
            "bogus command",
            "configure check",
            "configure x y",
            "show s",
            "show stat",
            "show",
            "show status now",
            "show route for",
            "show route for x",
            "\"x",
        ] {
            assert_eq!(parse(bad), Err(ParseError::Syntax), "{bad}");
        }
    }
}
