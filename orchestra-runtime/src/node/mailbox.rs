//! A mailbox: the unbounded queue of pod events a [`PodDispatcher`](super::PodDispatcher)
//! keeps for each agent it feeds, with a channel's ends and guarantees (events in
//! order; the receiver learns when every sender is gone; a send to a dropped receiver
//! fails).
//!
//! A process simulating 5,000 nodes holds 5,000 of them, nearly all empty, as an agent
//! takes each event as soon as it arrives. A channel keeps blocks of 32 slots per
//! receiver once it has been used (two kilobytes, more than the agent's pods take);
//! a mailbox keeps a small buffer, and gives back what a burst grew it to once it
//! is empty again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use orchestra_core::kinds::Pod;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::reconcile::InformerEvent;

/// The slots an empty mailbox keeps: a few events at a time need no allocation.
const KEPT_SLOTS: usize = 4;

struct Shared {
    events: Mutex<VecDeque<InformerEvent<Pod>>>,
    arrived: Notify,
    senders: AtomicUsize,
    receiver_gone: AtomicBool,
}

/// A new mailbox's two ends.
pub(crate) fn mailbox() -> (MailboxSender, MailboxReceiver) {
    let shared = Arc::new(Shared {
        events: Mutex::new(VecDeque::new()),
        arrived: Notify::new(),
        senders: AtomicUsize::new(1),
        receiver_gone: AtomicBool::new(false),
    });
    (MailboxSender(shared.clone()), MailboxReceiver(shared))
}

/// The sending end; clones send to the same mailbox.
pub(crate) struct MailboxSender(Arc<Shared>);

impl MailboxSender {
    /// Queues `event`; hands it back if the receiver is gone.
    pub(crate) fn send(&self, event: InformerEvent<Pod>) -> Result<(), InformerEvent<Pod>> {
        if self.0.receiver_gone.load(Ordering::Acquire) {
            return Err(event);
        }
        self.0.events.lock().push_back(event);
        // A permit is kept if the receiver is not waiting yet: no wake-up is lost.
        self.0.arrived.notify_one();
        Ok(())
    }
}

impl Clone for MailboxSender {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::Relaxed);
        MailboxSender(self.0.clone())
    }
}

impl Drop for MailboxSender {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.arrived.notify_one();
        }
    }
}

/// The receiving end.
pub(crate) struct MailboxReceiver(Arc<Shared>);

impl MailboxReceiver {
    /// The next event, waiting for one; `None` once every sender is gone and every
    /// event taken.
    pub(crate) async fn recv(&mut self) -> Option<InformerEvent<Pod>> {
        loop {
            if let Some(event) = self.take() {
                return Some(event);
            }
            if self.0.senders.load(Ordering::Acquire) == 0 {
                // A last send happened before the count fell: look once more.
                return self.take();
            }
            self.0.arrived.notified().await;
        }
    }

    fn take(&self) -> Option<InformerEvent<Pod>> {
        let mut events = self.0.events.lock();
        let event = events.pop_front();
        if events.is_empty() && events.capacity() > KEPT_SLOTS {
            events.shrink_to(KEPT_SLOTS);
        }
        event
    }
}

impl Drop for MailboxReceiver {
    fn drop(&mut self) {
        self.0.receiver_gone.store(true, Ordering::Release);
        // What is queued will never be taken: free it now, not with the last sender.
        std::mem::take(&mut *self.0.events.lock());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pod(name: &str) -> InformerEvent<Pod> {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.into());
        InformerEvent::Added(Arc::new(pod))
    }

    fn name(event: &InformerEvent<Pod>) -> &str {
        event.object().metadata.name.as_deref().unwrap_or("")
    }

    #[tokio::test(start_paused = true)]
    async fn events_arrive_in_order_and_the_end_is_seen() {
        let (tx, mut rx) = mailbox();
        let tx2 = tx.clone();
        tx.send(pod("a")).unwrap();
        tx2.send(pod("b")).unwrap();
        assert_eq!(rx.recv().await.as_ref().map(name), Some("a"));
        assert_eq!(rx.recv().await.as_ref().map(name), Some("b"));

        // A receiver waiting is woken by a send.
        let waiting = tokio::spawn(async move {
            let first = rx.recv().await.map(|e| name(&e).to_owned());
            let end = rx.recv().await.is_none();
            (first, end, rx)
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        tx.send(pod("c")).unwrap();
        drop(tx);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished(), "one sender is left");
        drop(tx2);
        let (first, end, _rx) = waiting.await.unwrap();
        assert_eq!(first.as_deref(), Some("c"));
        assert!(end, "every sender gone");
    }

    #[tokio::test]
    async fn events_sent_before_the_last_sender_goes_are_received() {
        let (tx, mut rx) = mailbox();
        tx.send(pod("a")).unwrap();
        drop(tx);
        assert_eq!(rx.recv().await.as_ref().map(name), Some("a"));
        assert!(rx.recv().await.is_none());
    }

    #[test]
    fn a_send_to_a_dropped_receiver_fails() {
        let (tx, rx) = mailbox();
        tx.send(pod("a")).unwrap();
        drop(rx);
        assert!(tx.send(pod("b")).is_err());
        assert!(tx.0.events.lock().is_empty(), "what was queued is freed");
    }

    #[tokio::test]
    async fn a_burst_is_given_back_once_taken() {
        let (tx, mut rx) = mailbox();
        for i in 0..100 {
            tx.send(pod(&i.to_string())).unwrap();
        }
        for i in 0..100 {
            assert_eq!(rx.recv().await.as_ref().map(name), Some(&*i.to_string()));
        }
        assert!(rx.0.events.lock().capacity() <= KEPT_SLOTS);
    }
}
