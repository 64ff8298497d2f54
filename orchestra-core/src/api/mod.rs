//! The typed object API.

/// Placeholder until the typed API lands.
pub struct Api;
/// Placeholder.
pub struct ApiError;
/// Placeholder.
pub struct Client;
