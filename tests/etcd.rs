//! The agent's etcd client (src/etcd) against a real 3-member etcd 3.4 cluster on loopback,
//! driven by a real mio loop: the KV API, transactions, leases, watches, and members that stop
//! answering (SIGSTOP), die (SIGKILL) or lose their quorum.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod etcd_support;

use std::time::{Duration, Instant};

use etcd_support::{Cluster, Driver};
use mesolite::etcd::{
    Compare, CompareResult, EtcdError, EventKind, KeyRange, Op, Request, Response, Target,
    WatchEvent,
};

const TIMEOUT: Duration = Duration::from_secs(2);

fn kvs(r: &Response) -> Vec<(String, String)> {
    match r {
        Response::Range { kvs, .. } => kvs.iter().map(|k| (k.key_str(), k.value_str())).collect(),
        other => panic!("not a range answer: {other:?}"),
    }
}

#[test]
fn put_get_range_delete() {
    let Some(cluster) = Cluster::start("kv") else {
        return;
    };
    let mut d = Driver::new(cluster.endpoints(), TIMEOUT);
    let put = d.ok(Request::put("/t/a", "1", None));
    assert!(put.revision() > 1, "{put:?}");
    d.ok(Request::put("/t/b", "2", None));
    d.ok(Request::put("/t/c/d", "3", None));
    d.ok(Request::put("/u", "elsewhere", None));
    let got = d.ok(Request::get("/t/a"));
    assert_eq!(kvs(&got), [("/t/a".into(), "1".into())]);
    let Response::Range { kvs: ref found, .. } = got else {
        unreachable!()
    };
    assert_eq!(found[0].create_revision, put.revision());
    assert_eq!(found[0].version, 1);
    assert!(kvs(&d.ok(Request::get("/t/none"))).is_empty());
    let all = d.ok(Request::range_prefix("/t/"));
    assert_eq!(
        kvs(&all),
        [
            ("/t/a".into(), "1".into()),
            ("/t/b".into(), "2".into()),
            ("/t/c/d".into(), "3".into())
        ]
    );
    let Response::Delete { deleted, .. } = d.ok(Request::delete("/t/b")) else {
        panic!()
    };
    assert_eq!(deleted, 1);
    let Response::Delete { deleted, .. } = d.ok(Request::delete("/t/b")) else {
        panic!()
    };
    assert_eq!(deleted, 0);
    assert_eq!(kvs(&d.ok(Request::range_prefix("/t/"))).len(), 2);
    // Binary values survive base64 both ways.
    let bytes: Vec<u8> = (0..=255).collect();
    d.ok(Request::put("/bin", bytes.clone(), None));
    let Response::Range { kvs: got, .. } = d.ok(Request::get("/bin")) else {
        panic!()
    };
    assert_eq!(got[0].value, bytes);
    // etcd's refusal comes back as an error naming the member, not a hang.
    let err = d.call(Request::put("", "no key", None)).unwrap_err();
    assert!(
        matches!(&err, EtcdError::Server { code: Some(3), message, .. } if message.contains("key is not provided")),
        "{err}"
    );
    assert!(err.endpoint().is_some());
}

#[test]
fn txn_create_if_absent_wins_once_and_fences_on_mod_revision() {
    let Some(cluster) = Cluster::start("txn") else {
        return;
    };
    let mut d = Driver::new(cluster.endpoints(), TIMEOUT);
    let elect = |me: &str| {
        Request::txn(
            vec![Compare::absent("/leader")],
            vec![Op::put("/leader", me, None)],
            vec![Op::get("/leader")],
        )
    };
    // Both in flight at once, as two agents would be.
    let a = d.submit(elect("a"));
    let b = d.submit(elect("b"));
    let (ra, rb) = (d.reply(a).unwrap(), d.reply(b).unwrap());
    let outcome = |r: &Response| match r {
        Response::Txn {
            succeeded,
            responses,
            ..
        } => (*succeeded, responses.clone()),
        other => panic!("not a txn answer: {other:?}"),
    };
    let ((wa, la), (wb, lb)) = (outcome(&ra), outcome(&rb));
    assert!(wa ^ wb, "exactly one wins: {ra:?} {rb:?}");
    let (winner, loser_saw) = if wa { ("a", lb) } else { ("b", la) };
    assert_eq!(kvs(&loser_saw[0]), [("/leader".into(), winner.into())]);
    assert_eq!(
        kvs(&d.ok(Request::get("/leader"))),
        [("/leader".into(), winner.into())]
    );

    // Fencing: a write conditioned on the revision read succeeds once; after another write
    // the same condition fails.
    let Response::Range { kvs: read, .. } = d.ok(Request::get("/leader")) else {
        panic!()
    };
    let seen = read[0].mod_revision;
    let fenced = |value: &str| {
        Request::txn(
            vec![Compare::mod_revision("/leader", seen)],
            vec![Op::put("/leader", value, None)],
            vec![],
        )
    };
    let Response::Txn { succeeded, .. } = d.ok(fenced("first")) else {
        panic!()
    };
    assert!(succeeded);
    let Response::Txn {
        succeeded,
        responses,
        ..
    } = d.ok(fenced("stale"))
    else {
        panic!()
    };
    assert!(!succeeded && responses.is_empty());
    assert_eq!(
        kvs(&d.ok(Request::get("/leader"))),
        [("/leader".into(), "first".into())]
    );
    // version and value compares, a delete in a txn.
    let Response::Txn {
        succeeded,
        responses,
        ..
    } = d.ok(Request::txn(
        vec![
            Compare::new("/leader", Target::Version(2), CompareResult::Equal),
            Compare::new(
                "/leader",
                Target::Value(b"first".to_vec()),
                CompareResult::Equal,
            ),
        ],
        vec![Op::delete("/leader")],
        vec![],
    ))
    else {
        panic!()
    };
    assert!(succeeded, "version 2, value first");
    assert!(matches!(
        responses[..],
        [Response::Delete { deleted: 1, .. }]
    ));
    let _ = cluster;
}

/// The keep-alive answer's TTL, or the error.
fn keepalive(d: &mut Driver, lease: i64) -> Result<i64, EtcdError> {
    d.call(Request::LeaseKeepAlive(lease)).map(|r| match r {
        Response::LeaseKeepAlive { id, ttl } => {
            assert_eq!(id, lease);
            ttl
        }
        other => panic!("not a keep-alive answer: {other:?}"),
    })
}

#[test]
fn a_lease_key_goes_after_its_ttl_unless_kept_alive() {
    let Some(cluster) = Cluster::start("lease") else {
        return;
    };
    let mut d = Driver::new(cluster.endpoints(), TIMEOUT);
    let grant = |d: &mut Driver| match d.ok(Request::LeaseGrant { ttl: 2 }) {
        Response::LeaseGrant { id, ttl, .. } => {
            assert!(id != 0 && ttl >= 2, "{id} {ttl}");
            id
        }
        other => panic!("{other:?}"),
    };
    let (left, kept) = (grant(&mut d), grant(&mut d));
    d.ok(Request::put("/l/left", "x", Some(left)));
    d.ok(Request::put("/l/kept", "y", Some(kept)));
    let Response::Range { kvs: got, .. } = d.ok(Request::get("/l/kept")) else {
        panic!()
    };
    assert_eq!(got[0].lease, kept);
    let start = Instant::now();
    loop {
        assert!(keepalive(&mut d, kept).unwrap() >= 1);
        if kvs(&d.ok(Request::get("/l/left"))).is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the left lease's key is still there"
        );
        d.idle(Duration::from_millis(400));
    }
    let gone_after = start.elapsed();
    assert!(
        gone_after >= Duration::from_secs(1),
        "gone too soon: {gone_after:?}"
    );
    // Kept alive for two more TTLs: still there.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        assert!(keepalive(&mut d, kept).unwrap() >= 1);
        d.idle(Duration::from_millis(400));
    }
    assert_eq!(kvs(&d.ok(Request::get("/l/kept"))).len(), 1);
    // The expired lease is unknown; a put under it is refused.
    assert!(
        matches!(keepalive(&mut d, left), Err(EtcdError::LeaseNotFound { lease, .. }) if lease == left)
    );
    let err = d
        .call(Request::put("/l/again", "z", Some(left)))
        .unwrap_err();
    assert!(matches!(err, EtcdError::LeaseNotFound { .. }), "{err}");
    // Revoking deletes its keys at once.
    d.ok(Request::LeaseRevoke(kept));
    assert!(kvs(&d.ok(Request::get("/l/kept"))).is_empty());
    let err = d.call(Request::LeaseRevoke(kept)).unwrap_err();
    assert!(matches!(err, EtcdError::LeaseNotFound { .. }), "{err}");
    eprintln!("unkept 2 s lease's key gone after {gone_after:?}");
    let _ = cluster;
}

/// Watch events until `n` changes have come (a minute at most); the last revision reported.
fn changes(d: &mut Driver, id: u32, n: usize) -> (Vec<WatchEvent>, i64) {
    let mut got = Vec::new();
    let mut revision = 0;
    while got.len() < n {
        match d.watch_event(id, Duration::from_secs(60)) {
            Some(Ok((events, rev))) => {
                got.extend(events);
                revision = rev;
            }
            Some(Err((e, _))) => panic!("watch ended: {e} (after {got:?})"),
            None => panic!("only {got:?} within 60 s"),
        }
    }
    (got, revision)
}

fn summary(events: &[WatchEvent]) -> Vec<(EventKind, String, String)> {
    events
        .iter()
        .map(|e| (e.kind, e.kv.key_str(), e.kv.value_str()))
        .collect()
}

/// Waits for watch `id` to be in place (its first, empty event).
fn created(d: &mut Driver, id: u32) -> i64 {
    match d.watch_event(id, Duration::from_secs(30)) {
        Some(Ok((events, revision))) if events.is_empty() => revision,
        other => panic!("watch not created: {other:?}"),
    }
}

#[test]
fn watch_sees_changes_in_order_and_resumes_after_a_break() {
    let Some(mut cluster) = Cluster::start("watch") else {
        return;
    };
    let mut d = Driver::new(cluster.endpoints(), TIMEOUT);
    let before = d.ok(Request::put("/w/old", "0", None)).revision();
    let w = d.watch(KeyRange::prefix("/w/"), before + 1);
    created(&mut d, w);
    d.ok(Request::put("/w/a", "1", None));
    d.ok(Request::put("/elsewhere", "-", None));
    d.ok(Request::put("/w/b", "2", None));
    d.ok(Request::delete("/w/a"));
    let (events, revision) = changes(&mut d, w, 3);
    use EventKind::{Delete, Put};
    assert_eq!(
        summary(&events),
        [
            (Put, "/w/a".into(), "1".into()),
            (Put, "/w/b".into(), "2".into()),
            (Delete, "/w/a".into(), String::new()),
        ]
    );
    let revs: Vec<i64> = events.iter().map(|e| e.kv.mod_revision).collect();
    assert!(revs.windows(2).all(|w| w[0] < w[1]), "{revs:?}");
    assert_eq!(revision, revs[2]);

    // The member serving the watch dies: the stream breaks and says where to resume.
    let member = cluster.index_of(d.etcd.endpoint_of(w).unwrap());
    cluster.kill(member);
    let Some(Err((error, resume_from))) = d.watch_event(w, Duration::from_secs(30)) else {
        panic!("the watch did not end")
    };
    assert_eq!(resume_from, revision + 1, "{error}");
    assert!(error.is_unavailable(), "{error}");
    let others: Vec<usize> = (0..3).filter(|i| *i != member).collect();
    cluster.wait_healthy(&others, Duration::from_secs(60));
    // Changes while nobody watches, then a watch from where the last one stopped.
    d.ok(Request::put("/w/c", "3", None));
    d.ok(Request::delete("/w/b"));
    let again = d.watch(KeyRange::prefix("/w/"), resume_from);
    created(&mut d, again);
    let (events, _) = changes(&mut d, again, 2);
    assert_eq!(
        summary(&events),
        [
            (Put, "/w/c".into(), "3".into()),
            (Delete, "/w/b".into(), String::new()),
        ],
        "nothing missed, nothing repeated"
    );
    d.idle(Duration::from_millis(300));
    assert!(
        d.watch_event(again, Duration::ZERO).is_none(),
        "no more events"
    );
    cluster.restart(member);
    cluster.wait_healthy(&[member], Duration::from_secs(60));
}

#[derive(Clone, Copy, Debug)]
enum Stop {
    /// SIGSTOP: connections open, nothing answered.
    Freeze,
    /// SIGKILL: connections reset, connects refused.
    Kill,
}

/// The preferred member stops (either way): requests go on through the others, the watch
/// it served ends within two timeouts and resumes elsewhere.
fn failover(stop: Stop) {
    let Some(mut cluster) = Cluster::start(match stop {
        Stop::Freeze => "freeze",
        Stop::Kill => "kill",
    }) else {
        return;
    };
    let mut d = Driver::new(cluster.endpoints(), TIMEOUT);
    d.ok(Request::put("/f/warm", "0", None));
    let p = cluster.index_of(d.etcd.preferred());
    let w = d.watch(KeyRange::prefix("/f/"), 0);
    let from = created(&mut d, w);
    assert_eq!(cluster.index_of(d.etcd.endpoint_of(w).unwrap()), p);

    let stopped_at = Instant::now();
    match stop {
        Stop::Freeze => cluster.stop(p),
        Stop::Kill => cluster.kill(p),
    }
    // If it led, the others elect a leader first (the client's business is only to find them).
    let others: Vec<usize> = (0..3).filter(|i| *i != p).collect();
    cluster.wait_healthy(&others, Duration::from_secs(60));

    let t = Instant::now();
    let put = d.ok(Request::put("/f/1", "one", None));
    let first = t.elapsed();
    assert_ne!(cluster.index_of(d.etcd.preferred()), p, "left for the next");
    let t = Instant::now();
    d.ok(Request::put("/f/2", "two", None));
    let second = t.elapsed();
    assert!(
        first < 2 * TIMEOUT + Duration::from_secs(3),
        "{stop:?}: failover took {first:?}"
    );
    assert!(
        second < TIMEOUT,
        "{stop:?}: the next request still tried the stopped member: {second:?}"
    );

    // The watch on the stopped member ends (a frozen one by its probe timing out).
    let ended = d.watch_event(w, Duration::from_secs(30));
    let Some(Err((error, resume_from))) = ended else {
        panic!("{stop:?}: the watch on the stopped member did not end: {ended:?}")
    };
    let ended_after = stopped_at.elapsed();
    assert!(error.is_unavailable(), "{error}");
    assert_eq!(error.endpoint(), Some(&cluster.endpoints()[p]));
    assert!(
        ended_after < 3 * TIMEOUT + Duration::from_secs(60),
        "{stop:?}: the watch ended {ended_after:?} after the stop"
    );
    assert_eq!(resume_from, from + 1);
    let again = d.watch(KeyRange::prefix("/f/"), resume_from);
    created(&mut d, again);
    assert_ne!(cluster.index_of(d.etcd.endpoint_of(again).unwrap()), p);
    let (events, _) = changes(&mut d, again, 2);
    assert_eq!(
        summary(&events),
        [
            (EventKind::Put, "/f/1".into(), "one".into()),
            (EventKind::Put, "/f/2".into(), "two".into())
        ]
    );
    assert_eq!(events[0].kv.mod_revision, put.revision());
    eprintln!(
        "{stop:?}: first request after the stop {first:?}, the next {second:?}; the watch ended \
{ended_after:?} after the stop ({error})"
    );
    match stop {
        Stop::Freeze => cluster.cont(p),
        Stop::Kill => cluster.restart(p),
    }
    cluster.wait_healthy(&[p], Duration::from_secs(60));
}

#[test]
fn a_frozen_member_is_left_for_the_others() {
    failover(Stop::Freeze);
}

#[test]
fn a_killed_member_is_left_for_the_others() {
    failover(Stop::Kill);
}

#[test]
fn without_quorum_a_put_times_out_and_succeeds_once_it_returns() {
    let Some(mut cluster) = Cluster::start("quorum") else {
        return;
    };
    let mut d = Driver::new(cluster.endpoints(), TIMEOUT);
    d.ok(Request::put("/q/warm", "0", None));
    let p = cluster.index_of(d.etcd.preferred());
    let others: Vec<usize> = (0..3).filter(|i| *i != p).collect();
    for &i in &others {
        cluster.stop(i);
    }
    let t = Instant::now();
    let err = d.call(Request::put("/q/x", "1", None)).unwrap_err();
    let failed_after = t.elapsed();
    assert!(err.is_unavailable(), "{err}");
    assert!(
        matches!(err, EtcdError::TimedOut { .. }),
        "the last member tried is frozen: {err}"
    );
    assert!(
        failed_after < 3 * TIMEOUT + Duration::from_secs(5),
        "no hang: {failed_after:?}"
    );
    // The member left alone knows it has no leader: it says so at once.
    let mut alone = Driver::new(vec![cluster.endpoints()[p]], TIMEOUT);
    let t = Instant::now();
    let alone_err = alone.call(Request::put("/q/x", "1", None)).unwrap_err();
    let alone_after = t.elapsed();
    assert!(
        matches!(&alone_err, EtcdError::Server { code: Some(14), message, .. } if message.contains("no leader")),
        "{alone_err}"
    );
    assert!(alone_after < TIMEOUT, "{alone_after:?}");
    for &i in &others {
        cluster.cont(i);
    }
    let t = Instant::now();
    loop {
        match d.call(Request::put("/q/x", "1", None)) {
            Ok(_) => break,
            Err(e) => {
                assert!(e.is_unavailable(), "{e}");
                assert!(t.elapsed() < Duration::from_secs(60), "still failing: {e}");
                d.idle(Duration::from_millis(500));
            }
        }
    }
    assert_eq!(
        kvs(&d.ok(Request::get("/q/x"))),
        [("/q/x".into(), "1".into())]
    );
    eprintln!(
        "without quorum the put failed after {failed_after:?} ({err}); alone, the member \
answered in {alone_after:?} ({alone_err}); with quorum back it succeeded {:?} later",
        t.elapsed()
    );
}
