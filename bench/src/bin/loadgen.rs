//! `loadgen`: simulates many BGP peers from one process against a system
//! under test (a route reflector) and measures how long it takes to
//! distribute their routes, with the system's peak RSS and CPU.
//!
//! ```text
//! loadgen peers --mode rr --peers 200                      # addresses to configure on the SUT
//! loadgen run --mode rr --peers 200 --routes 500 --target 127.0.1.1:179 --pid PID --label tern
//! loadgen table results.jsonl                              # side-by-side table
//! loadgen run --mode rr --peers 2000 --routes 1 --connect-batch 50 ...  # session scale
//! loadgen run --mode mrt --mrt FILE.bz2 ...                # replay an MRT RIB from its peers
//! ```
//!
//! Modes: `rr` — every peer sends its routes and receives, done when every
//! peer holds every other peer's routes; `ingest` — the peers only send, one
//! more peer (the monitor) receives, done when it holds all of them; `mrt` —
//! like ingest, but each sender is one peer of an MRT RIB dump announcing its
//! own IPv6 routes and attributes, and the monitor must hold every prefix.

#[path = "../loadgen/mrt.rs"]
mod mrt;
#[path = "../loadgen/procstat.rs"]
mod procstat;
#[path = "../loadgen/report.rs"]
mod report;
#[path = "../loadgen/routes.rs"]
mod routes;
#[path = "../loadgen/session.rs"]
mod session;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_proto::{Context, Family, Message, Update};
use bytes::BytesMut;
use clap::{Parser, Subcommand, ValueEnum};
use tokio::sync::{mpsc, watch, Semaphore};

use report::RunResult;
use routes::Plan;
use session::{Counter, PeerSpec, SessionEvent, Shared, Stats};

#[derive(Parser, Debug)]
#[command(name = "loadgen", about = "BGP route-reflector load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the simulated peers' addresses, one `ROLE ADDRESS` a line
    /// (`client` in rr; `sender`/`monitor` in ingest), for SUT configs.
    Peers(Layout),
    /// Run a scenario against a system under test; prints one JSON line
    /// (stdout) and a human line (stderr).
    Run(RunArgs),
    /// Side-by-side Markdown table of `run` JSON lines from FILEs.
    Table {
        /// The session table: time to all Established, then to converge,
        /// sessions dropped, NOTIFICATIONs, hold timers.
        #[arg(long)]
        sessions: bool,
        files: Vec<std::path::PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Rr,
    Ingest,
    Mrt,
}

#[derive(clap::Args, Debug, Clone)]
struct Layout {
    #[arg(long, value_enum, default_value = "rr")]
    mode: Mode,
    /// Simulated peers that send routes (rr: clients). mrt: from the file.
    #[arg(long, default_value_t = 0)]
    peers: u32,
    /// Peer `i` is 127.OCTET.(i / 200).(i % 200 + 1); the ingest monitor 127.OCTET.255.1.
    #[arg(long, default_value_t = 100)]
    source_octet: u8,
    /// mrt: the TABLE_DUMP_V2 RIB to replay (bz2, gz or plain).
    #[arg(long)]
    mrt: Option<std::path::PathBuf>,
    /// mrt: replay only the first N prefixes of the file.
    #[arg(long)]
    mrt_prefixes: Option<usize>,
    /// Connect over IPv6 instead: peer `i` from fd00:100::(i + 1), the
    /// monitor from fd00:100::ffff:1 (addresses the bench puts on `lo` of its
    /// own network namespace; BIRD 1.6's bird6 needs IPv6 sessions).
    #[arg(long)]
    ipv6_transport: bool,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    layout: Layout,
    /// Routes per sending peer (mrt: ignored).
    #[arg(long, default_value_t = 0)]
    routes: u32,
    /// Prefix length of the routes (default: 26 in rr, 24 in ingest).
    #[arg(long)]
    prefix_len: Option<u8>,
    /// The system under test.
    #[arg(long)]
    target: SocketAddr,
    /// Our AS and the SUT's (iBGP).
    #[arg(long, default_value_t = 64512)]
    asn: u32,
    /// The SUT's process, for its RSS and CPU.
    #[arg(long)]
    pid: Option<u32>,
    /// Name of the SUT in the output.
    #[arg(long, default_value = "sut")]
    label: String,
    /// Longest wait for all sessions, seconds.
    #[arg(long, default_value_t = 300)]
    establish_timeout: u64,
    /// Longest wait for convergence after "go", seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Pause between all sessions up and "go", seconds (lets the SUT settle).
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
    /// Connection attempts in flight at once.
    #[arg(long, default_value_t = 64)]
    connect_parallel: usize,
    /// Connect this many peers, wait until they are all Established, then
    /// the next batch (0: all at once, `--connect-parallel` in flight).
    #[arg(long, default_value_t = 0)]
    connect_batch: u32,
    /// Hold time we propose, seconds (keepalives every third of it; our own
    /// hold timer counts a SUT that falls silent for this long).
    #[arg(long, default_value_t = session::DEFAULT_HOLD_TIME)]
    hold_time: u16,
    /// Worker threads of the generator.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

impl Layout {
    fn address(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::new(
            127,
            self.source_octet,
            u8::try_from(i / 200).unwrap_or(254),
            u8::try_from(i % 200 + 1).unwrap_or(1),
        )
    }

    /// The next hop of peer `i`'s routes: 100.64.(i / 200).(i % 200 + 1), outside
    /// 127/8 (FRR refuses loopback next hops as martians); the SUT configs route
    /// 100.64.0.0/10 to `lo` where they resolve next hops.
    fn next_hop(&self, i: u32) -> Ipv4Addr {
        let a = self.address(i).octets();
        Ipv4Addr::new(100, 64, a[2], a[3])
    }

    fn monitor(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.source_octet, 255, 1)
    }

    /// Where peer `i` (the monitor: `None`) connects from.
    fn source(&self, i: Option<u32>) -> IpAddr {
        match (self.ipv6_transport, i) {
            (false, Some(i)) => self.address(i).into(),
            (false, None) => self.monitor().into(),
            (true, Some(i)) => Ipv6Addr::new(0xfd00, 0x100, 0, 0, 0, 0, ((i + 1) >> 16) as u16, (i + 1) as u16).into(),
            (true, None) => Ipv6Addr::new(0xfd00, 0x100, 0, 0, 0, 0, 0xffff, 1).into(),
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.mode == Mode::Mrt {
            return match self.mrt {
                Some(_) => Ok(()),
                None => Err("--mode mrt needs --mrt FILE".into()),
            };
        }
        if self.peers == 0 || self.peers > 200 * 255 {
            return Err(format!("--peers {}: expected 1..={}", self.peers, 200 * 255));
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Peers(layout) => peers(&layout),
        Command::Run(args) => run(args),
        Command::Table { sessions, files } => table(&files, sessions),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

fn peers(layout: &Layout) -> Result<ExitCode, String> {
    layout.check()?;
    let mut layout = layout.clone();
    if let (Mode::Mrt, Some(file)) = (layout.mode, &layout.mrt) {
        layout.peers = replay_len(&mrt::load(file, layout.mrt_prefixes, &Context::default())?)?;
    }
    let role = if layout.mode == Mode::Rr { "client" } else { "sender" };
    for i in 0..layout.peers {
        println!("{role} {}", layout.source(Some(i)));
    }
    if layout.mode != Mode::Rr {
        println!("monitor {}", layout.source(None));
    }
    Ok(ExitCode::SUCCESS)
}

fn replay_len(replay: &mrt::Replay) -> Result<u32, String> {
    u32::try_from(replay.senders.len()).map_err(|_| "too many MRT peers".to_string())
}

fn table(files: &[std::path::PathBuf], sessions: bool) -> Result<ExitCode, String> {
    let mut results = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        for (n, line) in text.lines().enumerate().filter(|(_, l)| l.trim_start().starts_with('{')) {
            let r: RunResult = serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", f.display(), n + 1))?;
            results.push(r);
        }
    }
    print!("{}", if sessions { report::sessions_table(&results) } else { report::table(&results) });
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> Result<ExitCode, String> {
    args.layout.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let result = runtime.block_on(scenario(&args))?;
    // Peer tasks still hold sockets; the runtime's drop closes them.
    runtime.shutdown_timeout(Duration::from_secs(2));
    println!("{}", serde_json::to_string(&result).map_err(|e| e.to_string())?);
    eprintln!("{}", result.human());
    Ok(if result.finished && result.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn scenario(args: &RunArgs) -> Result<RunResult, String> {
    let mut layout = args.layout.clone();
    let len = args.prefix_len.unwrap_or(if layout.mode == Mode::Rr { 26 } else { 24 });
    let ctx = Context::default();
    let mut specs = Vec::new();
    let (counter, families, per_peer, mrt_entries) = if layout.mode == Mode::Mrt {
        let file = layout.mrt.clone().unwrap_or_default();
        let replay = mrt::load(&file, layout.mrt_prefixes, &ctx)?;
        layout.peers = replay_len(&replay)?;
        eprintln!(
            "mrt: {} senders, {} prefixes, {} RIB entries replayed, {} left out (not IPv6 unicast or undecodable)",
            replay.senders.len(),
            replay.expect.total(),
            replay.senders.iter().map(|s| s.routes).sum::<u64>(),
            replay.skipped
        );
        let mut entries = 0;
        for (i, sender) in (0..).zip(replay.senders) {
            eprintln!(
                "mrt: sender {} = MRT peer {}, {} routes",
                layout.source(Some(i)),
                sender.mrt_peer,
                sender.routes
            );
            entries += sender.routes;
            let (source, bgp_id) = (layout.source(Some(i)), layout.address(i));
            specs.push(PeerSpec { index: i, source, bgp_id, bulk: sender.bulk, counts: false, expected: 0 });
        }
        let expect = Arc::new(replay.expect);
        let families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        (Counter::Mrt(expect), families, 0, entries)
    } else {
        let plan = Plan::new(layout.peers, args.routes, len)?;
        for i in 0..layout.peers {
            let bulk = plan.encode_peer(i, layout.next_hop(i), &ctx)?;
            let counts = layout.mode == Mode::Rr;
            let expected = plan.total() - u64::from(plan.per_peer);
            let (source, bgp_id) = (layout.source(Some(i)), layout.address(i));
            specs.push(PeerSpec { index: i, source, bgp_id, bulk, counts, expected });
        }
        (Counter::Plan(plan), vec![Family::IPV4_UNICAST], args.routes, 0)
    };
    if layout.mode != Mode::Rr {
        let mut eor = BytesMut::new();
        for f in &families {
            Message::Update(Update::end_of_rib(*f)).encode(&ctx, &mut eor).map_err(|e| e.to_string())?;
        }
        specs.push(PeerSpec {
            index: layout.peers,
            source: layout.source(None),
            bgp_id: layout.monitor(),
            bulk: eor.freeze(),
            counts: true,
            expected: counter_total(&counter),
        });
    }
    let receivers = specs.iter().filter(|s| s.counts).count();
    let expected_routes: u64 = specs.iter().filter(|s| s.counts).map(|s| s.expected).sum();

    let (go_tx, go_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let total_peers = specs.len();
    let all = u32::try_from(total_peers).unwrap_or(u32::MAX);
    let batch = args.connect_batch;
    let mut released = if batch == 0 { all } else { batch.min(all) };
    let (release_tx, release_rx) = watch::channel(released);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let shared = Arc::new(Shared {
        counter,
        target: args.target,
        asn: args.asn,
        hold_time: args.hold_time,
        families,
        go: go_rx,
        stop: stop_rx,
        release: release_rx,
        done: done_tx,
        events: ev_tx,
        held: (0..specs.len()).map(|_| AtomicU64::new(0)).collect(),
        connecting: Semaphore::new(args.connect_parallel.max(1)),
        establish_deadline: started + Duration::from_secs(args.establish_timeout),
        stats: Stats::default(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for spec in specs {
        tasks.spawn(session::run_peer(spec, shared.clone()));
    }

    let mut errors = Vec::new();
    let mut result = RunResult {
        label: args.label.clone(),
        mode: format!("{:?}", layout.mode).to_lowercase(),
        peers: layout.peers,
        per_peer,
        prefix_len: if layout.mode == Mode::Mrt { 0 } else { len },
        receivers: u32::try_from(receivers).unwrap_or(u32::MAX),
        expected_routes,
        sut_pid: args.pid,
        loadavg_before: procstat::loadavg(),
        connect_batch: batch,
        connect_parallel: u32::try_from(args.connect_parallel).unwrap_or(u32::MAX),
        hold_time: args.hold_time,
        mrt_file: layout.mrt.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        mrt_entries,
        ..RunResult::default()
    };

    // All sessions up (or a peer failed for good, or the deadline). Batches:
    // the next is released once every peer released so far was Established.
    let (mut up, mut first_ups) = (0usize, 0u32);
    let establish_deadline = tokio::time::Instant::from_std(shared.establish_deadline);
    while up < total_peers {
        tokio::select! {
            Some(ev) = ev_rx.recv() => match ev {
                SessionEvent::Up { first } => {
                    up += 1;
                    if first {
                        first_ups += 1;
                        if first_ups >= released && released < all {
                            released = released.saturating_add(batch).min(all);
                            let _ = release_tx.send(released);
                        }
                    }
                }
                SessionEvent::Down => up = up.saturating_sub(1),
            },
            Some(r) = tasks.join_next() => collect(r, &mut errors),
            _ = tokio::time::sleep_until(establish_deadline) => break,
        }
        if !errors.is_empty() {
            break;
        }
    }
    result.establish_s = started.elapsed().as_secs_f64();
    if up < total_peers {
        errors.insert(0, format!("only {up} of {total_peers} sessions established"));
        result.errors = errors;
        result.loadavg_after = procstat::loadavg();
        let _ = stop_tx.send(true);
        finish_stats(&mut result, &shared.stats);
        if let Some(pid) = args.pid {
            let after = procstat::sample(Some(pid))?;
            result.sut_hwm_kb = after.hwm_kb;
            result.sut_cpu_total_s = after.cpu_s;
        }
        return Ok(result);
    }
    tokio::time::sleep(Duration::from_secs_f64(args.settle.max(0.0))).await;

    let sut_before = args.pid.map(|p| procstat::sample(Some(p))).transpose()?;
    let gen_before = procstat::sample(None)?;
    let go = Instant::now();
    let _ = go_tx.send(true);
    let deadline = tokio::time::Instant::from_std(go + Duration::from_secs(args.timeout));
    let mut done = 0;
    let mut last = go;
    let mut done_at = Vec::new();
    // A receiver whose session ended can no longer finish: stop waiting once
    // every receiver is done or gone.
    let mut gone = 0;
    while done + gone < receivers {
        tokio::select! {
            Some((_, at)) = done_rx.recv() => {
                done += 1;
                last = last.max(at);
                done_at.push(at.saturating_duration_since(go).as_secs_f64());
            }
            Some(r) = tasks.join_next() => {
                if matches!(r, Ok(Err(_)) | Err(_)) {
                    gone += 1;
                }
                collect(r, &mut errors);
            }
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    result.finished = done == receivers;
    result.convergence_s = if result.finished { (last - go).as_secs_f64() } else { go.elapsed().as_secs_f64() };
    result.receivers_done = u32::try_from(done).unwrap_or(u32::MAX);
    done_at.sort_by(f64::total_cmp);
    result.first_done_s = done_at.first().copied().unwrap_or(0.0);
    result.median_done_s = done_at.get(done_at.len() / 2).copied().unwrap_or(0.0);
    result.held_routes = shared.held.iter().map(|h| h.load(Ordering::Relaxed)).sum();
    let gen_after = procstat::sample(None)?;
    result.gen_cpu_run_s = gen_after.cpu_s - gen_before.cpu_s;
    result.gen_cpu_total_s = gen_after.cpu_s;
    if let (Some(pid), Some(before)) = (args.pid, sut_before) {
        let after = procstat::sample(Some(pid))?;
        result.sut_hwm_kb = after.hwm_kb;
        result.sut_rss_idle_kb = before.rss_kb;
        result.sut_cpu_run_s = after.cpu_s - before.cpu_s;
        result.sut_cpu_total_s = after.cpu_s;
    }
    result.loadavg_after = procstat::loadavg();
    finish_stats(&mut result, &shared.stats);
    let _ = stop_tx.send(true);
    // Errors of peers that end now (closing) are not the SUT's.
    errors.truncate(5);
    result.errors = errors;
    Ok(result)
}

fn counter_total(counter: &Counter) -> u64 {
    match counter {
        Counter::Plan(p) => p.total(),
        Counter::Mrt(e) => e.total(),
    }
}

fn finish_stats(result: &mut RunResult, stats: &Stats) {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    result.notifications = get(&stats.notifications);
    result.hold_expired_sut = get(&stats.hold_expired_sut);
    result.hold_expired_local = get(&stats.hold_expired_local);
    result.sessions_dropped = get(&stats.drops);
    result.failed_attempts = get(&stats.failed_attempts);
    result.wrong_routes = get(&stats.wrong_routes);
    result.lost = stats.lost.lock().map(|l| l.clone()).unwrap_or_default();
    result.failed = stats.failed.lock().map(|l| l.clone()).unwrap_or_default();
}

fn collect(r: Result<Result<(), String>, tokio::task::JoinError>, errors: &mut Vec<String>) {
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => errors.push(e),
        Err(e) => errors.push(format!("peer task: {e}")),
    }
}
