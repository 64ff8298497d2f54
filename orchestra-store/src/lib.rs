//! # orchestra-store
//!
//! Where Orchestra's state lives: implementations of [`orchestra_core::Store`], and the
//! conformance kit every implementation must pass.
//!
//! - [`MemoryStore`]: in-process, MVCC, bounded history — the embedded default and
//!   the reference for the others.
//! - `testing` (feature `testing`): the conformance suite, `testing::run_all`.

#[cfg(feature = "etcd")]
mod etcd;
mod memory;
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "etcd")]
pub use etcd::{EtcdStore, EtcdStoreConfig};
pub use memory::{MemoryStore, MemoryStoreConfig};
