//! A real etcd per test (free loopback ports, a temporary data dir, killed by its guard) and
//! Calico-shaped objects written with `etcdctl`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const RES: &str = "/calico/resources/v3/projectcalico.org";

/// A port nobody listens on now (the kernel's pick; the listener is closed at once).
pub fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("tern-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (and reaped) on drop; it also dies with the test process.
pub struct Proc {
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `program args` with stdout and stderr in `log`.
    pub fn spawn(program: &Path, args: &[String], log: PathBuf, envs: &[(&str, &str)]) -> Proc {
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new("setpriv");
        cmd.arg("--pdeathsig").arg("KILL").arg(program).args(args);
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn");
        Proc { child: Some(child), log }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits up to `limit` for `f`; whether it became true.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Test certificates made with `openssl`: a CA, etcd's server certificate (IP 127.0.0.1) and a
/// client certificate, all signed by the CA; and a second CA that signed nothing of these.
pub struct Pki {
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).stdin(Stdio::null()).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Pki {
    pub fn generate(dir: &Path) -> Pki {
        for ca in ["ca", "other-ca"] {
            openssl(
                dir,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.pem"),
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN=tern test {ca}"),
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            );
        }
        for (name, ext) in [
            ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE"),
            ("client", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE"),
        ] {
            std::fs::write(dir.join(format!("{name}.ext")), ext).expect("ext");
            openssl(
                dir,
                &[
                    "req",
                    "-new",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    &format!("/CN={name}"),
                ],
            );
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-out",
                    &format!("{name}.pem"),
                    "-extfile",
                    &format!("{name}.ext"),
                ],
            );
        }
        Pki {
            ca: dir.join("ca.pem"),
            other_ca: dir.join("other-ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        }
    }
}

/// One etcd member on 127.0.0.1 with its own ports and data dir.
pub struct Etcd {
    pub url: String,
    name: String,
    peer_url: String,
    /// `--initial-cluster`: every member's name and peer URL.
    initial_cluster: String,
    dir: TempDir,
    proc: Option<Proc>,
    /// TLS with client certificates: the server's flags and etcdctl's.
    tls: Option<(Vec<String>, Vec<String>)>,
    /// Set: etcd and etcdctl run inside this network namespace (`ip netns exec`).
    netns: Option<String>,
}

impl Etcd {
    pub fn start(tag: &str) -> Etcd {
        Self::start_with(tag, None)
    }

    /// An etcd that speaks TLS only and requires a client certificate signed by `pki.ca`.
    pub fn start_tls(tag: &str, pki: &Pki) -> Etcd {
        let s = |p: &PathBuf| p.to_string_lossy().into_owned();
        let server = vec![
            "--cert-file".into(),
            s(&pki.server_cert),
            "--key-file".into(),
            s(&pki.server_key),
            "--trusted-ca-file".into(),
            s(&pki.ca),
            "--client-cert-auth".into(),
        ];
        let ctl = vec![
            "--cacert".into(),
            s(&pki.ca),
            "--cert".into(),
            s(&pki.client_cert),
            "--key".into(),
            s(&pki.client_key),
        ];
        Self::start_with(tag, Some((server, ctl)))
    }

    fn start_with(tag: &str, tls: Option<(Vec<String>, Vec<String>)>) -> Etcd {
        let client = free_port("127.0.0.1");
        let peer = free_port("127.0.0.1");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut etcd = Etcd {
            url: format!("{scheme}://127.0.0.1:{client}"),
            name: "t".into(),
            initial_cluster: format!("t={peer_url}"),
            peer_url,
            dir: TempDir::new(&format!("etcd-{tag}")),
            proc: None,
            tls,
            netns: None,
        };
        etcd.run();
        etcd
    }

    /// One member (plain HTTP) inside network namespace `netns`, serving clients on `ip:2379`
    /// (an address of that namespace) and its peer port on the namespace's own loopback; etcdctl
    /// runs there too.
    pub fn start_in_netns(tag: &str, netns: &str, ip: &str) -> Etcd {
        let peer_url = "http://127.0.0.1:2380".to_string();
        let mut etcd = Etcd {
            url: format!("http://{ip}:2379"),
            name: "t".into(),
            initial_cluster: format!("t={peer_url}"),
            peer_url,
            dir: TempDir::new(&format!("etcd-{tag}")),
            proc: None,
            tls: None,
            netns: Some(netns.to_string()),
        };
        etcd.run();
        etcd
    }

    /// A cluster of `n` members (plain HTTP), all healthy.
    pub fn cluster(tag: &str, n: usize) -> Vec<Etcd> {
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port("127.0.0.1"), free_port("127.0.0.1"))).collect();
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("m{i}=http://127.0.0.1:{}", p.1))
            .collect::<Vec<_>>()
            .join(",");
        let mut members: Vec<Etcd> = ports
            .iter()
            .enumerate()
            .map(|(i, (client, peer))| Etcd {
                url: format!("http://127.0.0.1:{client}"),
                name: format!("m{i}"),
                peer_url: format!("http://127.0.0.1:{peer}"),
                initial_cluster: initial_cluster.clone(),
                dir: TempDir::new(&format!("etcd-{tag}-m{i}")),
                proc: None,
                tls: None,
                netns: None,
            })
            .collect();
        // A member is healthy only once a quorum runs: start them all, then wait.
        for m in &mut members {
            m.spawn();
        }
        for m in &members {
            m.wait_healthy();
        }
        members
    }

    /// (Re)starts the member on the same ports and data.
    pub fn run(&mut self) {
        self.spawn();
        self.wait_healthy();
    }

    fn wait_healthy(&self) {
        let ready = wait_for(Duration::from_secs(20), || self.ctl(&["endpoint", "health"]).is_ok());
        assert!(ready, "etcd did not start: {}", self.proc.as_ref().map(|p| p.log_text()).unwrap_or_default());
    }

    fn spawn(&mut self) {
        let data = self.dir.path().join("data");
        let args: Vec<String> = [
            "--name",
            &self.name,
            "--data-dir",
            &data.to_string_lossy(),
            "--listen-client-urls",
            &self.url,
            "--advertise-client-urls",
            &self.url,
            "--listen-peer-urls",
            &self.peer_url,
            "--initial-advertise-peer-urls",
            &self.peer_url,
            "--initial-cluster",
            &self.initial_cluster,
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(self.tls.iter().flat_map(|t| t.0.clone()))
        .collect();
        let n = std::fs::read_dir(self.dir.path()).map(|d| d.count()).unwrap_or(0);
        let log = self.dir.path().join(format!("etcd-{n}.log"));
        self.proc = Some(match &self.netns {
            Some(ns) => {
                let args: Vec<String> =
                    ["netns", "exec", ns, "etcd"].iter().map(|s| s.to_string()).chain(args).collect();
                Proc::spawn(Path::new("ip"), &args, log, &[])
            }
            None => Proc::spawn(Path::new("etcd"), &args, log, &[]),
        });
    }

    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// `etcdctl ARGS` against this member: its stdout, or its stderr as the error.
    pub fn ctl(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "etcdctl"]);
                c
            }
            None => Command::new("etcdctl"),
        };
        let out = cmd
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.url, "--dial-timeout", "2s", "--command-timeout", "5s"])
            .args(self.tls.iter().flat_map(|t| t.1.clone()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// `etcdctl ARGS`, retried for a while (a cluster may be electing a leader).
    fn ctl_retried(&self, args: &[&str]) {
        let mut last = String::new();
        let done = wait_for(Duration::from_secs(20), || match self.ctl(args) {
            Ok(_) => true,
            Err(e) => {
                last = e;
                false
            }
        });
        assert!(done, "etcdctl {args:?}: {last}");
    }

    /// Writes many keys with `etcdctl txn`, 100 puts per transaction (etcd's default limit is
    /// 128 operations), instead of one etcdctl process and one commit per key.
    pub fn put_many(&self, kvs: &[(String, String)]) {
        // etcdctl reads a value as a Go-quoted string.
        let quote = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        for batch in kvs.chunks(100) {
            // Compares, a blank line, the puts, a blank line, no failure operations, a blank line.
            let mut txn = String::from("\n");
            for (k, v) in batch {
                txn.push_str(&format!("put {k} {}\n", quote(v)));
            }
            txn.push_str("\n\n");
            let mut cmd = Command::new("etcdctl");
            cmd.env("ETCDCTL_API", "3")
                .args(["--endpoints", &self.url, "--dial-timeout", "2s", "--command-timeout", "20s", "txn"])
                .args(self.tls.iter().flat_map(|t| t.1.clone()))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("etcdctl txn");
            {
                use std::io::Write as _;
                let mut stdin = child.stdin.take().expect("stdin");
                stdin.write_all(txn.as_bytes()).expect("write txn");
            }
            let out = child.wait_with_output().expect("etcdctl txn");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.starts_with("SUCCESS"),
                "etcdctl txn: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    pub fn put(&self, key: &str, value: &str) {
        self.ctl_retried(&["put", key, value]);
    }

    pub fn del(&self, key: &str) {
        self.ctl_retried(&["del", key]);
    }

    /// The store's current revision.
    pub fn revision(&self) -> i64 {
        let out = self.ctl(&["endpoint", "status", "-w", "json"]).expect("status");
        let v: serde_json::Value = serde_json::from_str(&out).expect("status json");
        v[0]["Status"]["header"]["revision"].as_i64().expect("revision")
    }

    /// Compacts the history up to the current revision.
    pub fn compact(&self) -> i64 {
        let rev = self.revision();
        self.ctl(&["compact", &rev.to_string(), "--physical"]).expect("compact");
        rev
    }

    pub fn node(&self, name: &str, ipv4: &str, extra_bgp: &str, labels: &str) {
        self.put(
            &format!("{RES}/nodes/{name}"),
            &format!(
                r#"{{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}","labels":{{{labels}}}}},"spec":{{"bgp":{{"ipv4Address":"{ipv4}"{extra_bgp}}}}}}}"#
            ),
        );
    }

    pub fn bgp_configuration(&self, name: &str, spec: &str) {
        self.put(
            &format!("{RES}/bgpconfigurations/{name}"),
            &format!(
                r#"{{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}"}},"spec":{spec}}}"#
            ),
        );
    }

    pub fn bgp_peer(&self, name: &str, spec: &str) {
        self.put(
            &format!("{RES}/bgppeers/{name}"),
            &format!(r#"{{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}"}},"spec":{spec}}}"#),
        );
    }
}

/// One command on a BIRD-protocol control socket (`tern_speaker::cluster`).
pub fn ask(socket: &Path, command: &str) -> std::io::Result<Vec<String>> {
    tern_speaker::cluster::control_command(socket, command)
}

/// `show protocols` BGP rows as (name, state, since, info).
pub fn protocols(socket: &Path) -> Vec<(String, String, String, String)> {
    tern_speaker::cluster::bgp_protocols(socket).into_iter().map(|p| (p.name, p.state, p.since, p.info)).collect()
}

/// The `since` of an Established peer.
pub fn established(socket: &Path, name: &str) -> Option<String> {
    tern_speaker::cluster::established_since(socket, name)
}

/// A `tern-speaker`/`tern-reflector` in datastore mode with its control socket.
pub struct Daemon {
    pub proc: Proc,
    pub socket: PathBuf,
}

/// Starts `bin --datastore etcd --node NODE` with kernel programming off, its control socket in
/// `dir` and its HTTP endpoint on a free port of `ip`; `extra` arguments and `envs` added.
pub fn start_daemon(
    bin: &str,
    etcd: &Etcd,
    dir: &Path,
    node: &str,
    ip: &str,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> Daemon {
    let socket = dir.join(format!("{node}.ctl"));
    let config = dir.join(format!("{node}.toml"));
    let settings = format!(
        "[kernel]\nprogram = false\nlearn = false\n\n[control]\nsocket = \"{}\"\nsocket6 = \"{}\"\nhttp_listen = \"{ip}:{}\"\n\n[log]\nlevel = \"info\"\n",
        socket.display(),
        dir.join(format!("{node}6.ctl")).display(),
        free_port(ip),
    );
    std::fs::write(&config, settings).expect("settings");
    let args: Vec<String> = ["--datastore", "etcd", "--etcd-endpoints", &etcd.url, "--node", node, "--config"]
        .iter()
        .map(|s| s.to_string())
        .chain([config.to_string_lossy().into_owned()])
        .chain(extra.iter().map(|s| s.to_string()))
        .collect();
    let mut all_envs = vec![("TERN_LOG", "info")];
    all_envs.extend_from_slice(envs);
    let proc = Proc::spawn(Path::new(bin), &args, dir.join(format!("{node}.log")), &all_envs);
    Daemon { proc, socket }
}

/// `show route` on a control socket, one string.
pub fn routes(socket: &Path) -> String {
    ask(socket, "show route").map(|l| l.join("\n")).unwrap_or_default()
}
