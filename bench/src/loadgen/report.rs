//! A run's result (one JSON line) and the side-by-side table of several.

use serde::{Deserialize, Serialize};

/// What one `loadgen run` measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunResult {
    /// System under test (`tern`, `bird1`, ...).
    pub label: String,
    /// `rr` or `ingest`.
    pub mode: String,
    /// Senders (rr: clients).
    pub peers: u32,
    pub per_peer: u32,
    pub prefix_len: u8,
    /// Every receiver held every route it should before the timeout.
    pub finished: bool,
    /// From "go" to the last receiver holding everything (or the timeout).
    pub convergence_s: f64,
    /// From the first connect to all sessions Established.
    pub establish_s: f64,
    /// From "go" to the first and the median receiver holding everything.
    pub first_done_s: f64,
    pub median_done_s: f64,
    pub receivers: u32,
    pub receivers_done: u32,
    /// Routes the receivers should hold in all, and held at the end.
    pub expected_routes: u64,
    pub held_routes: u64,
    pub sut_pid: Option<u32>,
    /// Peak RSS (VmHWM) at the end, kB.
    pub sut_hwm_kb: u64,
    /// RSS just before "go" (sessions up, no routes), kB.
    pub sut_rss_idle_kb: u64,
    /// CPU between "go" and convergence, and since the process started.
    pub sut_cpu_run_s: f64,
    pub sut_cpu_total_s: f64,
    /// The generator's own CPU over the same two spans.
    pub gen_cpu_run_s: f64,
    pub gen_cpu_total_s: f64,
    pub loadavg_before: String,
    pub loadavg_after: String,
    /// Peer errors (the first few), e.g. sessions closed by the SUT.
    pub errors: Vec<String>,
    /// Peers connected this many at a time, the next batch once a batch
    /// was Established (0: all at once, `connect_parallel` in flight).
    pub connect_batch: u32,
    pub connect_parallel: u32,
    /// Hold time we proposed.
    pub hold_time: u16,
    /// NOTIFICATIONs received in all; of them Hold Timer Expired.
    pub notifications: u64,
    pub hold_expired_sut: u64,
    /// Sessions where our own hold timer ran out (the SUT fell silent).
    pub hold_expired_local: u64,
    /// Established sessions that ended before the run's end (a session
    /// dropped before "go" reconnects and counts here too).
    pub sessions_dropped: u64,
    /// Connection attempts that failed and were retried.
    pub failed_attempts: u64,
    /// The first few dropped sessions, `peer: why`.
    pub lost: Vec<String>,
    /// The first few failed connection attempts, `peer: why`.
    pub failed: Vec<String>,
    /// mrt: routes the monitor received with a next hop of a sender that
    /// did not announce that prefix.
    pub wrong_routes: u64,
    /// mrt: the file and the RIB entries (routes) replayed.
    pub mrt_file: String,
    pub mrt_entries: u64,
}

impl RunResult {
    pub fn human(&self) -> String {
        let state = if self.finished {
            format!(
                "converged in {:.3} s (first receiver done at {:.3} s, median {:.3} s)",
                self.convergence_s, self.first_done_s, self.median_done_s
            )
        } else {
            format!(
                "DID NOT FINISH in {:.0} s ({}/{} receivers done, {}/{} routes held)",
                self.convergence_s, self.receivers_done, self.receivers, self.held_routes, self.expected_routes
            )
        };
        format!(
            "{}: {} {}x{} /{}: {state}; SUT peak RSS {:.1} MB (idle {:.1} MB), CPU {:.2} s in the run ({:.2} s total); \
             generator CPU {:.2} s; established in {:.2} s; load {} -> {}{}",
            self.label,
            self.mode,
            self.peers,
            self.per_peer,
            self.prefix_len,
            mb(self.sut_hwm_kb),
            mb(self.sut_rss_idle_kb),
            self.sut_cpu_run_s,
            self.sut_cpu_total_s,
            self.gen_cpu_run_s,
            self.establish_s,
            self.loadavg_before,
            self.loadavg_after,
            if self.errors.is_empty() { String::new() } else { format!("; errors: {}", self.errors.join(" | ")) }
        ) + &format!(
            "; sessions dropped {}, NOTIFICATIONs {} (hold timer expired {}), our hold timer expired {}, \
             failed connection attempts {}, wrong routes {}",
            self.sessions_dropped,
            self.notifications,
            self.hold_expired_sut,
            self.hold_expired_local,
            self.failed_attempts,
            self.wrong_routes
        )
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// A Markdown table of `results` with tern's ratio to each (time, peak RSS,
/// CPU): a ratio below 1 means tern needed less.
pub fn table(results: &[RunResult]) -> String {
    let tern = results.iter().find(|r| r.label == "tern" && r.finished);
    let mut out = String::from(
        "| system | time | peak RSS | RSS idle | CPU (run) | CPU (total) | generator CPU | tern time ÷ | tern RSS ÷ | tern CPU ÷ |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        let time = if r.finished {
            format!("{:.3} s", r.convergence_s)
        } else {
            format!("did not finish ({:.0} s; {}/{} routes)", r.convergence_s, r.held_routes, r.expected_routes)
        };
        let ratio = |t: f64, x: f64| if x > 0.0 { format!("{:.2}", t / x) } else { "–".into() };
        let (rt, rr, rc) = match tern {
            Some(t) if r.label != "tern" => {
                let time = if r.finished {
                    ratio(t.convergence_s, r.convergence_s)
                } else {
                    format!("< {}", ratio(t.convergence_s, r.convergence_s))
                };
                (time, ratio(t.sut_hwm_kb as f64, r.sut_hwm_kb as f64), ratio(t.sut_cpu_run_s, r.sut_cpu_run_s))
            }
            _ => ("".into(), "".into(), "".into()),
        };
        out.push_str(&format!(
            "| {} | {time} | {:.1} MB | {:.1} MB | {:.2} s | {:.2} s | {:.2} s | {rt} | {rr} | {rc} |\n",
            r.label,
            mb(r.sut_hwm_kb),
            mb(r.sut_rss_idle_kb),
            r.sut_cpu_run_s,
            r.sut_cpu_total_s,
            r.gen_cpu_run_s
        ));
    }
    out
}

/// The session-scale (and mrt) table: time to all Established, then to
/// converge, and every lost session, NOTIFICATION and expired hold timer.
pub fn sessions_table(results: &[RunResult]) -> String {
    let mut out = String::from(
        "| system | connect | all Established | converged after | peak RSS | CPU (run) | CPU (total) | generator CPU \
         | sessions dropped | NOTIFICATIONs (hold timer expired) | our hold timer expired | failed attempts | wrong routes |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        let connect = if r.connect_batch > 0 {
            format!("batches of {}", r.connect_batch)
        } else {
            format!("all at once ({} in flight)", r.connect_parallel)
        };
        let established = if r.receivers > 0 && (r.finished || r.convergence_s > 0.0) {
            format!("{:.2} s", r.establish_s)
        } else {
            format!("not all ({:.0} s)", r.establish_s)
        };
        let converged = if r.finished {
            format!("{:.3} s", r.convergence_s)
        } else if r.convergence_s > 0.0 {
            format!("did not finish ({:.0} s; {}/{} routes)", r.convergence_s, r.held_routes, r.expected_routes)
        } else {
            "–".into()
        };
        out.push_str(&format!(
            "| {} | {connect} | {established} | {converged} | {:.1} MB | {:.2} s | {:.2} s | {:.2} s | {} | {} ({}) | {} | {} | {} |\n",
            r.label,
            mb(r.sut_hwm_kb),
            r.sut_cpu_run_s,
            r.sut_cpu_total_s,
            r.gen_cpu_run_s,
            r.sessions_dropped,
            r.notifications,
            r.hold_expired_sut,
            r.hold_expired_local,
            r.failed_attempts,
            r.wrong_routes,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_gives_terns_ratio_to_each_other_system() {
        let tern = RunResult {
            label: "tern".into(),
            finished: true,
            convergence_s: 1.0,
            sut_hwm_kb: 20 * 1024,
            sut_cpu_run_s: 0.5,
            ..RunResult::default()
        };
        let bird = RunResult {
            label: "bird1".into(),
            finished: true,
            convergence_s: 8.0,
            sut_hwm_kb: 40 * 1024,
            sut_cpu_run_s: 8.0,
            ..RunResult::default()
        };
        let gobgp = RunResult { label: "gobgp".into(), convergence_s: 300.0, ..RunResult::default() };
        let t = table(&[tern, bird, gobgp]);
        assert!(
            t.contains("| bird1 | 8.000 s | 40.0 MB | 0.0 MB | 8.00 s | 0.00 s | 0.00 s | 0.12 | 0.50 | 0.06 |"),
            "{t}"
        );
        assert!(t.contains("| gobgp | did not finish (300 s; 0/0 routes)"), "{t}");
        assert!(t.contains("< 0.00"), "{t}");
    }

    #[test]
    fn sessions_table_shows_drops_and_notifications() {
        let tern = RunResult {
            label: "tern".into(),
            finished: true,
            receivers: 2000,
            establish_s: 3.5,
            convergence_s: 1.25,
            connect_batch: 50,
            ..RunResult::default()
        };
        let bird = RunResult {
            label: "bird1".into(),
            receivers: 2000,
            establish_s: 300.0,
            connect_parallel: 2000,
            sessions_dropped: 3,
            notifications: 2,
            hold_expired_sut: 1,
            ..RunResult::default()
        };
        let t = sessions_table(&[tern, bird]);
        assert!(t.contains("| tern | batches of 50 | 3.50 s | 1.250 s |"), "{t}");
        assert!(t.contains("| bird1 | all at once (2000 in flight) | not all (300 s) | – |"), "{t}");
        assert!(t.contains("| 3 | 2 (1) | 0 | 0 | 0 |"), "{t}");
    }
}
