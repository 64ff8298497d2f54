//! One client per etcd member, and the member requests go to.

use std::sync::atomic::{AtomicUsize, Ordering};

use etcd_client::{Client, ConnectOptions};

/// The members' clients, one each, and the one requests go to now.
///
/// Requests stay on one member until it fails one for want of a connection or a
/// leader; then they move to the next, as etcd's own client pins an endpoint and
/// switches on failure. One client balancing over every member is not enough: its
/// balancer (tonic's) counts a member that refuses connections as ready and, since it
/// fails at once, as the least loaded, so it keeps choosing the member that was killed
/// and a request's retries can all go there.
pub(super) struct Members {
    clients: Vec<Client>,
    pinned: AtomicUsize,
}

impl Members {
    /// A client for each of `endpoints`. Clients connect lazily, so a member that is
    /// down now is used once it is back; only a client that cannot even be built (a
    /// malformed endpoint, a rejected login) is left out, with a warning, and it is an
    /// error only when no member is left.
    pub(super) async fn connect(
        endpoints: &[String],
        options: &ConnectOptions,
    ) -> Result<Members, etcd_client::Error> {
        let mut clients = Vec::with_capacity(endpoints.len());
        let mut last_error = None;
        for endpoint in endpoints {
            match Client::connect([endpoint], Some(options.clone())).await {
                Ok(client) => clients.push(client),
                Err(error) => {
                    tracing::warn!(%endpoint, %error, "cannot use this etcd member");
                    last_error = Some(error);
                }
            }
        }
        if clients.is_empty() {
            return Err(last_error
                .unwrap_or_else(|| etcd_client::Error::InvalidArgs("no endpoints".to_owned())));
        }
        Ok(Members {
            clients,
            pinned: AtomicUsize::new(0),
        })
    }

    /// The member requests go to now: its place (for [`fail_over`](Self::fail_over))
    /// and its client.
    pub(super) fn pinned(&self) -> (usize, Client) {
        let at = self.pinned.load(Ordering::Relaxed);
        (at, self.clients[at].clone())
    }

    /// Moves requests from member `at` to the next one, unless a request that failed
    /// there too has moved them already.
    pub(super) fn fail_over(&self, at: usize) {
        let next = (at + 1) % self.clients.len();
        let _ = self
            .pinned
            .compare_exchange(at, next, Ordering::Relaxed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_move_on_once_per_failed_member_and_wrap_around() {
        // Nothing listens on these ports: clients connect lazily, so they are built.
        let endpoints: Vec<String> = (1..=3).map(|p| format!("http://127.0.0.1:{p}")).collect();
        let members = Members::connect(&endpoints, &ConnectOptions::new())
            .await
            .unwrap();
        assert_eq!(members.pinned().0, 0);
        members.fail_over(0);
        assert_eq!(members.pinned().0, 1);
        // A second request that failed on member 0 finds them moved already.
        members.fail_over(0);
        assert_eq!(members.pinned().0, 1);
        members.fail_over(1);
        members.fail_over(2);
        assert_eq!(
            members.pinned().0,
            0,
            "after the last member, the first again"
        );
    }

    #[tokio::test]
    async fn no_endpoints_is_an_error() {
        assert!(Members::connect(&[], &ConnectOptions::new()).await.is_err());
    }
}
