//! Test support: a network namespace of the test's own, with `ip` run inside
//! it, removed when the guard drops (also when the test fails or panics).
//!
//! Kernel tests never touch the host's routing table: everything happens in
//! a `tern-fib-*` namespace. This kernel offers veth/bridge/vxlan links in a
//! namespace but no dummy/ipip, so a veth end named `tunl0` plays Calico's
//! IPIP device.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether this process may create namespaces and program routes.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// For kernel tests: `true` (after saying so on stderr) when the test cannot
/// run here and must pass as skipped.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIPPED {test}: needs root to create network namespaces (CI runs as root)");
    true
}

/// A network namespace that exists while this value lives.
#[derive(Debug)]
pub struct TestNamespace {
    name: String,
}

impl TestNamespace {
    /// Creates `tern-fib-<tag>-<unique>` with `lo` up.
    pub fn new(tag: &str) -> std::io::Result<Self> {
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u32(COUNTER.fetch_add(1, Ordering::Relaxed));
        let name = format!("tern-fib-{tag}-{:08x}", h.finish() as u32);
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = TestNamespace { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NS ARGS...`; stdout, or an error with stderr.
    pub fn ip(&self, args: &[&str]) -> std::io::Result<String> {
        run(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// `ip -n NS -batch -` fed with `commands` (one `ip` command a line).
    pub fn ip_batch(&self, commands: &str) -> std::io::Result<()> {
        let mut child = Command::new("ip")
            .args(["-n", &self.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(commands.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!("ip -batch: {}", String::from_utf8_lossy(&out.stderr))));
        }
        Ok(())
    }

    /// A veth pair `a`–`b` inside the namespace, both up, `addr` (CIDR) on `a`.
    pub fn veth(&self, a: &str, b: &str, addr: Option<&str>) -> std::io::Result<()> {
        self.ip(&["link", "add", a, "type", "veth", "peer", "name", b])?;
        if let Some(addr) = addr {
            self.ip(&["addr", "add", addr, "dev", a])?;
        }
        self.ip(&["link", "set", a, "up"])?;
        self.ip(&["link", "set", b, "up"])?;
        Ok(())
    }

    /// The lines of `ip -n NS ARGS...`, trimmed and sorted, for comparing
    /// route tables.
    pub fn lines(&self, args: &[&str]) -> std::io::Result<Vec<String>> {
        let out = self.ip(args)?;
        let mut lines: Vec<String> = out.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
        lines.sort();
        Ok(lines)
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Links and routes inside go with the namespace.
        if let Err(e) = run(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("warning: could not remove namespace {}: {e}", self.name);
        }
    }
}

fn run(cmd: &mut Command) -> std::io::Result<String> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!("{:?}: {}", cmd, String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `check` every 10 ms until it returns `Some`, for at most `limit`.
pub async fn poll_until<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
