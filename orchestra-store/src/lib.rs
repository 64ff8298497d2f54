//! # orchestra-store
//!
//! Where Orchestra's state lives: implementations of [`orchestra_core::Store`], and the
//! conformance kit every implementation must pass.
//!
//! - [`MemoryStore`]: in-process, MVCC, bounded history — the embedded default and
//!   the reference for the others.
//! - `DurableStore` (feature `durable`, on by default): on disk in one directory,
//!   crash-safe, with group commit; reads and watches served from memory.
//! - `EtcdStore` (feature `etcd`): a real etcd v3 cluster.
//! - `testing` (feature `testing`): the conformance suite, `testing::run_all`.

#[cfg(feature = "durable")]
mod durable;
#[cfg(feature = "etcd")]
mod etcd;
mod memory;
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "durable")]
pub use durable::{DurableStore, DurableStoreConfig};
#[cfg(feature = "etcd")]
pub use etcd::{EtcdStore, EtcdStoreConfig, EtcdTls};
pub use memory::{MemoryStore, MemoryStoreConfig};
