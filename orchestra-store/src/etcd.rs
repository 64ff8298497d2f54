//! `EtcdStore`: the [`Store`] contract mapped onto a real etcd v3 cluster.
//!
//! The mapping is thin by design: etcd's revisions are the store's revisions, a guarded
//! update or delete is one transaction comparing the key's `mod_revision`, a create is
//! one comparing its `create_revision` with 0, and a watch is an etcd watch with
//! `prev_kv`. Two differences are handled here: etcd's watch start revision is
//! inclusive (the store's `after_revision` is exclusive, so it watches from
//! `after + 1`), and etcd reports compaction without the compaction point on reads,
//! so the point is found by bisecting with count-only reads.
//! Every key is stored under a configurable prefix, so several clusters can share one
//! etcd.
//!
//! A failed write is sorted by what its error says about its outcome (in `failures`):
//! certainly not applied (sent again to the next member, and
//! [`StoreError::Unavailable`] once the retries run out), refused for good, or unknown
//! ([`StoreError::OutcomeUnknown`], returned at once: sending it again could apply it
//! twice). Reads change nothing and are retried on any failure of the member.

mod failures;
mod members;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Compare, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions, PutOptions, Txn,
    TxnOp, TxnOpResponse, WatchOptions,
};
use failures::{RETRIES, retrying, unavailable, write_error, writing};
use futures::StreamExt;
use members::Members;
use orchestra_core::store::{display_key, prefix_range_end};
use orchestra_core::{
    KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchEvent, WatchStream,
};

/// How to reach etcd.
///
/// ```
/// use std::time::Duration;
/// use orchestra_store::EtcdStoreConfig;
///
/// let config = EtcdStoreConfig::new(["http://10.0.0.1:2379", "http://10.0.0.2:2379"])
///     .key_prefix("/orchestra")
///     .request_timeout(Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
pub struct EtcdStoreConfig {
    pub(crate) endpoints: Vec<String>,
    pub(crate) key_prefix: Vec<u8>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) user: Option<(String, String)>,
    pub(crate) tls: Option<EtcdTls>,
}

/// TLS settings for reaching etcd over `https://`.
#[derive(Clone, Debug, Default)]
pub struct EtcdTls {
    pub(crate) ca_pem: Vec<u8>,
    /// Certificate and key, PEM.
    pub(crate) client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// `None`: the endpoint's host.
    pub(crate) domain_name: Option<String>,
}

impl EtcdTls {
    /// Trusts servers whose certificates the certificate authority in `ca_pem` (PEM)
    /// signed.
    pub fn new(ca_pem: impl Into<Vec<u8>>) -> Self {
        EtcdTls {
            ca_pem: ca_pem.into(),
            client_identity: None,
            domain_name: None,
        }
    }

    /// Presents this client certificate and key (PEM), for an etcd that asks for client
    /// certificates.
    #[must_use]
    pub fn client_identity(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_identity = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Checks the servers' certificates against `name`. Default: the endpoint's host.
    #[must_use]
    pub fn domain_name(mut self, name: impl Into<String>) -> Self {
        self.domain_name = Some(name.into());
        self
    }
}

impl Default for EtcdStoreConfig {
    /// One local member, `http://127.0.0.1:2379` (etcd's and etcdctl's default).
    fn default() -> Self {
        EtcdStoreConfig {
            endpoints: vec!["http://127.0.0.1:2379".to_owned()],
            key_prefix: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            user: None,
            tls: None,
        }
    }
}

impl EtcdStoreConfig {
    /// The defaults, for `endpoints`.
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        EtcdStoreConfig::default().endpoints(endpoints)
    }

    /// The client endpoints, such as `http://127.0.0.1:2379`, one per member: requests
    /// go to one member until it fails them, then to the next.
    #[must_use]
    pub fn endpoints(mut self, endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.endpoints = endpoints.into_iter().map(Into::into).collect();
        self
    }

    /// Connects over TLS with `tls` (for `https://` endpoints). Default: plain.
    #[must_use]
    pub fn tls(mut self, tls: EtcdTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Stores every key under `prefix`, so clusters can share one etcd. Default none.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<Vec<u8>>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The time to establish a connection. Default 5 s.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The time one request may take. Default 10 s.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Authenticates as `name`, for an etcd with authentication on.
    #[must_use]
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some((name.into(), password.into()));
        self
    }
}

/// A [`Store`] over etcd v3.
#[derive(Clone)]
pub struct EtcdStore {
    members: Arc<Members>,
    prefix: Vec<u8>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .finish_non_exhaustive()
    }
}

/// A key no object uses (store keys never contain NUL), read to learn revisions.
const PROBE_KEY: &[u8] = b"\0orchestra-probe";

fn rev(r: i64) -> Revision {
    r.max(0) as Revision
}

impl EtcdStore {
    /// Connects to etcd.
    pub async fn connect(config: EtcdStoreConfig) -> Result<Self, StoreError> {
        // With `require_leader`, a member that knows no leader refuses every request at
        // once ("etcdserver: no leader", before the request reaches the server), which
        // certainly did not apply it; without it, the member holds a write until its
        // own deadline and answers one that cannot be told from a write cut off after
        // being proposed. It also ends watches on a member cut off from the leader for
        // three election timeouts, which the watch here resumes on another member.
        let mut options = ConnectOptions::new()
            .with_connect_timeout(config.connect_timeout)
            .with_timeout(config.request_timeout)
            .with_require_leader(true);
        if let Some((name, password)) = &config.user {
            options = options.with_user(name.clone(), password.clone());
        }
        if let Some(tls) = &config.tls {
            let mut client_tls = etcd_client::TlsOptions::new()
                .ca_certificate(etcd_client::Certificate::from_pem(&tls.ca_pem));
            if let Some((cert, key)) = &tls.client_identity {
                client_tls = client_tls.identity(etcd_client::Identity::from_pem(cert, key));
            }
            if let Some(name) = &tls.domain_name {
                client_tls = client_tls.domain_name(name.clone());
            }
            options = options.with_tls(client_tls);
        }
        let members = Members::connect(&config.endpoints, &options)
            .await
            .map_err(unavailable)?;
        Ok(EtcdStore {
            members: Arc::new(members),
            prefix: config.key_prefix,
        })
    }

    fn full(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + key.len());
        k.extend_from_slice(&self.prefix);
        k.extend_from_slice(key);
        k
    }

    fn convert(&self, kv: &etcd_client::KeyValue) -> KeyValue {
        KeyValue {
            key: Bytes::copy_from_slice(
                kv.key()
                    .strip_prefix(self.prefix.as_slice())
                    .unwrap_or(kv.key()),
            ),
            value: Bytes::copy_from_slice(kv.value()),
            create_revision: rev(kv.create_revision()),
            mod_revision: rev(kv.mod_revision()),
            version: kv.version().max(0) as u64,
        }
    }

    /// Whether a read at `revision` is still served (not compacted away).
    async fn readable_at(&self, revision: Revision) -> Result<bool, StoreError> {
        let options = GetOptions::new()
            .with_count_only()
            .with_revision(revision as i64);
        match retrying(&self.members, |client| {
            let (mut kv, key, options) =
                (client.kv_client(), self.full(PROBE_KEY), options.clone());
            async move { kv.get(key, Some(options)).await }
        })
        .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.to_string()
                    .contains("required revision has been compacted") =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The store's compaction point: the oldest revision still readable. etcd does not
    /// report it on reads, so it is found by bisecting with count-only reads (a few
    /// round trips; used only on errors and for `compact_revision`).
    async fn probe_compact_revision(&self) -> Result<Revision, StoreError> {
        let current = self.current().await?;
        if current <= 1 || self.readable_at(1).await? {
            return Ok(0);
        }
        let (mut unreadable, mut readable) = (1, current);
        while readable - unreadable > 1 {
            let mid = unreadable + (readable - unreadable) / 2;
            if self.readable_at(mid).await? {
                readable = mid;
            } else {
                unreadable = mid;
            }
        }
        Ok(readable)
    }

    /// Maps an etcd error on a read at `requested` to the store's errors.
    async fn read_error(&self, e: etcd_client::Error, requested: Revision) -> StoreError {
        let text = e.to_string();
        if text.contains("required revision has been compacted") {
            let compact_revision = self.probe_compact_revision().await.unwrap_or(requested + 1);
            StoreError::Compacted {
                requested,
                compact_revision,
            }
        } else if text.contains("required revision is a future revision") {
            let current = self.current().await.unwrap_or(0);
            StoreError::FutureRevision { requested, current }
        } else {
            unavailable(e)
        }
    }

    async fn current(&self) -> Result<Revision, StoreError> {
        let options = GetOptions::new().with_count_only();
        let resp = retrying(&self.members, |client| {
            let (mut kv, key, options) =
                (client.kv_client(), self.full(PROBE_KEY), options.clone());
            async move { kv.get(key, Some(options)).await }
        })
        .await
        .map_err(unavailable)?;
        Ok(resp.header().map_or(0, |h| rev(h.revision())))
    }

    /// Runs the guarded write `operation` of `key`: `guard` holds, then `then` runs;
    /// otherwise the key is read to explain why.
    async fn guarded(
        &self,
        operation: &str,
        key: &[u8],
        guard: Compare,
        then: TxnOp,
    ) -> Result<(bool, Revision, Vec<TxnOpResponse>), StoreError> {
        let full = self.full(key);
        let txn = Txn::new()
            .when([guard])
            .and_then([then])
            .or_else([TxnOp::get(full, None)]);
        let resp = writing(&self.members, false, |client| {
            let (mut kv, txn) = (client.kv_client(), txn.clone());
            async move { kv.txn(txn).await }
        })
        .await
        .map_err(|failed| write_error(format!("{operation} {}", display_key(key)), failed))?;
        let revision = resp.header().map_or(0, |h| rev(h.revision()));
        Ok((resp.succeeded(), revision, resp.op_responses()))
    }

    fn current_of(&self, responses: &[TxnOpResponse]) -> Option<KeyValue> {
        responses.iter().find_map(|r| match r {
            TxnOpResponse::Get(g) => g.kvs().first().map(|kv| self.convert(kv)),
            _ => None,
        })
    }
}

fn check_key(key: &[u8]) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::Invalid("key must not be empty".to_owned()));
    }
    Ok(())
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        check_key(key)?;
        let resp = retrying(&self.members, |client| {
            let (mut kv, key) = (client.kv_client(), self.full(key));
            async move { kv.get(key, None).await }
        })
        .await
        .map_err(unavailable)?;
        Ok(resp.kvs().first().map(|kv| self.convert(kv)))
    }

    async fn list(&self, prefix: &[u8], options: ListOptions) -> Result<ListResult, StoreError> {
        let full_prefix = self.full(prefix);
        let end = prefix_range_end(&full_prefix).unwrap_or_else(|| vec![0]);
        let start = match &options.start_after {
            Some(after) if after.as_ref() >= prefix => {
                let mut s = self.full(after);
                s.push(0);
                s
            }
            _ => full_prefix.clone(),
        };
        if start >= end && end != [0] {
            let revision = match options.revision {
                Some(r) => r,
                None => self.current().await?,
            };
            return Ok(ListResult {
                kvs: Vec::new(),
                revision,
                more: false,
            });
        }
        let mut get = GetOptions::new().with_range(end);
        if let Some(r) = options.revision {
            get = get.with_revision(r as i64);
        }
        match options.limit {
            Some(0) => get = get.with_count_only(),
            Some(n) => get = get.with_limit(n as i64),
            None => {}
        }
        let resp = match retrying(&self.members, |client| {
            let (mut kv, start, get) = (client.kv_client(), start.clone(), get.clone());
            async move { kv.get(start, Some(get)).await }
        })
        .await
        {
            Ok(resp) => resp,
            Err(e) => return Err(self.read_error(e, options.revision.unwrap_or(0)).await),
        };
        let revision = options
            .revision
            .unwrap_or_else(|| resp.header().map_or(0, |h| rev(h.revision())));
        let kvs: Vec<KeyValue> = resp.kvs().iter().map(|kv| self.convert(kv)).collect();
        let more = if options.limit == Some(0) {
            resp.count() > 0
        } else {
            resp.more()
        };
        Ok(ListResult {
            kvs,
            revision,
            more,
        })
    }

    async fn create(&self, key: &[u8], value: Bytes) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        let full = self.full(key);
        let guard = Compare::create_revision(full.clone(), CompareOp::Equal, 0);
        let (ok, revision, _) = self
            .guarded("create", key, guard, TxnOp::put(full, value.to_vec(), None))
            .await?;
        if !ok {
            return Err(StoreError::already_exists(key));
        }
        Ok(KeyValue {
            key: Bytes::copy_from_slice(key),
            value,
            create_revision: revision,
            mod_revision: revision,
            version: 1,
        })
    }

    async fn update(
        &self,
        key: &[u8],
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        let full = self.full(key);
        let guard = Compare::mod_revision(full.clone(), CompareOp::Equal, expected as i64);
        let put = TxnOp::put(
            full,
            value.to_vec(),
            Some(PutOptions::new().with_prev_key()),
        );
        let (ok, revision, responses) = self.guarded("update", key, guard, put).await?;
        if !ok {
            return Err(match self.current_of(&responses) {
                None => StoreError::not_found(key),
                Some(current) => StoreError::conflict(key, expected, current.mod_revision),
            });
        }
        let prev = responses.iter().find_map(|r| match r {
            TxnOpResponse::Put(p) => p.prev_key().map(|kv| self.convert(kv)),
            _ => None,
        });
        let (create_revision, version) =
            prev.map_or((revision, 1), |p| (p.create_revision, p.version + 1));
        Ok(KeyValue {
            key: Bytes::copy_from_slice(key),
            value,
            create_revision,
            mod_revision: revision,
            version,
        })
    }

    async fn delete(&self, key: &[u8], expected: Option<Revision>) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        let full = self.full(key);
        let delete = TxnOp::delete(full.clone(), Some(DeleteOptions::new().with_prev_key()));
        let guard = match expected {
            Some(r) => Compare::mod_revision(full, CompareOp::Equal, r as i64),
            None => Compare::create_revision(full, CompareOp::Greater, 0),
        };
        let (ok, _, responses) = self.guarded("delete", key, guard, delete).await?;
        if !ok {
            return Err(match (self.current_of(&responses), expected) {
                (None, _) => StoreError::not_found(key),
                (Some(current), Some(r)) => StoreError::conflict(key, r, current.mod_revision),
                (Some(_), None) => StoreError::not_found(key),
            });
        }
        responses
            .iter()
            .find_map(|r| match r {
                TxnOpResponse::Delete(d) => d.prev_kvs().first().map(|kv| self.convert(kv)),
                _ => None,
            })
            .ok_or_else(|| StoreError::not_found(key))
    }

    async fn watch(
        &self,
        prefix: &[u8],
        after_revision: Revision,
    ) -> Result<WatchStream, StoreError> {
        let mut watch = ResumingWatch {
            store: self.clone(),
            key: self.full(prefix),
            last: after_revision,
            stream: None,
            pending: std::collections::VecDeque::new(),
            member: 0,
            failures: 0,
            done: false,
        };
        // Open it now, so a watch that cannot start fails here rather than later.
        watch.open().await?;
        Ok(Box::pin(futures::stream::unfold(
            watch,
            |mut w| async move {
                let item = w.next_event().await?;
                Some((item, w))
            },
        )))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let current = self.current().await?;
        if revision > current {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current,
            });
        }
        if revision <= self.probe_compact_revision().await? {
            return Ok(());
        }
        // Compacting is repeatable: a second compaction at the same revision is a
        // no-op, answered "required revision has been compacted", which is success.
        let compacted = writing(&self.members, true, |client| async move {
            match client.kv_client().compact(revision as i64, None).await {
                Err(e)
                    if e.to_string()
                        .contains("required revision has been compacted") =>
                {
                    Ok(())
                }
                other => other.map(drop),
            }
        });
        compacted
            .await
            .map_err(|failed| write_error(format!("compact at revision {revision}"), failed))
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.current().await
    }

    async fn compact_revision(&self) -> Result<Revision, StoreError> {
        self.probe_compact_revision().await
    }
}

/// An etcd watch that survives member failures: when the stream breaks, it watches
/// again from the revision after the last event it delivered, so nothing is missed or
/// repeated. It gives up (with `Unavailable`) only after the same bounded retries as
/// requests, and ends with `Compacted` when the history it needs is gone.
struct ResumingWatch {
    store: EtcdStore,
    key: Vec<u8>,
    /// The revision of the last event delivered (or the starting point).
    last: Revision,
    stream: Option<etcd_client::WatchStream>,
    pending: std::collections::VecDeque<WatchEvent>,
    /// The member the stream was opened on, to fail over from.
    member: usize,
    failures: u32,
    done: bool,
}

impl ResumingWatch {
    async fn open(&mut self) -> Result<(), StoreError> {
        let end = prefix_range_end(&self.key).unwrap_or_else(|| vec![0]);
        let options = WatchOptions::new()
            .with_range(end)
            .with_prev_key()
            .with_start_revision(self.last as i64 + 1);
        let (member, client) = self.store.members.pinned();
        self.member = member;
        let mut client = client.watch_client();
        let stream = client
            .watch(self.key.clone(), Some(options))
            .await
            .map_err(unavailable)?;
        self.stream = Some(stream);
        Ok(())
    }

    async fn next_event(&mut self) -> Option<Result<WatchEvent, StoreError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last = event.revision();
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            if self.stream.is_none() {
                if let Err(e) = self.open().await {
                    if let Some(err) = self.failed(e).await {
                        return Some(Err(err));
                    }
                    continue;
                }
            }
            let next = self.stream.as_mut().expect("opened above").next().await;
            match next {
                Some(Ok(resp)) => {
                    if resp.compact_revision() > 0 {
                        self.done = true;
                        return Some(Err(StoreError::Compacted {
                            requested: self.last,
                            compact_revision: rev(resp.compact_revision()),
                        }));
                    }
                    if resp.canceled() {
                        self.stream = None;
                        let reason = format!("etcd cancelled the watch: {}", resp.cancel_reason());
                        if let Some(err) = self.failed(StoreError::unavailable(reason)).await {
                            return Some(Err(err));
                        }
                        continue;
                    }
                    self.failures = 0;
                    for event in resp.events() {
                        let Some(kv) = event.kv() else { continue };
                        self.pending.push_back(match event.event_type() {
                            EventType::Put => WatchEvent::Put {
                                kv: self.store.convert(kv),
                            },
                            EventType::Delete => WatchEvent::Delete {
                                prev: event.prev_kv().map_or_else(
                                    || self.store.convert(kv),
                                    |p| self.store.convert(p),
                                ),
                                revision: rev(kv.mod_revision()),
                            },
                        });
                    }
                }
                Some(Err(e)) => {
                    self.stream = None;
                    if let Some(err) = self.failed(unavailable(e)).await {
                        return Some(Err(err));
                    }
                }
                None => self.stream = None,
            }
        }
    }

    /// Counts a failure and waits before the next attempt; returns the error to end
    /// with once the retries are used up.
    async fn failed(&mut self, e: StoreError) -> Option<StoreError> {
        self.store.members.fail_over(self.member);
        self.failures += 1;
        if self.failures > RETRIES {
            self.done = true;
            return Some(e);
        }
        let delay = Duration::from_millis(50 << self.failures.min(5)).min(Duration::from_secs(1));
        tokio::time::sleep(delay).await;
        None
    }
}
