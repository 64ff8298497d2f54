//! [`Client`]: a handle on one cluster's state — the store, the clock, and the
//! settings every [`Api`](super::Api) shares.

use std::sync::Arc;

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::store::Store;
use crate::time::Clock;

/// etcd's default request size limit, which Kubernetes objects live within.
pub const DEFAULT_MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// The key prefix objects are stored under by default.
pub const DEFAULT_KEY_PREFIX: &str = "/registry";

/// Settings for a [`Client`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Largest encoded object accepted, in bytes (default 1.5 MiB, like etcd).
    pub max_object_bytes: usize,
    /// Prefix of every object key (default `/registry`). Several clusters can share one
    /// store under different prefixes.
    pub key_prefix: String,
    /// Seed for generated uids and names; `None` seeds from the OS. A fixed seed makes a
    /// simulated cluster repeat exactly.
    pub seed: Option<u64>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            seed: None,
        }
    }
}

impl ClientConfig {
    /// Sets the largest encoded object accepted.
    #[must_use]
    pub fn max_object_bytes(mut self, bytes: usize) -> Self {
        self.max_object_bytes = bytes;
        self
    }

    /// Sets the key prefix (it must start with `/` and not end with one).
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Fixes the seed of generated uids and names.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

/// A handle on one cluster's state, shared by every [`Api`](super::Api) made from it.
///
/// Cheap to clone. A client over a remote API server can later implement the same
/// calls, so code written against `Api<K>` runs unchanged on another machine.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    store: Arc<dyn Store>,
    clock: Clock,
    config: ClientConfig,
    rng: Mutex<SmallRng>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client over `store` with the default settings and a clock following tokio time.
    pub fn new(store: Arc<dyn Store>) -> Client {
        Client::with_config(store, Clock::new(), ClientConfig::default())
    }

    /// A client with an explicit clock and settings.
    pub fn with_config(store: Arc<dyn Store>, clock: Clock, config: ClientConfig) -> Client {
        let key_prefix = config.key_prefix.trim_end_matches('/').to_owned();
        let config = ClientConfig {
            key_prefix,
            ..config
        };
        let rng = match config.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        Client {
            inner: Arc::new(ClientInner {
                store,
                clock,
                config,
                rng: Mutex::new(rng),
            }),
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The cluster's clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The client's settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// A fresh RFC 4122 version-4 uid.
    pub fn new_uid(&self) -> String {
        let bits: u128 = self.inner.rng.lock().random();
        let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
        let hex = format!("{bits:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// A random suffix for `generateName`: five characters from Kubernetes' alphabet
    /// (no vowels, so no words; no look-alike characters).
    pub fn name_suffix(&self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut rng = self.inner.rng.lock();
        (0..5)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_repeat_and_look_like_uuids() {
        let store: Arc<dyn Store> = Arc::new(crate::api::tests::NullStore);
        let a = Client::with_config(store.clone(), Clock::new(), ClientConfig::default().seed(7));
        let b = Client::with_config(store, Clock::new(), ClientConfig::default().seed(7));
        let uid = a.new_uid();
        assert_eq!(uid, b.new_uid());
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4", "version nibble in {uid}");
        assert!(
            matches!(&uid[19..20], "8" | "9" | "a" | "b"),
            "variant in {uid}"
        );
        assert_eq!(a.name_suffix(), b.name_suffix());
    }
}
