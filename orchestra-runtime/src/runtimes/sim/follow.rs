//! Following a simulated container's log: no task and no timer of its own, a follower
//! sleeps until the container's next scheduled change (its start or exit) or until the
//! runtime signals an unscheduled one (a write, a stop, a kill, a removal).

use bytes::Bytes;
use orchestra_core::runtime::ContainerId;

use super::SimRuntime;

/// A `follow` log reader: yields what is written after `offset` until the container
/// has exited (or is removed).
pub(super) struct Follower {
    pub runtime: SimRuntime,
    pub id: ContainerId,
    pub offset: u64,
}

impl Follower {
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            let inner = self.runtime.inner.clone();
            let changed = inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let offset = self.offset;
            let step = self
                .runtime
                .with(&self.id, |c, now| {
                    if let Some(log) = c.visible_log(now) {
                        let new = log.since(offset);
                        if !new.is_empty() {
                            return Err((Bytes::copy_from_slice(new), log.end()));
                        }
                    }
                    if c.exit_at(now).is_some() {
                        return Ok(None);
                    }
                    Ok(Some(c.next_change(now)))
                })
                .ok()?;
            match step {
                Err((chunk, end)) => {
                    self.offset = end;
                    return Some(chunk);
                }
                Ok(None) => return None,
                Ok(Some(Some(wake))) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(wake) => {}
                        () = &mut changed => {}
                    }
                }
                Ok(Some(None)) => changed.await,
            }
        }
    }
}
