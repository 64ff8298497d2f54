//! Leader election over a Lease, in paused virtual time: one leader among racing
//! candidates, failover within lease duration + retry period when the holder stops
//! renewing, and a partitioned leader's controllers stopping before anyone else leads.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::{Widget, memory_client};
use orchestra::core::api::{Call, Intercept};
use orchestra::core::{Api, ApiError, Client, Clock};
use orchestra::runtime::reconcile::{
    Action, Context, Controller, LeaderElectionConfig, LeaderElector, Manager,
};
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn config(identity: &str) -> LeaderElectionConfig {
    LeaderElectionConfig::new("default", "controller-manager", identity)
}

fn spawn_elector(elector: &Arc<LeaderElector>) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let token = CancellationToken::new();
    let (e, t) = (elector.clone(), token.clone());
    (token, tokio::spawn(async move { e.run(t).await }))
}

#[tokio::test(start_paused = true)]
async fn racing_candidates_elect_exactly_one_leader() {
    let (client, _) = memory_client();
    let electors: Vec<Arc<LeaderElector>> = (0..3)
        .map(|i| {
            Arc::new(LeaderElector::new(
                client.clone(),
                config(&format!("cand-{i}")),
            ))
        })
        .collect();
    let _running: Vec<_> = electors.iter().map(spawn_elector).collect();
    for _ in 0..300 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let leaders = electors.iter().filter(|e| e.is_leader()).count();
        assert!(leaders <= 1, "{leaders} leaders at once");
    }
    assert_eq!(
        electors.iter().filter(|e| e.is_leader()).count(),
        1,
        "someone leads after a minute"
    );
}

#[tokio::test(start_paused = true)]
async fn a_crashed_leader_is_replaced_after_the_lease_expires() {
    let (client, _) = memory_client();
    let first = Arc::new(LeaderElector::new(client.clone(), config("first")));
    let (_t1, task1) = spawn_elector(&first);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(first.is_leader());
    let second = Arc::new(LeaderElector::new(client.clone(), config("second")));
    let (_t2, _task2) = spawn_elector(&second);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        !second.is_leader(),
        "the second waits while the first renews"
    );

    // The first crashes: it stops renewing without releasing.
    task1.abort();
    let crashed = Instant::now();
    while !second.is_leader() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            crashed.elapsed() <= Duration::from_secs(17) + Duration::from_millis(200),
            "no failover within lease duration + retry period"
        );
    }
    let took = crashed.elapsed();
    assert!(
        took >= Duration::from_secs(13),
        "took over after {took:?}, before the lease could have expired"
    );
    let lease = Api::<orchestra::core::kinds::Lease>::namespaced(client, "default")
        .get("controller-manager")
        .await
        .unwrap();
    assert_eq!(lease.spec.holder_identity.as_deref(), Some("second"));
    assert_eq!(lease.spec.lease_transitions, Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_stops_gracefully_releases_the_lease() {
    let (client, _) = memory_client();
    let first = Arc::new(LeaderElector::new(client.clone(), config("first")));
    let (stop1, task1) = spawn_elector(&first);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = Arc::new(LeaderElector::new(client.clone(), config("second")));
    let (_t2, _task2) = spawn_elector(&second);
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop1.cancel();
    task1.await.unwrap();
    assert!(!first.is_leader());
    let stopped = Instant::now();
    while !second.is_leader() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        stopped.elapsed() <= Duration::from_secs(5),
        "a released lease is taken within a few retry periods, took {:?}",
        stopped.elapsed()
    );
}

/// Records which manager reconciled when.
struct Tagged {
    manager: &'static str,
    log: Arc<Mutex<Vec<(&'static str, Instant)>>>,
}

#[async_trait]
impl Controller for Tagged {
    type Object = Widget;
    type Error = std::convert::Infallible;

    fn name(&self) -> &str {
        "tagged"
    }

    async fn reconcile(
        &self,
        _obj: Arc<Widget>,
        _ctx: &Context<Widget>,
    ) -> Result<Action, Self::Error> {
        self.log.lock().push((self.manager, Instant::now()));
        Ok(Action::requeue(Duration::from_millis(500)))
    }
}

#[tokio::test(start_paused = true)]
async fn a_partitioned_leader_stops_its_controllers_before_another_leads() {
    let (client, _) = memory_client();
    Api::<Widget>::namespaced(client.clone(), "default")
        .create(&Widget::new("w", 1))
        .await
        .unwrap();
    // Manager a reaches the API over a link a network partition can cut.
    let cut = Arc::new(AtomicBool::new(false));
    let link = Intercept::over(client.service().clone()).before({
        let cut = cut.clone();
        move |_: &Call<'_>| {
            if cut.load(Ordering::SeqCst) {
                Err(ApiError::unavailable("partitioned"))
            } else {
                Ok(())
            }
        }
    });
    let cut_client = Client::over(Arc::new(link), Clock::new());
    let log = Arc::new(Mutex::new(Vec::new()));

    let mut a = Manager::new(cut_client).leader_election(config("a"));
    a = a.controller(Tagged {
        manager: "a",
        log: log.clone(),
    });
    let a_health = a.watch_health();
    let stop = CancellationToken::new();
    let (t, s) = (stop.clone(), stop.clone());
    tokio::spawn(async move { a.run(t).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(a_health.borrow().leader, "a leads first");

    let mut b = Manager::new(client.clone()).leader_election(config("b"));
    b = b.controller(Tagged {
        manager: "b",
        log: log.clone(),
    });
    let b_health = b.watch_health();
    tokio::spawn(async move { b.run(s).await });
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!b_health.borrow().leader, "b waits while a renews");

    cut.store(true, Ordering::SeqCst);
    let cut_at = Instant::now();
    let mut a_stopped = None;
    let mut b_started = None;
    while b_started.is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if a_stopped.is_none() && !a_health.borrow().controllers_running {
            a_stopped = Some(Instant::now());
        }
        if b_health.borrow().controllers_running {
            b_started = Some(Instant::now());
        }
        assert!(cut_at.elapsed() < Duration::from_secs(30), "no failover");
    }
    let (a_stopped, b_started) = (a_stopped.expect("a stepped down"), b_started.unwrap());
    assert!(
        a_stopped < b_started,
        "a's controllers stopped before b's started"
    );
    let log = log.lock();
    let last_a = log
        .iter()
        .filter(|(m, _)| *m == "a")
        .map(|(_, t)| *t)
        .max()
        .unwrap();
    let first_b = log
        .iter()
        .filter(|(m, _)| *m == "b")
        .map(|(_, t)| *t)
        .min()
        .unwrap();
    assert!(last_a < first_b, "no reconcile of a after b began");
    stop.cancel();
}
