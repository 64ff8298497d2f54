//! Randomized checks of the two invariants that matter most: a key is never in flight
//! twice, and no add is lost. Many workers over many keys (in virtual time, and on
//! real threads), and a proptest of random operations against a reference model.

use proptest::prelude::*;

use super::*;

// Randomized: many workers, many keys.

/// splitmix64: a seeded generator good enough to shuffle test schedules.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

/// What the workers and the adder saw, in one logical order (one current-thread
/// runtime, so there is no preemption between handing out and recording).
#[derive(Default)]
struct Log {
    clock: u64,
    in_flight: HashSet<String>,
    last_add: HashMap<String, u64>,
    last_start: HashMap<String, u64>,
}

#[tokio::test(start_paused = true)]
async fn many_workers_never_run_a_key_twice_at_once_and_lose_no_add() {
    for seed in 0..8u64 {
        run_many_workers(seed).await;
    }
}

async fn run_many_workers(seed: u64) {
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default().max_backoff(100 * MS));
    let log = Arc::new(parking_lot::Mutex::new(Log::default()));
    let workers: Vec<_> = (0..8u64)
        .map(|worker| {
            let (queue, log) = (queue.clone(), log.clone());
            tokio::spawn(async move {
                let mut rng = Rng(seed * 1000 + worker);
                while let Some(item) = queue.next().await {
                    {
                        let mut log = log.lock();
                        log.clock += 1;
                        let start = log.clock;
                        assert!(
                            log.in_flight.insert(item.key().clone()),
                            "seed {seed}: {} handed out while in flight",
                            item.key()
                        );
                        log.last_start.insert(item.key().clone(), start);
                    }
                    sleep(ms(rng.below(5))).await;
                    log.lock().in_flight.remove(item.key());
                    match rng.below(10) {
                        0 => queue.add_rate_limited(item.key().clone()),
                        _ => queue.forget(item.key()),
                    }
                }
            })
        })
        .collect();

    let mut rng = Rng(seed);
    for _ in 0..3000 {
        let name = format!("k{}", rng.below(40));
        {
            let mut log = log.lock();
            log.clock += 1;
            let at = log.clock;
            log.last_add.insert(name.clone(), at);
        }
        match rng.below(4) {
            0 => queue.add_after(name, ms(rng.below(20))),
            _ => queue.add(name),
        }
        if rng.below(3) == 0 {
            sleep(ms(rng.below(3))).await;
        }
    }
    // Long enough for every retry and delay to come due and be worked off.
    sleep(10 * SECOND).await;
    let metrics = queue.metrics();
    assert_eq!((metrics.depth, metrics.in_flight), (0, 0), "seed {seed}");
    queue.shut_down();
    for worker in workers {
        worker.await.unwrap();
    }

    let log = log.lock();
    for (name, added) in &log.last_add {
        let started = log.last_start.get(name).copied().unwrap_or(0);
        assert!(
            started > *added,
            "seed {seed}: {name} added at {added}, last started at {started}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_threads_never_run_a_key_twice_at_once() {
    let queue = queue();
    let in_flight = Arc::new(parking_lot::Mutex::new(HashSet::new()));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (queue, in_flight) = (queue.clone(), in_flight.clone());
            tokio::spawn(async move {
                let mut runs = 0u64;
                while let Some(item) = queue.next().await {
                    assert!(
                        in_flight.lock().insert(item.key().clone()),
                        "{item:?} twice"
                    );
                    tokio::task::yield_now().await;
                    in_flight.lock().remove(item.key());
                    runs += 1;
                }
                runs
            })
        })
        .collect();
    let adders: Vec<_> = (0..2u64)
        .map(|seed| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut rng = Rng(seed);
                for i in 0..20_000 {
                    queue.add(format!("k{}", rng.below(64)));
                    if i % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for adder in adders {
        adder.await.unwrap();
    }
    // Wait (in real time) until everything added was worked off.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = queue.metrics();
        if metrics.depth == 0 && metrics.in_flight == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not drained: {metrics:?}"
        );
        tokio::time::sleep(MS).await;
    }
    queue.shut_down();
    let mut runs = 0;
    for worker in workers {
        runs += worker.await.unwrap();
    }
    assert_eq!(runs, queue.metrics().handed_out_total);
    assert!(runs >= 64);
}

// Model-based: random operations against a reference model of the guarantees.

#[derive(Clone, Debug)]
enum Op {
    Add(u8),
    AddAfter(u8, u64),
    AddRateLimited(u8),
    Forget(u8),
    /// Poll `next` once, dropping it if it is pending (a cancelled wait).
    Next,
    /// Drop one of the items held.
    Done(usize),
    Advance(u64),
    ShutDown,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..5u8).prop_map(Op::Add),
        3 => (0..5u8, 0..40u64).prop_map(|(k, ms)| Op::AddAfter(k, ms)),
        2 => (0..5u8).prop_map(Op::AddRateLimited),
        1 => (0..5u8).prop_map(Op::Forget),
        5 => Just(Op::Next),
        3 => (0..8usize).prop_map(Op::Done),
        3 => (0..50u64).prop_map(Op::Advance),
        1 => Just(Op::ShutDown),
    ]
}

/// The specification: per key, the earliest pending time, whether in flight, and
/// the failure count.
#[derive(Default)]
struct Model {
    due: HashMap<u8, Instant>,
    in_flight: HashSet<u8>,
    failures: HashMap<u8, u32>,
    shut_down: bool,
}

impl Model {
    fn schedule(&mut self, key: u8, at: Instant) {
        if self.shut_down {
            return;
        }
        let due = self.due.entry(key).or_insert(at);
        *due = (*due).min(at);
    }

    fn ready(&self, now: Instant) -> HashSet<u8> {
        if self.shut_down {
            return HashSet::new();
        }
        self.due
            .iter()
            .filter(|(key, due)| **due <= now && !self.in_flight.contains(key))
            .map(|(key, _)| *key)
            .collect()
    }
}

fn run(ops: Vec<Op>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async move {
        let queue: WorkQueue<u8> = WorkQueue::new(QueueConfig::default());
        let mut model = Model::default();
        let mut held: Vec<QueueItem<u8>> = Vec::new();
        for op in ops {
            let now = Instant::now();
            match op {
                Op::Add(key) => {
                    queue.add(key);
                    model.schedule(key, now);
                }
                Op::AddAfter(key, delay) => {
                    queue.add_after(key, ms(delay));
                    model.schedule(key, now + ms(delay));
                }
                Op::AddRateLimited(key) => {
                    queue.add_rate_limited(key);
                    if !model.shut_down {
                        let failures = model.failures.entry(key).or_default();
                        let delay =
                            (5 * MS * 2u32.pow((*failures).min(20))).min(Duration::from_secs(1000));
                        *failures += 1;
                        model.schedule(key, now + delay);
                    }
                }
                Op::Forget(key) => {
                    queue.forget(&key);
                    model.failures.remove(&key);
                }
                Op::Next => {
                    let ready = model.ready(now);
                    match queue.next().now_or_never() {
                        Some(Some(item)) => {
                            let key = *item.key();
                            assert!(
                                ready.contains(&key),
                                "handed out {key}, ready were {ready:?}, in flight {:?}",
                                model.in_flight
                            );
                            model.due.remove(&key);
                            model.in_flight.insert(key);
                            held.push(item);
                        }
                        Some(None) => assert!(model.shut_down, "None before shutdown"),
                        None => assert!(ready.is_empty(), "{ready:?} ready but not handed out"),
                    }
                }
                Op::Done(index) => {
                    if !held.is_empty() {
                        let item = held.swap_remove(index % held.len());
                        model.in_flight.remove(item.key());
                    }
                }
                Op::Advance(by) => tokio::time::advance(ms(by)).await,
                Op::ShutDown => {
                    queue.shut_down();
                    model.shut_down = true;
                    model.due.clear();
                    model.failures.clear();
                }
            }
            let now = Instant::now();
            let metrics = queue.metrics();
            assert_eq!(metrics.depth, model.ready(now).len());
            assert_eq!(metrics.in_flight, model.in_flight.len());
            let delayed = model.due.values().filter(|due| **due > now).count();
            assert_eq!(metrics.delayed, delayed);
            for key in 0..5 {
                let failures = model.failures.get(&key).copied().unwrap_or(0);
                assert_eq!(queue.num_requeues(&key), failures);
            }
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_queue_follows_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops);
    }
}
