//! [`StoreSpec`]: a store named in one string (`memory`, `durable:PATH`, `etcd:URL`),
//! as a command line or a config file names it, and opened into an `Arc<dyn Store>`.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use orchestra_core::Store;
use orchestra_store::{DurableStore, MemoryStore};

use super::ClusterError;

/// Which store backend to open.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreSpec {
    /// An in-process [`MemoryStore`]: `memory`.
    Memory,
    /// A [`DurableStore`] in a directory: `durable:PATH`.
    Durable(PathBuf),
    /// An etcd cluster (feature `etcd`): `etcd:URL[,URL...]`.
    Etcd(Vec<String>),
}

impl FromStr for StoreSpec {
    type Err = ClusterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| ClusterError::InvalidStore {
            given: s.to_owned(),
            reason: reason.to_owned(),
        };
        let (kind, rest) = match s.split_once(':') {
            Some((kind, rest)) => (kind, Some(rest)),
            None => (s, None),
        };
        match (kind, rest) {
            ("memory", None) => Ok(StoreSpec::Memory),
            ("memory", Some(_)) => Err(invalid("`memory` takes no argument")),
            ("durable", Some(path)) if !path.is_empty() => {
                Ok(StoreSpec::Durable(PathBuf::from(path)))
            }
            ("durable", _) => Err(invalid("expected `durable:PATH`")),
            ("etcd", Some(urls)) if !urls.is_empty() => Ok(StoreSpec::Etcd(
                urls.split(',').map(str::to_owned).collect(),
            )),
            ("etcd", _) => Err(invalid(
                "expected `etcd:URL` (several URLs separated by commas)",
            )),
            _ => Err(invalid("expected `memory`, `durable:PATH` or `etcd:URL`")),
        }
    }
}

impl std::fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSpec::Memory => f.write_str("memory"),
            StoreSpec::Durable(path) => write!(f, "durable:{}", path.display()),
            StoreSpec::Etcd(urls) => write!(f, "etcd:{}", urls.join(",")),
        }
    }
}

impl StoreSpec {
    /// Opens (or connects to) the store. A `durable` store's directory is created if
    /// needed; an `etcd` store needs this crate's `etcd` feature, and says so
    /// ([`ClusterError::FeatureDisabled`]) without it.
    pub async fn open(&self) -> Result<Arc<dyn Store>, ClusterError> {
        match self {
            StoreSpec::Memory => Ok(Arc::new(MemoryStore::new())),
            StoreSpec::Durable(path) => {
                // Opening reads the whole store back: blocking work, off the runtime.
                let path = path.clone();
                let store = tokio::task::spawn_blocking(move || DurableStore::open(path))
                    .await
                    .map_err(|e| {
                        ClusterError::Store(orchestra_core::StoreError::unavailable(format!(
                            "opening the durable store panicked: {e}"
                        )))
                    })?
                    .map_err(ClusterError::Store)?;
                Ok(Arc::new(store))
            }
            StoreSpec::Etcd(urls) => open_etcd(urls).await,
        }
    }
}

#[cfg(feature = "etcd")]
async fn open_etcd(urls: &[String]) -> Result<Arc<dyn Store>, ClusterError> {
    use orchestra_store::{EtcdStore, EtcdStoreConfig};
    let store = EtcdStore::connect(EtcdStoreConfig::new(urls.iter().cloned()))
        .await
        .map_err(ClusterError::Store)?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "etcd"))]
async fn open_etcd(_urls: &[String]) -> Result<Arc<dyn Store>, ClusterError> {
    Err(ClusterError::FeatureDisabled {
        what: "etcd store",
        feature: "etcd",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_descriptions_parse_and_print_back() {
        for text in [
            "memory",
            "durable:/var/lib/orchestra",
            "etcd:http://127.0.0.1:2379",
        ] {
            let spec: StoreSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!(
            "etcd:http://a:2379,http://b:2379"
                .parse::<StoreSpec>()
                .unwrap(),
            StoreSpec::Etcd(vec!["http://a:2379".into(), "http://b:2379".into()])
        );
    }

    #[test]
    fn bad_descriptions_say_what_was_expected() {
        for text in ["", "durable", "durable:", "etcd", "mongo:x", "memory:x"] {
            let err = text.parse::<StoreSpec>().unwrap_err().to_string();
            assert!(
                err.contains("expected") || err.contains("argument"),
                "{text}: {err}"
            );
        }
    }
}
