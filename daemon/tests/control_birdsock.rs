//! The control socket over a real unix socket, driven the way Calico's
//! tools drive BIRD's: calicoctl's `show protocols` scan, calico-node's
//! `-bird-ready` (`show protocols` + `show status`) and `-bird-live`
//! (`birdcl -s SOCK show status`, from the bird2 package).

#![allow(clippy::unwrap_used)]

mod control_fixture;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bgp_proto::Afi;
use control_fixture::*;
use speaker::fsm::State;
use tern_speaker::control::plain::PlainStatus;
use tern_speaker::control::BirdSocket;
use tern_speaker::status::StatusSource;
use tokio::sync::watch;

/// A served socket; dropping it stops the server and removes the directory.
struct Served {
    _dir: TempDir,
    path: std::path::PathBuf,
    stop: watch::Sender<bool>,
    _rt: tokio::runtime::Runtime,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn serve(tag: &str, source: Arc<dyn StatusSource>, family: Option<Afi>) -> Served {
    let dir = TempDir::new(tag);
    let path = dir.path("bird.ctl");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let socket = rt.block_on(BirdSocket::bind(&path)).unwrap();
    rt.spawn(socket.serve(source, family, stop_rx));
    Served { _dir: dir, path, stop, _rt: rt }
}

fn connect(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads one reply: lines up to and including the first line whose code is
/// followed by a space (`0000 `, `0013 `, `9001 `...).
fn read_reply(r: &mut BufReader<UnixStream>) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "connection closed after {lines:?}");
        let line = line.trim_end_matches('\n').to_string();
        let last = line.len() >= 5 && line.as_bytes()[..4].iter().all(u8::is_ascii_digit) && line.as_bytes()[4] == b' ';
        lines.push(line);
        if last {
            return lines;
        }
    }
}

/// calicoctl's `scanBIRDPeers`: the row fields it keeps.
#[derive(Debug, PartialEq)]
struct CalicoPeer {
    address: String,
    kind: String,
    state: String,
    bgp_state: String,
    info: String,
}

fn calicoctl_scan(lines: &[String], ip_sep: &str) -> Result<Vec<CalicoPeer>, String> {
    let mut peers = Vec::new();
    for line in lines {
        let row = if line.starts_with("0000") {
            break;
        } else if line.starts_with("0001") {
            continue;
        } else if let Some(h) = line.strip_prefix("2002") {
            let words: Vec<&str> = h[1..].split_whitespace().collect();
            if words != ["name", "proto", "table", "state", "since", "info"] {
                return Err("unknown BIRD table output format".into());
            }
            continue;
        } else if line.starts_with("1002") {
            &line[5..]
        } else if let Some(rest) = line.strip_prefix(' ') {
            rest
        } else {
            return Err(format!("unexpected output line from BIRD: {line:?}"));
        };
        let cols: Vec<&str> = row.split_whitespace().collect();
        if cols.len() < 6 || cols[1] != "BGP" {
            continue;
        }
        let Some((kind, ip)) = cols[0].split_once('_') else { continue };
        let kind = match kind {
            "Global" => "global",
            "Mesh" => "node-to-node mesh",
            "Node" => "node specific",
            _ => continue,
        };
        peers.push(CalicoPeer {
            address: ip.replace('_', ip_sep),
            kind: kind.to_string(),
            state: cols[3].to_string(),
            bgp_state: cols[5].to_string(),
            info: cols[6..].join(" "),
        });
    }
    Ok(peers)
}

#[test]
fn calicoctl_node_status_reads_the_peers() {
    let served = serve("calicoctl", Arc::new(node1()), Some(Afi::IPV4));
    let mut s = connect(&served.path);
    // calicoctl writes the command right after connecting and scans
    // greeting and reply as one stream.
    s.write_all(b"show protocols\n").unwrap();
    let mut r = BufReader::new(s);
    let mut lines = read_reply(&mut r);
    assert_eq!(lines[0], "0001 BIRD 1.6.8 ready.");
    lines.extend(read_reply(&mut r));
    assert_eq!(lines[1], "2002-name     proto    table    state  since       info");
    let peers = calicoctl_scan(&lines, ".").unwrap();
    let expect = |a: &str, st: &str, bgp: &str, info: &str| CalicoPeer {
        address: a.into(),
        kind: "node-to-node mesh".into(),
        state: st.into(),
        bgp_state: bgp.into(),
        info: info.into(),
    };
    assert_eq!(
        peers,
        vec![
            expect("10.99.0.2", "up", "Established", ""),
            expect("10.99.0.3", "up", "Established", ""),
            expect("10.99.0.4", "start", "Connect", "Socket: No route to host"),
        ]
    );
}

#[test]
fn ipv6_socket_serves_ipv6_peers_with_calicos_names() {
    let mut source = node1();
    let mut v6 = peer("Node_fd80_24e2_f998_72d7__2", "fd80:24e2:f998:72d7::2", State::Active, at(-3));
    v6.passive = true;
    source.peers.push(v6);
    let source: Arc<dyn StatusSource> = Arc::new(source);
    let served6 = serve("v6", source.clone(), Some(Afi::IPV6));
    let mut r = BufReader::new(connect(&served6.path));
    read_reply(&mut r);
    r.get_mut().write_all(b"show protocols\n").unwrap();
    let peers = calicoctl_scan(&read_reply(&mut r), ":").unwrap();
    assert_eq!(
        peers,
        vec![CalicoPeer {
            address: "fd80:24e2:f998:72d7::2".into(),
            kind: "node specific".into(),
            state: "start".into(),
            bgp_state: "Passive".into(),
            info: "".into(),
        }]
    );
    // The IPv4 socket of the same daemon does not show it.
    let served4 = serve("v4", source, Some(Afi::IPV4));
    let mut r = BufReader::new(connect(&served4.path));
    read_reply(&mut r);
    r.get_mut().write_all(b"show protocols\n").unwrap();
    assert_eq!(calicoctl_scan(&read_reply(&mut r), ".").unwrap().len(), 3);
}

/// calico-node `-bird-ready`: every peer Established (within the startup
/// threshold) and no graceful-restart recovery (`0024`) in `show status`.
fn bird_ready(path: &Path) -> Result<(), String> {
    let mut r = BufReader::new(connect(path));
    read_reply(&mut r);
    r.get_mut().write_all(b"show protocols\n").unwrap();
    let peers = calicoctl_scan(&read_reply(&mut r), ".")?;
    let down: Vec<&str> = peers.iter().filter(|p| p.bgp_state != "Established").map(|p| p.address.as_str()).collect();
    if !down.is_empty() {
        return Err(format!("BGP not established with {}", down.join(",")));
    }
    r.get_mut().write_all(b"show status\n").unwrap();
    // calico-node's `GRInProgress` scan: any other line is an error.
    for line in read_reply(&mut r) {
        match line.get(..4) {
            Some("0013") => break,
            Some("0024") => return Err("graceful restart in progress".into()),
            Some("0001") | Some("1000") | Some("1011") => {}
            _ if line.starts_with(' ') => {}
            _ => return Err(format!("unexpected output line from BIRD: '{line}'")),
        }
    }
    Ok(())
}

#[test]
fn bird_ready_follows_peers_and_recovery() {
    let not_ready = serve("ready1", Arc::new(node1()), Some(Afi::IPV4));
    assert_eq!(bird_ready(&not_ready.path), Err("BGP not established with 10.99.0.4".to_string()));

    let mut all_up = node1();
    all_up.peers.truncate(2);
    all_up.stats.deferring = true;
    let recovering = serve("ready2", Arc::new(all_up), Some(Afi::IPV4));
    assert_eq!(bird_ready(&recovering.path), Err("graceful restart in progress".to_string()));

    let mut all_up = node1();
    all_up.peers.truncate(2);
    let ready = serve("ready3", Arc::new(all_up), Some(Afi::IPV4));
    assert_eq!(bird_ready(&ready.path), Ok(()));
}

#[test]
fn birdcl_show_status_starts_with_bird() {
    let served = serve("birdcl", Arc::new(node1()), Some(Afi::IPV4));
    let out = Command::new("birdcl").arg("-s").arg(&served.path).args(["show", "status"]).output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("birdcl (Debian package bird2) is needed: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "birdcl failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("BIRD"), "{stdout}");
    assert!(stdout.contains("Router ID is 10.99.0.1"), "{stdout}");
    assert!(stdout.contains("Daemon is up and running"), "{stdout}");

    let out = Command::new("birdcl").arg("-s").arg(&served.path).args(["show", "protocols"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Mesh_10_99_0_4 BGP      master   start"), "{stdout}");
}

#[test]
fn several_commands_on_one_connection_and_concurrent_clients() {
    let served = serve("multi", Arc::new(node1()), Some(Afi::IPV4));
    let mut held = BufReader::new(connect(&served.path));
    read_reply(&mut held);
    for _ in 0..3 {
        // A second client is served while the first stays connected.
        let mut other = BufReader::new(connect(&served.path));
        read_reply(&mut other);
        other.get_mut().write_all(b"show status\n").unwrap();
        assert_eq!(read_reply(&mut other).last().unwrap(), "0013 Daemon is up and running");

        held.get_mut().write_all(b"show proto all Mesh_10_99_0_2\nbogus command\nshow route for 10.65.3.1\n").unwrap();
        let all = read_reply(&mut held);
        assert!(all.contains(&"1006-  Description:    Connection to BGP peer".to_string()), "{all:?}");
        assert_eq!(read_reply(&mut held), vec!["9001 syntax error"]);
        let route = read_reply(&mut held);
        assert_eq!(route.len(), 2);
        assert!(route[0].starts_with("1007-10.65.3.0/26       via 10.99.0.3 [Mesh_10_99_0_3 "), "{route:?}");
    }
}

#[test]
fn errors_are_birds() {
    let served = serve("errors", Arc::new(node1()), Some(Afi::IPV4));
    let mut r = BufReader::new(connect(&served.path));
    read_reply(&mut r);
    let mut ask = |cmd: &str| {
        r.get_mut().write_all(format!("{cmd}\n").as_bytes()).unwrap();
        read_reply(&mut r)
    };
    assert_eq!(ask("show protocols all Mesh_10_99_0_9"), vec!["9002 Mesh_10_99_0_9 is not a protocol"]);
    assert_eq!(ask("show route for 192.0.2.1"), vec!["8001 Network not in table"]);
    assert_eq!(ask("show route for 2001:db8::1"), vec!["9001 syntax error"]);
    let long = "x".repeat(10_000);
    assert_eq!(ask(&long), vec!["9000 Command too long"]);
    // The connection still works after the refusals.
    assert_eq!(ask("show status").last().unwrap(), "0013 Daemon is up and running");
}

#[test]
fn configure_and_reload_call_the_daemon() {
    let mut source = node1();
    source.reload = Ok("2 peers unchanged, 1 added".into());
    let source = Arc::new(source);
    let served = serve("reload", source.clone(), Some(Afi::IPV4));
    let mut r = BufReader::new(connect(&served.path));
    read_reply(&mut r);
    r.get_mut().write_all(b"configure\nreload\n").unwrap();
    for _ in 0..2 {
        assert_eq!(read_reply(&mut r), vec!["0002-2 peers unchanged, 1 added", "0003 Reconfigured"]);
    }
    assert_eq!(*source.reloads.lock().unwrap(), 2);

    let mut refused = PlainStatus::new(daemon(now()));
    refused.reload = Err("/etc/tern.toml:3:7: expected an AS number".into());
    let served = serve("reload-refused", Arc::new(refused), None);
    let mut r = BufReader::new(connect(&served.path));
    read_reply(&mut r);
    r.get_mut().write_all(b"reload\n").unwrap();
    assert_eq!(read_reply(&mut r), vec!["8002 /etc/tern.toml:3:7: expected an AS number"]);
}

#[test]
fn stale_socket_is_replaced_and_removed_on_shutdown() {
    let dir = TempDir::new("stale");
    let path = dir.path("bird.ctl");
    // A socket file nobody listens on, as a crashed daemon leaves it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let socket = rt.block_on(BirdSocket::bind(&path)).unwrap();
    // A second daemon on the same live socket is refused.
    let second = rt.block_on(async {
        let task = tokio::spawn(socket.serve(Arc::new(node1()), None, stop_rx));
        let second = BirdSocket::bind(&path).await;
        let mut s = tokio::net::UnixStream::connect(&path).await.unwrap();
        let mut greeting = [0u8; 23];
        tokio::io::AsyncReadExt::read_exact(&mut s, &mut greeting).await.unwrap();
        assert_eq!(&greeting, b"0001 BIRD 1.6.8 ready.\n");
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
        second
    });
    assert_eq!(second.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
    assert!(!path.exists(), "socket file left behind");
}

#[test]
fn show_protocols_all_lists_every_peer_in_one_reply() {
    let served = serve("all", Arc::new(node1()), Some(Afi::IPV4));
    let mut r = BufReader::new(connect(&served.path));
    read_reply(&mut r);
    r.get_mut().write_all(b"show protocols all\n").unwrap();
    let reply = read_reply(&mut r);
    assert_eq!(reply[0], "2002-name     proto    table    state  since       info");
    // Each protocol row opens a new 1002 block after the previous 1006 block.
    let rows: Vec<&String> = reply.iter().filter(|l| l.starts_with("1002-")).collect();
    assert_eq!(rows.len(), 3, "{reply:#?}");
    assert!(rows[2].starts_with("1002-Mesh_10_99_0_4 BGP      master   start"));
    assert_eq!(reply.iter().filter(|l| l.starts_with("1006-")).count(), 3);
    assert_eq!(reply.iter().filter(|l| *l == " ").count(), 3);
    assert_eq!(reply.last().unwrap(), "0000 ");
}

#[test]
fn shutdown_closes_the_server_and_every_client_when_slots_are_full() {
    let dir = TempDir::new("busy");
    let path = dir.path("bird.ctl");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (stop, stop_rx) = watch::channel(false);
        let socket = BirdSocket::bind(&path).await.unwrap();
        let task = tokio::spawn(socket.serve(Arc::new(node1()), None, stop_rx));
        // More idle clients than the server serves at once.
        let mut clients = Vec::new();
        for _ in 0..80 {
            clients.push(tokio::net::UnixStream::connect(&path).await.unwrap());
        }
        let mut greeting = [0u8; 23];
        tokio::io::AsyncReadExt::read_exact(&mut clients[0], &mut greeting).await.unwrap();
        assert_eq!(&greeting, b"0001 BIRD 1.6.8 ready.\n");
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("server stops").unwrap();
        // Served clients are closed too.
        let mut rest = Vec::new();
        let n = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut clients[0], &mut rest),
        )
        .await
        .expect("client closed")
        .unwrap();
        assert_eq!(n, 0);
    });
    assert!(!path.exists());
}
