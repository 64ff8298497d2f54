//! # orchestra-store
//!
//! Where Orchestra's state lives: implementations of [`orchestra_core::Store`], and the
//! conformance kit every implementation must pass.
