//! `ternctl status|routes|peer|reload`: ask a running tern-speaker over its
//! BIRD-compatible control sockets (`bird.ctl` for IPv4, `bird6.ctl` for
//! IPv6), as calicoctl and birdc ask BIRD.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::birdc::{ipv6_socket, Client, ClientError, Reply};
use crate::table;

/// Where the daemon listens.
#[derive(clap::Args, Debug, Clone)]
pub struct SocketArgs {
    /// The IPv4 control socket; the IPv6 one is beside it (`bird6.ctl`).
    #[arg(long, global = true, default_value = "/var/run/calico/bird.ctl")]
    pub socket: PathBuf,
}

impl SocketArgs {
    fn v6(&self) -> Option<PathBuf> {
        ipv6_socket(&self.socket)
    }
}

/// One row of calicoctl's table.
#[derive(Debug, PartialEq, Eq)]
pub struct PeerRow {
    pub address: String,
    pub kind: &'static str,
    pub state: String,
    pub since: String,
    pub info: String,
}

/// Reads `show protocols` as calicoctl does: BGP rows named
/// `Mesh_`/`Node_`/`Global_` + the address with `_` for `.` or `:`.
pub fn peer_rows(reply: &Reply, ip_sep: char) -> Result<Vec<PeerRow>, String> {
    let mut rows = Vec::new();
    for line in &reply.lines {
        match line.code {
            2002 => {
                let words: Vec<&str> = line.text.split_whitespace().collect();
                if words != ["name", "proto", "table", "state", "since", "info"] {
                    return Err(format!("unknown protocol table format: {}", line.text));
                }
            }
            1002 => {
                let cols: Vec<&str> = line.text.split_whitespace().collect();
                if cols.len() < 6 || cols[1] != "BGP" {
                    continue;
                }
                let Some((prefix, ip)) = cols[0].split_once('_') else { continue };
                let kind = match prefix {
                    "Mesh" => "node-to-node mesh",
                    "Node" => "node specific",
                    "Global" => "global",
                    _ => continue,
                };
                let mut info = cols[5].to_string();
                for extra in &cols[6..] {
                    info.push(' ');
                    info.push_str(extra);
                }
                rows.push(PeerRow {
                    address: peer_address(ip, ip_sep),
                    kind,
                    state: cols[3].to_string(),
                    since: cols[4].to_string(),
                    info,
                });
            }
            _ => {}
        }
    }
    Ok(rows)
}

/// The address part of a Calico protocol name: `_` for `.` (IPv4) or `:`
/// (IPv6). A `_port_N` suffix (Calico's name for a peer on another port)
/// becomes `ADDR:N` / `[ADDR]:N`, where calicoctl would print
/// `ADDR.port.N`.
fn peer_address(name_part: &str, ip_sep: char) -> String {
    let sep = ip_sep.to_string();
    if let Some((ip, port)) = name_part.rsplit_once("_port_") {
        if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
            let ip = ip.replace('_', &sep);
            return if ip_sep == ':' { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") };
        }
    }
    name_part.replace('_', &sep)
}

fn peers_table(rows: &[PeerRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| vec![r.address.clone(), r.kind.to_string(), r.state.clone(), r.since.clone(), r.info.clone()])
        .collect();
    table::render(&["Peer address", "Peer type", "State", "Since", "Info"], &cells)
}

/// `ternctl status`: calicoctl's `node status` layout, one table per
/// address family.
pub fn status(args: &SocketArgs) -> Result<ExitCode, ClientError> {
    let mut out = String::new();
    let mut v4 = Client::connect(&args.socket)?;
    out.push_str("tern-speaker is running.\n");
    family_status(&mut out, "4", &mut v4, '.')?;
    match args.v6().map(|p| Client::connect(&p)) {
        Some(Ok(mut v6)) => family_status(&mut out, "6", &mut v6, ':')?,
        Some(Err(e)) => out.push_str(&format!("\nIPv6 BGP status\n{e}\n")),
        None => {}
    }
    out.push('\n');
    print(&out);
    Ok(ExitCode::SUCCESS)
}

fn family_status(out: &mut String, ipv: &str, client: &mut Client, sep: char) -> Result<(), ClientError> {
    out.push_str(&format!("\nIPv{ipv} BGP status\n"));
    let reply = client.command("show protocols")?;
    match peer_rows(&reply, sep) {
        Ok(rows) if rows.is_empty() => out.push_str(&format!("No IPv{ipv} peers found.\n")),
        Ok(rows) => out.push_str(&peers_table(&rows)),
        Err(e) => out.push_str(&format!("{e}\n")),
    }
    Ok(())
}

fn print(s: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(s.as_bytes());
    let _ = stdout.flush();
}

/// Prints a reply as birdc does; an error reply goes to stderr and fails.
fn show(reply: &Reply) -> ExitCode {
    if reply.is_error() {
        eprint!("{}", reply.text());
        ExitCode::FAILURE
    } else {
        print(&reply.text());
        ExitCode::SUCCESS
    }
}

/// `ternctl routes [PREFIX]`: `show route [for PREFIX]` on the socket of
/// the prefix's family, or of both families.
pub fn routes(args: &SocketArgs, prefix: Option<&str>) -> Result<ExitCode, ClientError> {
    let command = match prefix {
        Some(p) => format!("show route for {p}"),
        None => "show route".to_string(),
    };
    let v6 = prefix.is_some_and(|p| p.contains(':'));
    if v6 {
        let path = args.v6().unwrap_or_else(|| args.socket.clone());
        return Ok(show(&Client::connect(&path)?.command(&command)?));
    }
    let code = show(&Client::connect(&args.socket)?.command(&command)?);
    if prefix.is_none() {
        if let Some(path) = args.v6().filter(|p| Path::exists(p)) {
            if let Ok(mut c) = Client::connect(&path) {
                return Ok(show(&c.command(&command)?));
            }
        }
    }
    Ok(code)
}

/// `ternctl peer NAME`: `show protocols all NAME`, on the IPv4 socket and
/// then the IPv6 one.
pub fn peer(args: &SocketArgs, name: &str) -> Result<ExitCode, ClientError> {
    let command = format!("show protocols all {name}");
    let reply = Client::connect(&args.socket)?.command(&command)?;
    if reply.is_error() {
        if let Some(path) = args.v6().filter(|p| Path::exists(p)) {
            if let Ok(mut c) = Client::connect(&path) {
                let r6 = c.command(&command)?;
                if !r6.is_error() {
                    return Ok(show(&r6));
                }
            }
        }
    }
    Ok(show(&reply))
}

/// `ternctl reload`: the daemon re-reads its configuration and applies the
/// difference; a refused file leaves the running configuration.
pub fn reload(args: &SocketArgs) -> Result<ExitCode, ClientError> {
    let reply = Client::connect(&args.socket)?.command("reload")?;
    Ok(show(&reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_from_calico_names() {
        assert_eq!(peer_address("10_0_0_2", '.'), "10.0.0.2");
        assert_eq!(peer_address("fd80_24e2_f998_72d7__2", ':'), "fd80:24e2:f998:72d7::2");
        assert_eq!(peer_address("127_77_2_1_port_1179", '.'), "127.77.2.1:1179");
        assert_eq!(peer_address("fd00__1_port_1179", ':'), "[fd00::1]:1179");
    }
}
