//! Feeding pods to agents: a [`PodFeed`] is what one agent consumes; a
//! [`PodDispatcher`] serves many in-process agents from one shared pod informer,
//! routing each event by `spec.nodeName` (as Kubernetes' watch cache does with its
//! triggers), so the decoded pods are shared and no agent filters other nodes' events.
//! Each routed feed's events wait in a small [mailbox](super::mailbox) rather than a
//! channel: thousands of them are held, nearly all empty.

use std::collections::HashMap;
use std::sync::Arc;

use orchestra_core::kinds::Pod;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::mailbox::{MailboxReceiver, MailboxSender, mailbox};
use crate::controllers::node_lifecycle::{INDEX_NODE_NAME, pod_node_name};
use crate::reconcile::{Cache, Informer, InformerEvent, Subscription};

/// The pods one agent runs: a cache to read them from (it may hold other nodes' pods
/// too) and the events of its own node's pods.
pub struct PodFeed {
    pub(crate) cache: Cache<Pod>,
    pub(crate) events: PodEvents,
}

impl PodFeed {
    /// A feed from a cache and a stream of the node's pod events. The stream must
    /// start with every existing pod of the node (as an informer subscription does).
    pub fn new(cache: Cache<Pod>, events: Subscription<Pod>) -> PodFeed {
        PodFeed {
            cache,
            events: PodEvents::Subscription(events),
        }
    }
}

/// Where a feed's events come from.
pub(crate) enum PodEvents {
    /// An informer's subscription (an agent's own informer, or a caller's stream).
    Subscription(Subscription<Pod>),
    /// A [`PodDispatcher`]'s mailbox.
    Routed(MailboxReceiver),
}

impl PodEvents {
    /// The next event; `None` once the stream has ended.
    pub(crate) async fn recv(&mut self) -> Option<InformerEvent<Pod>> {
        match self {
            PodEvents::Subscription(events) => events.recv().await,
            PodEvents::Routed(events) => events.recv().await,
        }
    }
}

type Routes = HashMap<String, MailboxSender>;

/// Routes one pod informer's events to per-node feeds.
#[derive(Clone)]
pub struct PodDispatcher {
    informer: Arc<Informer<Pod>>,
    routes: Arc<Mutex<Routes>>,
}

impl PodDispatcher {
    /// A dispatcher over `informer` (of all pods). It indexes the informer by node
    /// name; [`run`](Self::run) must be running for feeds to receive events.
    pub fn new(informer: Arc<Informer<Pod>>) -> PodDispatcher {
        informer.add_index(INDEX_NODE_NAME, pod_node_name);
        PodDispatcher {
            informer,
            routes: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The feed of node `node`, replacing an earlier one for the same node: it starts
    /// with the node's pods already cached, then receives every event of the node's
    /// pods.
    pub fn feed(&self, node: &str) -> PodFeed {
        let (tx, rx) = mailbox();
        let cache = self.informer.cache();
        // Routed first, then replayed: an event in between may arrive twice, which an
        // agent (it only queues the pod) does not mind; none is lost.
        self.routes.lock().insert(node.to_owned(), tx.clone());
        for pod in cache.by_index(INDEX_NODE_NAME, node) {
            let _ = tx.send(InformerEvent::Added(pod));
        }
        PodFeed {
            cache,
            events: PodEvents::Routed(rx),
        }
    }

    /// Stops routing to node `node` (its agent is gone).
    pub fn remove(&self, node: &str) {
        self.routes.lock().remove(node);
    }

    /// Routes events until `cancel` fires. Routing happens as the informer applies
    /// each change (an informer handler), so events wait only in the feeds of agents
    /// that have not taken them yet.
    pub async fn run(&self, cancel: CancellationToken) {
        let routes = self.routes.clone();
        let _routing = self
            .informer
            .add_handler(move |event: &InformerEvent<Pod>| {
                let Some(node) = event.object().node_name() else {
                    return;
                };
                let mut routes = routes.lock();
                if let Some(tx) = routes.get(node)
                    && tx.send(event.clone()).is_err()
                {
                    routes.remove(node);
                }
            });
        cancel.cancelled().await;
    }
}
