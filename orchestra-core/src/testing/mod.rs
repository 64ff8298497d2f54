//! Conformance kits that live with the traits they check (feature `testing`).
//!
//! [`api`] holds any [`ObjectService`](crate::ObjectService) — the in-process
//! [`Registry`](crate::Registry), an HTTP client of a remote server, a middleware — to
//! the object API's contracts. The Store kit lives in `orchestra_store::testing` and
//! the Runtime kit in `orchestra_runtime::testing`; all three run on the harness of
//! [`conformance`](crate::conformance).

pub mod api;
