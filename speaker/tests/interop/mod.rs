//! Harness of the interop tests: real BIRD 2, BIRD 1.6, GoBGP and FRR
//! daemons on loopback, each in a guard that kills it and removes its
//! directory when dropped (also when the test fails, after printing the
//! daemon's log), and a tern [`Engine`](speaker::engine::Engine) on a
//! runtime of its own.
//!
//! Addresses: every test takes a distinct [`Net`] number `n` and uses
//! 127.77.n.x for IPv4 (tern is .1) and ports 20000 + 16·n + k, so that
//! nextest's parallel test processes never collide. IPv6 sessions run over
//! `::1`, told apart by those ports. No daemon listens on port 179.
//!
//! What the real daemons do that shapes these tests:
//! - BIRD 2 binds its BGP listener to 0.0.0.0 whatever `local` says, unless
//!   `strict bind yes`; BIRD 1.6.8 takes `listen bgp address A port P` and
//!   `neighbor X port P`, so it needs no port 179 either.
//! - GoBGP treats a loopback NEXT_HOP as invalid (treat-as-withdraw) and
//!   FRR resets the session over it (martian next hop): towards them tern
//!   keeps an explicit 192.0.2.n / 2001:db8:n:1::1 next hop.
//! - BIRD (2 and 1.6) will not announce a next hop equal to the
//!   neighbor's address: with both ends on `::1` it is given another one.
//! - GoBGP's `neighbor softresetin` re-applies policy to its kept
//!   Adj-RIB-In and sends no ROUTE-REFRESH; its JSON leaves out zero
//!   counters; gobgpd's pprof port (6060) collides across instances.
//! - FRR's bgpd without zebra considers every next hop valid.
#![allow(dead_code)]

pub mod bird;
pub mod frr;
pub mod gobgp;
pub mod peers;
pub mod scenario;
pub mod tern;

use std::fs::{self, File};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any state (a session, a route) may take to appear.
pub const WAIT: Duration = Duration::from_secs(30);

/// The addresses and ports of one test.
#[derive(Clone, Copy, Debug)]
pub struct Net {
    pub n: u8,
}

impl Net {
    pub fn new(n: u8) -> Net {
        assert!(n > 0 && n < 250, "test number out of range");
        Net { n }
    }

    /// 127.77.n.host: tern is host 1, the daemons 2, 3, ...
    pub fn v4(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, 77, self.n, host)
    }

    pub fn v6(&self) -> Ipv6Addr {
        Ipv6Addr::LOCALHOST
    }

    /// Port `k` (0..16) of this test.
    pub fn port(&self, k: u8) -> u16 {
        assert!(k < 16);
        20000 + 16 * u16::from(self.n) + u16::from(k)
    }
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        remove_orphans();
        let path = std::env::temp_dir().join(format!("tern-interop-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Removes the directories of test processes that were killed before
/// their guards ran (their daemons died with them: see [`Proc::spawn`]).
fn remove_orphans() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix("tern-interop-").and_then(|rest| rest.rsplit('-').next());
        if let Some(pid) = pid.filter(|p| p.parse::<u32>().is_ok()) {
            if !Path::new("/proc").join(pid).exists() {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A daemon process, killed (SIGKILL) and reaped when dropped. Its stdout
/// and stderr go to `output`; when the test is failing, the drop prints
/// that and the daemon's own log file.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    pub output: PathBuf,
    pub log: Option<PathBuf>,
}

impl Proc {
    /// Starts `cmd` under `setpriv --pdeathsig KILL`, so that the daemon
    /// dies with the test even when the test process is killed before its
    /// guards run (a nextest timeout).
    pub fn spawn(name: &str, cmd: &mut Command, output: PathBuf, log: Option<PathBuf>) -> Proc {
        let out = File::create(&output).expect("create output file");
        let err = out.try_clone().expect("clone output file");
        let mut wrapped = Command::new("setpriv");
        wrapped.args(["--pdeathsig", "KILL", "--"]).arg(cmd.get_program()).args(cmd.get_args());
        let child = wrapped
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({wrapped:?}): {e}"));
        Proc { name: name.to_string(), child: Some(child), output, log }
    }

    /// SIGKILL, as a crash would: no NOTIFICATION, no cleanup.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Output and log, for a failure message.
    pub fn logs(&self) -> String {
        let mut s = format!("---- {} output ({}) ----\n{}", self.name, self.output.display(), tail(&self.output));
        if let Some(log) = &self.log {
            s += &format!("---- {} log ({}) ----\n{}", self.name, log.display(), tail(log));
        }
        s
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

/// The last 150 lines of a file.
fn tail(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().collect();
    let from = lines.len().saturating_sub(150);
    lines[from..].join("\n") + "\n"
}

/// Runs a client command (birdc, gobgp, vtysh) with a bound: its stdout,
/// or `Err` with what went wrong. The output is read while the command
/// runs (a full pipe would otherwise stall it).
pub fn run(cmd: &mut Command) -> Result<String, String> {
    let what = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(out) => out.map_err(|e| format!("{what}: {e}"))?,
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            return Err(format!("{what} did not finish in 10 s"));
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{what}: {}: {stdout}{}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}

/// Polls `f` until it returns `Some`, at most [`WAIT`]; panics with `what`
/// and the last value seen otherwise.
pub fn wait_for<T, D: std::fmt::Debug>(what: &str, mut f: impl FnMut() -> Result<T, D>) -> T {
    wait_for_in(what, WAIT, &mut f)
}

pub fn wait_for_in<T, D: std::fmt::Debug>(what: &str, bound: Duration, mut f: impl FnMut() -> Result<T, D>) -> T {
    let deadline = Instant::now() + bound;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {bound:?} waiting for {what}; last seen: {last:#?}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// Checks that `f` keeps returning `Ok` for `period` (a session that must
/// stay down, a route that must stay).
pub fn holds_for<D: std::fmt::Debug>(what: &str, period: Duration, mut f: impl FnMut() -> Result<(), D>) {
    let end = Instant::now() + period;
    while Instant::now() < end {
        if let Err(e) = f() {
            panic!("{what} stopped holding: {e:#?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}
