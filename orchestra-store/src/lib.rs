//! # orchestra-store
//!
//! Where Orchestra's state lives: implementations of [`orchestra_core::Store`], and the
//! conformance kit every implementation must pass.
//!
//! - [`MemoryStore`]: in-process, MVCC, bounded history — the embedded default and
//!   the reference for the others.
//! - `testing` (feature `testing`): the conformance suite, `testing::run_all`.

mod memory;
#[cfg(feature = "testing")]
pub mod testing;

pub use memory::{MemoryStore, MemoryStoreConfig};
