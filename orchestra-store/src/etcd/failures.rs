//! What etcd's errors say, and how requests are retried on them.
//!
//! A read changes nothing, so it is retried on any failure of the member or the
//! connection ([`retrying`]). A write is different: it is sent again only while every
//! failure so far means it was certainly not applied ([`writing`]), because etcd and
//! the connection to it fail in ways that leave a write's outcome unknown, and
//! [`classify_write_failure`] tells which is which. [`write_error`] turns the result
//! into the store's error: `Unavailable` only for a write that was not applied,
//! `OutcomeUnknown` for one that may have been.

use std::time::Duration;

use etcd_client::Client;
use orchestra_core::StoreError;

use super::members::Members;

/// How many times a request that failed for want of a reachable leader is retried (with
/// backoff from 50 ms doubling to 1 s: about 8 s in all, longer than an etcd election).
pub(super) const RETRIES: u32 = 12;

/// The pauses between attempts of one request: 50 ms, doubling to 1 s, [`RETRIES`] of
/// them.
struct Backoff {
    delay: Duration,
    attempt: u32,
}

impl Backoff {
    fn new() -> Self {
        Backoff {
            delay: Duration::from_millis(50),
            attempt: 0,
        }
    }

    /// Waits before the next attempt; false (at once) when the retries are used up.
    async fn wait(&mut self) -> bool {
        if self.attempt >= RETRIES {
            return false;
        }
        self.attempt += 1;
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(Duration::from_secs(1));
        true
    }
}

/// Whether a read that failed with `e` may succeed on another member or a moment later:
/// the connection or the member failed, not the request. Reads change nothing, so any
/// such failure is retried, whatever happened to the request.
fn read_may_succeed_later(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(status) => {
            // `Cancelled` with a transport error underneath is the connection to a
            // member that went away (seen when the leader is killed mid-request), not
            // a cancel of ours: another member answers the retry.
            let connection_lost = status.code() == tonic::Code::Cancelled
                && std::error::Error::source(status).is_some();
            (connection_lost
                || matches!(
                    status.code(),
                    tonic::Code::Unavailable
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Unknown
                        | tonic::Code::Aborted
                ))
                && !status.message().contains("revision")
        }
        _ => false,
    }
}

/// Runs the read `op` on the pinned member, retrying failures that
/// [`read_may_succeed_later`] with backoff on the next member.
pub(super) async fn retrying<T, Fut>(
    members: &Members,
    mut op: impl FnMut(Client) -> Fut,
) -> Result<T, etcd_client::Error>
where
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let mut backoff = Backoff::new();
    loop {
        let (member, client) = members.pinned();
        match op(client).await {
            Err(e) if read_may_succeed_later(&e) => {
                members.fail_over(member);
                tracing::debug!(error = %e, "etcd read failed; retrying");
                if !backoff.wait().await {
                    return Err(e);
                }
            }
            other => return other,
        }
    }
}

/// What a failed etcd write says about whether it took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteFailure {
    /// Certainly not applied, for a reason of the member or the moment (no connection,
    /// no leader, overloaded): it can be sent again, to the next member.
    NotApplied,
    /// Certainly not applied, and sending it again would fail the same way (too large,
    /// not permitted, no space left).
    Refused,
    /// It may have been applied, or may still be: the request may have reached etcd
    /// and no answer says what became of it.
    Unknown,
}

/// Reads what a failed write's error says about its outcome. Anything not known to
/// mean "not applied" is [`WriteFailure::Unknown`]: a write wrongly called unapplied
/// would be repeated or reported absent while it is present, a write wrongly called
/// unknown only costs the caller a read.
///
/// What each error means, from etcd 3.4's server (`etcdserver/v3_server.go`,
/// `api/v3rpc/interceptor.go`, `api/v3rpc/util.go`, `raft/`) and from tonic's client
/// (`status.rs`, `transport/channel/service/reconnect.rs`):
///
/// Not applied, so sent again:
/// - a status whose cause is a `tonic::ConnectError`: tonic could not connect (refused,
///   TLS failed, connect timeout) and fails the request before handing it to any
///   connection. etcd's own Go client likewise repeats a write only when no
///   connection was there to send it on.
/// - `TransportError` and `IoError`: etcd-client makes them only while connecting
///   (building a channel, reading TLS settings), before any request.
/// - "etcdserver: no leader", "etcdserver: not capable", "etcdserver: rpc not
///   supported for learner": the gRPC interceptor's answers, before the request reaches
///   the server (the first because the store asks for `require_leader`).
/// - "etcdserver: too many requests": checked before the write is proposed to raft.
/// - "raft proposal dropped": the member's own raft refused the proposal (it is
///   campaigning, or as leader is handing leadership over or holds too much
///   uncommitted), so it is in no log.
/// - "etcdserver: leader changed": in 3.4 (and 3.5) only reads return it (the wait for
///   a linearizable read's index, a lease's time to live), before serving anything;
///   writes never see it, and it would mean nothing was done.
///
/// Refused (not applied, and not worth repeating): a status etcd itself answered (no
/// client-side cause) with `InvalidArgument` (request too large, too many operations),
/// `ResourceExhausted` (database space exceeded), `PermissionDenied`,
/// `Unauthenticated`, `FailedPrecondition`, `OutOfRange`, `NotFound`, `AlreadyExists`,
/// `Unimplemented` or `DataLoss`. etcd returns these before proposing, or when applying
/// a write it then does not carry out (3.4 checks permissions and the space quota at
/// apply), so the store's state is untouched.
///
/// Unknown:
/// - "etcdserver: request timed out" and its variants ("possibly due to previous leader
///   failure", "possibly due to connection lost"): the write was proposed to raft and
///   etcd stopped waiting for it to be applied (after 5 s plus two election timeouts);
///   the entry may be in the log and be committed by the next leader. This is what a
///   follower answers when the leader it forwarded the write to dies.
/// - "etcdserver: server stopped", "raft: stopped", "etcdserver: request cancelled":
///   the server stopped, or the request was cancelled, while the proposal was pending.
/// - `DeadlineExceeded`: a deadline ran out somewhere between proposing and applying
///   (a member that loses its leader after the interceptor's check holds the proposal
///   until its deadline; this cannot be told apart from one cut off later).
/// - `Cancelled` with a cause: tonic's own request timeout ("Timeout expired"), or
///   hyper cancelling requests of a connection that closed, possibly after sending them.
/// - any other error with a client-side cause: the connection failed mid-request
///   ("transport error" caused by "connection reset", seen when the leader is killed
///   with the write in flight: sometimes the write was applied, sometimes not).
/// - anything else, including errors decoding an answer.
fn classify_write_failure(e: &etcd_client::Error) -> WriteFailure {
    let status = match e {
        etcd_client::Error::GRpcStatus(status) => status,
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => {
            return WriteFailure::NotApplied;
        }
        etcd_client::Error::InvalidArgs(_) | etcd_client::Error::InvalidUri(_) => {
            return WriteFailure::Refused;
        }
        _ => return WriteFailure::Unknown,
    };
    if caused_by_connect_failure(status) {
        return WriteFailure::NotApplied;
    }
    const NOT_APPLIED: [&str; 6] = [
        "etcdserver: no leader",
        "etcdserver: not capable",
        "etcdserver: rpc not supported for learner",
        "etcdserver: too many requests",
        "raft proposal dropped",
        "etcdserver: leader changed",
    ];
    // etcd's answers carry no cause; a cause means tonic made the status itself.
    let from_etcd = std::error::Error::source(status).is_none();
    if from_etcd && NOT_APPLIED.contains(&status.message()) {
        return WriteFailure::NotApplied;
    }
    use tonic::Code;
    match status.code() {
        Code::InvalidArgument
        | Code::ResourceExhausted
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::NotFound
        | Code::AlreadyExists
        | Code::Unimplemented
        | Code::DataLoss
            if from_etcd =>
        {
            WriteFailure::Refused
        }
        _ => WriteFailure::Unknown,
    }
}

/// Whether tonic failed `status`'s request because it could not connect.
fn caused_by_connect_failure(status: &tonic::Status) -> bool {
    let mut cause = std::error::Error::source(status);
    while let Some(e) = cause {
        if e.is::<tonic::ConnectError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A write that failed: the last error, and what the attempts together say about
/// the outcome.
#[derive(Debug)]
pub(super) struct FailedWrite {
    error: etcd_client::Error,
    failure: WriteFailure,
}

/// Runs the write `op` on the pinned member, sending it again (with backoff, to the
/// next member) only while every failure so far left it certainly unapplied: once an
/// attempt's outcome is unknown, a retry could apply the write a second time (a create
/// again after someone deleted the key) or fail on the first attempt's own effect.
/// `repeatable` writes, which applied twice do what they do once, are retried after an
/// unknown outcome too; they still fail as unknown if no attempt then succeeds.
pub(super) async fn writing<T, Fut>(
    members: &Members,
    repeatable: bool,
    mut op: impl FnMut(Client) -> Fut,
) -> Result<T, FailedWrite>
where
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let mut backoff = Backoff::new();
    let mut uncertain = false;
    loop {
        let (member, client) = members.pinned();
        let error = match op(client).await {
            Ok(done) => return Ok(done),
            Err(error) => error,
        };
        let this_attempt = classify_write_failure(&error);
        let again = match this_attempt {
            WriteFailure::NotApplied => true,
            WriteFailure::Unknown => repeatable,
            WriteFailure::Refused => false,
        };
        if this_attempt != WriteFailure::Refused {
            members.fail_over(member);
        }
        uncertain |= this_attempt == WriteFailure::Unknown;
        // An earlier attempt that may have been applied makes the whole write unknown,
        // whatever the later ones say.
        let failure = if uncertain {
            WriteFailure::Unknown
        } else {
            this_attempt
        };
        tracing::debug!(%error, ?failure, "etcd write failed");
        if !again || !backoff.wait().await {
            return Err(FailedWrite { error, failure });
        }
    }
}

/// The store's error for the failed write `what` (its operation and key).
pub(super) fn write_error(what: String, failed: FailedWrite) -> StoreError {
    let FailedWrite { error, failure } = failed;
    match failure {
        WriteFailure::Unknown => StoreError::OutcomeUnknown {
            message: format!("{what}: etcd may or may not have applied it"),
            source: Some(Box::new(error)),
        },
        WriteFailure::Refused
            if matches!(&error, etcd_client::Error::GRpcStatus(s)
                if s.code() == tonic::Code::InvalidArgument) =>
        {
            StoreError::Invalid(format!("{what}: {error}"))
        }
        WriteFailure::Refused => StoreError::Unavailable {
            message: format!("{what}: etcd refused it"),
            source: Some(Box::new(error)),
        },
        WriteFailure::NotApplied => StoreError::Unavailable {
            message: format!("{what}: etcd did not apply it"),
            source: Some(Box::new(error)),
        },
    }
}

pub(super) fn unavailable(e: etcd_client::Error) -> StoreError {
    StoreError::Unavailable {
        message: "etcd request failed".to_owned(),
        source: Some(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_client::ConnectOptions;
    use std::collections::VecDeque;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tonic::{Code, Status};

    /// An error etcd itself answered: a status decoded from its reply, with no cause.
    fn etcd_says(code: Code, message: &str) -> etcd_client::Error {
        etcd_client::Error::GRpcStatus(Status::new(code, message))
    }

    /// A status tonic makes itself from a client-side failure, as it does for every
    /// error of the connection beneath a request.
    fn client_side(cause: impl std::error::Error + Send + Sync + 'static) -> etcd_client::Error {
        etcd_client::Error::GRpcStatus(Status::from_error(Box::new(cause)))
    }

    /// An error that wraps another, as tonic's transport error wraps hyper's.
    #[derive(Debug)]
    struct Wrapping(Box<dyn std::error::Error + Send + Sync>);

    impl std::fmt::Display for Wrapping {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("transport error")
        }
    }

    impl std::error::Error for Wrapping {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.0.as_ref())
        }
    }

    fn refused_connection() -> etcd_client::Error {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        client_side(Wrapping(Box::new(tonic::ConnectError(Box::new(refused)))))
    }

    #[test]
    fn a_write_that_never_reached_etcd_or_was_turned_away_was_not_applied() {
        assert_eq!(
            classify_write_failure(&refused_connection()),
            WriteFailure::NotApplied
        );
        for (code, message) in [
            (Code::Unavailable, "etcdserver: no leader"),
            (Code::Unavailable, "etcdserver: not capable"),
            (
                Code::Unavailable,
                "etcdserver: rpc not supported for learner",
            ),
            (Code::ResourceExhausted, "etcdserver: too many requests"),
            (Code::Unknown, "raft proposal dropped"),
            (Code::Unavailable, "etcdserver: leader changed"),
        ] {
            assert_eq!(
                classify_write_failure(&etcd_says(code, message)),
                WriteFailure::NotApplied,
                "{message}"
            );
        }
    }

    #[test]
    fn a_write_etcd_rejected_for_good_is_refused() {
        for (code, message) in [
            (Code::InvalidArgument, "etcdserver: request is too large"),
            (
                Code::InvalidArgument,
                "etcdserver: too many operations in txn request",
            ),
            (
                Code::ResourceExhausted,
                "etcdserver: mvcc: database space exceeded",
            ),
            (Code::PermissionDenied, "etcdserver: permission denied"),
            (Code::Unauthenticated, "etcdserver: invalid auth token"),
            (
                Code::OutOfRange,
                "etcdserver: mvcc: required revision is a future revision",
            ),
        ] {
            assert_eq!(
                classify_write_failure(&etcd_says(code, message)),
                WriteFailure::Refused,
                "{message}"
            );
        }
    }

    #[test]
    fn a_write_cut_off_after_it_may_have_reached_etcd_is_unknown() {
        for (code, message) in [
            (Code::Unavailable, "etcdserver: request timed out"),
            (
                Code::Unavailable,
                "etcdserver: request timed out, possibly due to previous leader failure",
            ),
            (
                Code::Unavailable,
                "etcdserver: request timed out, possibly due to connection lost",
            ),
            (Code::Unavailable, "etcdserver: server stopped"),
            (Code::Unknown, "raft: stopped"),
            (Code::Cancelled, "etcdserver: request cancelled"),
            (Code::DeadlineExceeded, "context deadline exceeded"),
            (Code::Unavailable, "transport is closing"),
            (Code::Internal, "something etcd has never said"),
        ] {
            assert_eq!(
                classify_write_failure(&etcd_says(code, message)),
                WriteFailure::Unknown,
                "{message}"
            );
        }
        // The connection dropped with the write in flight, as when the leader is killed.
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "connection reset");
        assert_eq!(
            classify_write_failure(&client_side(Wrapping(Box::new(reset)))),
            WriteFailure::Unknown
        );
        // tonic's own request timeout.
        let timeout = client_side(tonic::TimeoutExpired(()));
        assert!(
            matches!(&timeout, etcd_client::Error::GRpcStatus(s) if s.code() == Code::Cancelled)
        );
        assert_eq!(classify_write_failure(&timeout), WriteFailure::Unknown);
        // A message of etcd's means nothing when tonic made the status itself.
        let mut lookalike = Status::new(Code::Unavailable, "etcdserver: no leader");
        lookalike.set_source(Arc::new(io::Error::from(io::ErrorKind::BrokenPipe)));
        assert_eq!(
            classify_write_failure(&etcd_client::Error::GRpcStatus(lookalike)),
            WriteFailure::Unknown
        );
        let mut lookalike = Status::new(Code::InvalidArgument, "bad frame");
        lookalike.set_source(Arc::new(io::Error::from(io::ErrorKind::InvalidInput)));
        assert_eq!(
            classify_write_failure(&etcd_client::Error::GRpcStatus(lookalike)),
            WriteFailure::Unknown
        );
        assert_eq!(
            classify_write_failure(&etcd_client::Error::WatchError("gone".to_owned())),
            WriteFailure::Unknown
        );
    }

    /// Runs `writing` against a script of answers (one per attempt; the clients are
    /// never used) and returns its result and the number of attempts.
    async fn run_script(
        repeatable: bool,
        script: Vec<Result<(), etcd_client::Error>>,
    ) -> (Result<(), WriteFailure>, usize) {
        // Nothing listens on these ports: clients connect lazily, so they are built.
        let endpoints: Vec<String> = (1..=3).map(|p| format!("http://127.0.0.1:{p}")).collect();
        let members = Members::connect(&endpoints, &ConnectOptions::new())
            .await
            .unwrap();
        let script = Mutex::new(VecDeque::from(script));
        let attempts = Mutex::new(0);
        let result = writing(&members, repeatable, |_client| {
            *attempts.lock().unwrap() += 1;
            let answer = script
                .lock()
                .unwrap()
                .pop_front()
                .expect("no more attempts");
            async move { answer }
        })
        .await;
        let attempts = *attempts.lock().unwrap();
        (result.map_err(|failed| failed.failure), attempts)
    }

    fn timed_out() -> etcd_client::Error {
        etcd_says(Code::Unavailable, "etcdserver: request timed out")
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_is_sent_again_only_while_it_was_certainly_not_applied() {
        let script = vec![Err(refused_connection()), Err(refused_connection()), Ok(())];
        assert_eq!(run_script(false, script).await, (Ok(()), 3));

        let script = vec![Err(refused_connection()), Err(timed_out())];
        assert_eq!(
            run_script(false, script).await,
            (Err(WriteFailure::Unknown), 2),
            "an unknown outcome ends a create, update or delete at once"
        );

        let too_large = etcd_says(Code::InvalidArgument, "etcdserver: request is too large");
        assert_eq!(
            run_script(false, vec![Err(too_large)]).await,
            (Err(WriteFailure::Refused), 1)
        );

        let never = (0..=RETRIES).map(|_| Err(refused_connection())).collect();
        assert_eq!(
            run_script(false, never).await,
            (Err(WriteFailure::NotApplied), RETRIES as usize + 1),
            "after the retries it was still certainly not applied"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeatable_write_is_retried_but_stays_unknown_until_it_succeeds() {
        let script = vec![Err(timed_out()), Err(refused_connection()), Ok(())];
        assert_eq!(run_script(true, script).await, (Ok(()), 3));

        let mut script = vec![Err(timed_out())];
        script.extend((0..RETRIES).map(|_| Err(refused_connection())));
        assert_eq!(
            run_script(true, script).await,
            (Err(WriteFailure::Unknown), RETRIES as usize + 1),
            "the first attempt may have been applied, whatever the later ones say"
        );

        let too_large = etcd_says(Code::InvalidArgument, "etcdserver: request is too large");
        assert_eq!(
            run_script(true, vec![Err(timed_out()), Err(too_large)]).await,
            (Err(WriteFailure::Unknown), 2)
        );
    }

    #[test]
    fn each_outcome_becomes_its_store_error() {
        let failed = |error, failure| FailedWrite { error, failure };
        let unknown = write_error(
            "create /a".to_owned(),
            failed(timed_out(), WriteFailure::Unknown),
        );
        assert!(unknown.is_outcome_unknown(), "{unknown:?}");
        assert_eq!(
            unknown.to_string(),
            "write outcome unknown: create /a: etcd may or may not have applied it"
        );
        assert!(
            std::error::Error::source(&unknown).is_some(),
            "the cause is kept"
        );

        let not_applied = write_error(
            "update /a".to_owned(),
            failed(refused_connection(), WriteFailure::NotApplied),
        );
        assert!(
            matches!(&not_applied, StoreError::Unavailable { message, source: Some(_) }
                if message == "update /a: etcd did not apply it"),
            "{not_applied:?}"
        );

        let too_large = etcd_says(Code::InvalidArgument, "etcdserver: request is too large");
        let invalid = write_error(
            "create /a".to_owned(),
            failed(too_large, WriteFailure::Refused),
        );
        assert!(matches!(invalid, StoreError::Invalid(_)), "{invalid:?}");

        let denied = etcd_says(Code::PermissionDenied, "etcdserver: permission denied");
        let refused = write_error(
            "delete /a".to_owned(),
            failed(denied, WriteFailure::Refused),
        );
        assert!(
            matches!(&refused, StoreError::Unavailable { .. }) && !refused.is_outcome_unknown(),
            "{refused:?}"
        );
    }
}
