//! The etcd v3 side: connection (endpoints, TLS), the consistent list, and the [`Syncer`] that
//! watches from the list's revision and sends every new desired state to the daemon.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use config::calico::Datastore;
use config::DesiredState;
use etcd_client::{Certificate, Client, ConnectOptions, EventType, GetOptions, Identity, TlsOptions, WatchOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::{derive, DatastoreOptions};
use crate::node::DesiredStream;

/// Longest wait for one etcd request (a page of the list, a watch creation).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnection backoff: doubles from the first value up to the second.
pub const BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(2));
/// How often an ongoing outage is logged again.
pub const OUTAGE_LOG_INTERVAL: Duration = Duration::from_secs(30);
/// Keys per page of the initial list (gRPC messages stay small whatever the cluster size).
const PAGE: i64 = 500;

/// Client certificate files (`--etcd-ca`, `--etcd-cert`, `--etcd-key`; calico-node's
/// `ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA that signed etcd's server certificate.
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Where etcd is and how to reach it.
#[derive(Clone, Debug, Default)]
pub struct EtcdOptions {
    /// `http://HOST:PORT` or `https://HOST:PORT`, one or more (a cluster's members).
    pub endpoints: Vec<String>,
    pub tls: TlsFiles,
}

/// Why etcd gave no answer, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// The options themselves are wrong (missing endpoints, unreadable certificate): retrying
    /// does not help.
    #[error("etcd options: {0}")]
    Options(String),
    /// etcd is unreachable or failed the request: retry later.
    #[error("etcd unavailable: {0}")]
    Unavailable(String),
}

fn unavailable(e: impl std::fmt::Display) -> EtcdError {
    EtcdError::Unavailable(e.to_string())
}

async fn bounded<T>(
    what: impl std::fmt::Display,
    f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(EtcdError::Unavailable(format!("{what}: {e}"))),
        Err(_) => Err(EtcdError::Unavailable(format!("{what}: no answer within {REQUEST_TIMEOUT:?}"))),
    }
}

impl EtcdOptions {
    /// The TLS settings from the files; `None` without any file.
    fn tls_options(&self) -> Result<Option<TlsOptions>, EtcdError> {
        let t = &self.tls;
        if t.ca.is_none() && t.cert.is_none() && t.key.is_none() {
            return Ok(None);
        }
        let read = |p: &PathBuf| std::fs::read(p).map_err(|e| EtcdError::Options(format!("{}: {e}", p.display())));
        let mut tls = TlsOptions::new();
        if let Some(ca) = &t.ca {
            tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
        }
        match (&t.cert, &t.key) {
            (Some(cert), Some(key)) => tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?)),
            (None, None) => {}
            _ => return Err(EtcdError::Options("the client certificate and its key go together".into())),
        }
        Ok(Some(tls))
    }

    /// Checks the options once (endpoints present, TLS files readable).
    pub fn validate(&self) -> Result<(), EtcdError> {
        if self.endpoints.is_empty() {
            return Err(EtcdError::Options("no endpoint (--etcd-endpoints URL[,URL])".into()));
        }
        if let Some(e) = self.endpoints.iter().find(|e| !e.starts_with("http://") && !e.starts_with("https://")) {
            return Err(EtcdError::Options(format!("endpoint {e:?}: expected http://HOST:PORT or https://HOST:PORT")));
        }
        self.tls_options().map(|_| ())
    }

    /// A client of the `index`th endpoint (modulo their number). One endpoint per client: the
    /// caller moves to the next one when this one fails (a balanced channel over every endpoint
    /// kept picking a dead member).
    pub async fn connect(&self, index: usize) -> Result<Client, EtcdError> {
        let endpoint = self
            .endpoints
            .get(index % self.endpoints.len().max(1))
            .ok_or_else(|| EtcdError::Options("no endpoint".into()))?;
        let mut options = ConnectOptions::new()
            .with_connect_timeout(REQUEST_TIMEOUT)
            // HTTP/2 pings find a dead connection under an idle watch.
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(true)
            // A member cut off from its cluster's leader cancels our watches instead of going silent.
            .with_require_leader(true);
        if let Some(tls) = self.tls_options()? {
            options = options.with_tls(tls);
        }
        bounded(endpoint, Client::connect([endpoint], Some(options))).await
    }
}

/// The first key after every key starting with `prefix` (etcd's range end for a prefix).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0] // every key
}

/// The keys and values under `prefixes`, all at one revision, and that revision.
pub async fn list(client: &mut Client, prefixes: &[String]) -> Result<(Vec<(String, Vec<u8>)>, i64), EtcdError> {
    let mut revision = 0;
    let mut kvs = Vec::new();
    for prefix in prefixes {
        let end = prefix_end(prefix.as_bytes());
        let mut start = prefix.as_bytes().to_vec();
        loop {
            let mut opts = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
            if revision != 0 {
                opts = opts.with_revision(revision);
            }
            let resp = bounded("list", client.get(start.clone(), Some(opts))).await?;
            if revision == 0 {
                revision = resp.header().map(|h| h.revision()).unwrap_or(0);
            }
            for kv in resp.kvs() {
                kvs.push((String::from_utf8_lossy(kv.key()).into_owned(), kv.value().to_vec()));
            }
            match resp.kvs().last() {
                Some(last) if resp.more() => {
                    start = last.key().to_vec();
                    start.push(0);
                }
                _ => break,
            }
        }
    }
    Ok((kvs, revision))
}

/// Applies a listing to an empty snapshot; malformed objects are logged with their key.
fn snapshot(kvs: &[(String, Vec<u8>)]) -> Datastore {
    let mut ds = Datastore::new();
    for (k, v) in kvs {
        if let Err(e) = ds.apply_put(k, v) {
            warn!(key = %e.key, "malformed Calico object skipped: {}", e.message);
        }
    }
    ds
}

/// Reads the datastore once (a dry run): one attempt, bounded.
pub async fn read_once(etcd: &EtcdOptions, prefixes: &[String]) -> Result<Datastore, EtcdError> {
    let mut errors = Vec::new();
    for i in 0..etcd.endpoints.len() {
        let listed = match etcd.connect(i).await {
            Ok(mut client) => list(&mut client, prefixes).await,
            Err(e) => Err(e),
        };
        match listed {
            Ok((kvs, _)) => return Ok(snapshot(&kvs)),
            Err(EtcdError::Options(e)) => return Err(EtcdError::Options(e)),
            Err(EtcdError::Unavailable(e)) => errors.push(format!("{}: {e}", etcd.endpoints[i])),
        }
    }
    Err(EtcdError::Unavailable(errors.join("; ")))
}

/// How a watch session ended.
enum SessionEnd {
    /// Compaction: list again.
    Resync,
    /// The daemon no longer receives: stop.
    Closed,
}

/// Aborts the watch readers when a session ends, whichever way.
struct Readers(Vec<JoinHandle<()>>);

impl Drop for Readers {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

type WatchMsg = (usize, Result<Option<etcd_client::WatchResponse>, etcd_client::Error>);

/// Keeps one node's desired state in step with etcd.
pub struct Syncer {
    options: DatastoreOptions,
    prefixes: Vec<String>,
    ds: Datastore,
    /// Per prefix: the revision the next watch starts at (one after the last event applied).
    next: Vec<i64>,
    /// The snapshot must be listed again (start, compaction).
    need_list: bool,
    /// The endpoint in use; the next one after a failure.
    endpoint: usize,
    last_sent: Option<DesiredState>,
    /// The last translation error logged (logged again only when it changes).
    last_error: Option<String>,
    /// Since when etcd is unreachable, and when that was last logged.
    outage: Option<(Instant, Instant)>,
    tx: mpsc::Sender<DesiredState>,
}

impl Syncer {
    /// A syncer and the receiving end for the daemon.
    pub fn new(options: DatastoreOptions) -> Result<(Syncer, mpsc::Receiver<DesiredState>), EtcdError> {
        options.etcd.validate()?;
        let prefixes = super::watch_prefixes();
        let (tx, rx) = mpsc::channel(16);
        let syncer = Syncer {
            next: vec![0; prefixes.len()],
            prefixes,
            options,
            ds: Datastore::new(),
            need_list: true,
            endpoint: 0,
            last_sent: None,
            last_error: None,
            outage: None,
            tx,
        };
        Ok((syncer, rx))
    }

    /// The current snapshot.
    pub fn datastore(&self) -> &Datastore {
        &self.ds
    }

    /// Lists until etcd answers (an outage at start is waited out, logged), then derives the
    /// first state. A node the datastore gives no state for is an error.
    pub async fn initial(&mut self) -> Result<DesiredState, String> {
        let mut backoff = BACKOFF.0;
        loop {
            let listed = match self.options.etcd.connect(self.endpoint).await {
                Ok(mut client) => self.list(&mut client).await,
                Err(e) => Err(e),
            };
            match listed {
                Ok(()) => break,
                Err(EtcdError::Options(e)) => return Err(e),
                Err(e) => {
                    self.note_outage(&e);
                    self.endpoint = self.endpoint.wrapping_add(1);
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF.1);
        }
        self.note_recovered();
        let state = derive(&self.ds, &self.options)?;
        self.last_sent = Some(state.clone());
        Ok(state)
    }

    /// Runs until the daemon stops receiving.
    pub async fn run(mut self) {
        let mut backoff = BACKOFF.0;
        loop {
            match self.session().await {
                Ok(SessionEnd::Closed) => return,
                Ok(SessionEnd::Resync) => backoff = BACKOFF.0,
                Err(e) => {
                    self.note_outage(&e);
                    self.endpoint = self.endpoint.wrapping_add(1);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.tx.closed() => return,
                    }
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
        }
    }

    async fn list(&mut self, client: &mut Client) -> Result<(), EtcdError> {
        let (kvs, revision) = list(client, &self.prefixes).await?;
        self.ds = snapshot(&kvs);
        self.next = vec![revision + 1; self.prefixes.len()];
        self.need_list = false;
        info!(revision, keys = kvs.len(), nodes = self.ds.nodes.len(), "listed Calico's datastore");
        Ok(())
    }

    /// One connection: list if needed, watch every prefix, apply events until something ends it.
    async fn session(&mut self) -> Result<SessionEnd, EtcdError> {
        let mut client = self.options.etcd.connect(self.endpoint).await?;
        if self.need_list {
            self.list(&mut client).await?;
            if !self.publish().await {
                return Ok(SessionEnd::Closed);
            }
        }
        let (msg_tx, mut msg_rx) = mpsc::channel::<WatchMsg>(64);
        let mut readers = Readers(Vec::new());
        for (i, prefix) in self.prefixes.iter().enumerate() {
            let opts = WatchOptions::new().with_prefix().with_start_revision(self.next[i]).with_progress_notify();
            let mut stream = bounded("watch", client.watch(prefix.as_str(), Some(opts))).await?;
            let msg_tx = msg_tx.clone();
            readers.0.push(tokio::spawn(async move {
                loop {
                    let msg = stream.message().await;
                    let more = matches!(msg, Ok(Some(_)));
                    if msg_tx.send((i, msg)).await.is_err() || !more {
                        return;
                    }
                }
            }));
        }
        drop(msg_tx);
        self.note_recovered();
        loop {
            let (i, msg) = tokio::select! {
                m = msg_rx.recv() => match m {
                    Some(m) => m,
                    None => return Err(unavailable("every watch ended")),
                },
                _ = self.tx.closed() => return Ok(SessionEnd::Closed),
            };
            let resp = match msg {
                Ok(Some(r)) => r,
                Ok(None) => return Err(unavailable(format!("etcd closed the watch of {}", self.prefixes[i]))),
                Err(e) => return Err(unavailable(format!("watch of {}: {e}", self.prefixes[i]))),
            };
            if resp.canceled() {
                if resp.compact_revision() > 0 {
                    warn!(
                        prefix = %self.prefixes[i],
                        from = self.next[i],
                        compacted = resp.compact_revision(),
                        "etcd compacted the revisions this watch needs: listing everything again"
                    );
                    self.need_list = true;
                    return Ok(SessionEnd::Resync);
                }
                return Err(unavailable(format!("etcd canceled the watch: {}", resp.cancel_reason())));
            }
            if resp.created() {
                continue;
            }
            if resp.events().is_empty() {
                // A progress notification: every event up to its revision was sent.
                if let Some(h) = resp.header() {
                    self.next[i] = self.next[i].max(h.revision() + 1);
                }
                continue;
            }
            if self.apply(i, &resp) && !self.publish().await {
                return Ok(SessionEnd::Closed);
            }
        }
    }

    /// Applies a watch response's events to the snapshot; whether anything changed.
    fn apply(&mut self, i: usize, resp: &etcd_client::WatchResponse) -> bool {
        let mut changed = false;
        let mut next = self.next[i];
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            if kv.mod_revision() < self.next[i] {
                debug!(revision = kv.mod_revision(), "event already applied, skipped");
                continue;
            }
            next = next.max(kv.mod_revision() + 1);
            let key = String::from_utf8_lossy(kv.key());
            let change = match ev.event_type() {
                EventType::Put => match self.ds.apply_put(&key, kv.value()) {
                    Ok(c) => c,
                    Err(e) => {
                        warn!(key = %e.key, "malformed Calico object skipped: {}", e.message);
                        config::calico::Change::Updated
                    }
                },
                EventType::Delete => self.ds.apply_delete(&key),
            };
            debug!(key = %key, revision = kv.mod_revision(), ?change, "datastore event");
            changed |= change == config::calico::Change::Updated;
        }
        self.next[i] = next;
        changed
    }

    /// Derives the state again and sends it if it differs; false when the daemon is gone.
    async fn publish(&mut self) -> bool {
        match derive(&self.ds, &self.options) {
            Ok(state) => {
                self.last_error = None;
                if self.last_sent.as_ref() == Some(&state) {
                    return true;
                }
                info!(peers = state.peers.len(), "datastore change: new desired state");
                if self.tx.send(state.clone()).await.is_err() {
                    return false;
                }
                self.last_sent = Some(state);
            }
            Err(e) => {
                if self.last_error.as_ref() != Some(&e) {
                    error!("{e}; keeping the running state");
                    self.last_error = Some(e);
                }
            }
        }
        true
    }

    fn note_outage(&mut self, e: &EtcdError) {
        let now = Instant::now();
        let endpoints = &self.options.etcd.endpoints;
        let endpoint = endpoints.get(self.endpoint % endpoints.len().max(1)).map(String::as_str).unwrap_or("");
        match &mut self.outage {
            None => {
                warn!(endpoint, "{e}: sessions and routes stay as they are until etcd returns");
                self.outage = Some((now, now));
            }
            Some((since, logged)) if now.duration_since(*logged) >= OUTAGE_LOG_INTERVAL => {
                warn!(endpoint, seconds = since.elapsed().as_secs(), "etcd still unavailable: {e}");
                *logged = now;
            }
            Some(_) => debug!(endpoint, "{e}"),
        }
    }

    fn note_recovered(&mut self) {
        if let Some((since, _)) = self.outage.take() {
            info!(seconds = since.elapsed().as_secs(), "etcd reachable again");
        }
    }
}

/// Starts datastore mode: the first state (waiting out an etcd outage), then the syncer in the
/// background. The stream goes into [`Source::Stream`](crate::node::Source::Stream).
pub async fn start(options: DatastoreOptions) -> Result<(DesiredStream, JoinHandle<()>), String> {
    let (mut syncer, rx) = Syncer::new(options).map_err(|e| e.to_string())?;
    let initial = syncer.initial().await?;
    let task = tokio::spawn(syncer.run());
    Ok((DesiredStream { initial, updates: Arc::new(tokio::sync::Mutex::new(rx)) }, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_first_key_after_the_prefix() {
        assert_eq!(prefix_end(b"/calico/"), b"/calico0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }

    #[test]
    fn options_are_checked_before_any_connection() {
        let no_endpoint = EtcdOptions::default();
        assert!(matches!(no_endpoint.validate(), Err(EtcdError::Options(_))));
        let bad_scheme = EtcdOptions { endpoints: vec!["127.0.0.1:2379".into()], ..EtcdOptions::default() };
        assert!(matches!(bad_scheme.validate(), Err(EtcdError::Options(m)) if m.contains("127.0.0.1:2379")));
        let half_identity = EtcdOptions {
            endpoints: vec!["https://127.0.0.1:2379".into()],
            tls: TlsFiles { ca: None, cert: Some("/dev/null".into()), key: None },
        };
        assert!(matches!(half_identity.validate(), Err(EtcdError::Options(m)) if m.contains("go together")));
        let missing = EtcdOptions {
            endpoints: vec!["https://127.0.0.1:2379".into()],
            tls: TlsFiles { ca: Some("/nonexistent/ca.pem".into()), cert: None, key: None },
        };
        assert!(matches!(missing.validate(), Err(EtcdError::Options(m)) if m.contains("/nonexistent/ca.pem")));
    }
}
