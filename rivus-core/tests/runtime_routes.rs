//! Routes: sinks that take only the items their condition holds for, a default route, and items no route
//! takes, which end `unrouted` — counted and acknowledged, never dropped silently.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::sync::{Arc, Mutex};

use rivus_core::ack::Position;
use rivus_core::prelude::*;

/// Offsets 0..n with positions; records the commits.
struct Topic {
    next: u64,
    end: u64,
    commits: Arc<Mutex<Vec<u64>>>,
}

impl AsyncSource for Topic {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        (self.next < self.end).then(|| {
            self.next += 1;
            Ok(self.next - 1)
        })
    }
    fn position(&self) -> Option<Position> {
        Some(Position::from(self.next - 1))
    }
    async fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        self.commits
            .lock()
            .unwrap()
            .push(upto.get::<u64>().unwrap());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_item_goes_where_its_route_says_and_the_rest_is_unrouted() {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let (fizz, buzz, all) = (sink::collect(), sink::collect(), sink::collect());
    let report = Pipeline::from_source(Topic {
        next: 0,
        end: 100,
        commits: Arc::clone(&commits),
    })
    .with_config(StreamConfig::default().with_chunk_size(7))
    .sink_when(fizz.clone(), |x: &u64| x.is_multiple_of(3))
    .sink_when(buzz.clone(), |x: &u64| x.is_multiple_of(5))
    .sink(all.clone())
    .run()
    .await
    .unwrap();
    assert_eq!(
        fizz.items(),
        (0..100)
            .filter(|x: &u64| x.is_multiple_of(3))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        buzz.items(),
        (0..100)
            .filter(|x: &u64| x.is_multiple_of(5))
            .collect::<Vec<_>>()
    );
    assert_eq!(all.items(), (0..100).collect::<Vec<_>>());
    let ledger = report.ledger();
    assert!(ledger.is_balanced(), "{ledger:?}");
    assert_eq!(
        ledger.unrouted, 0,
        "the unconditional sink takes every item"
    );
    for (name, l) in report.sink_ledgers() {
        assert!(l.is_balanced(), "{name}: {l:?}");
    }
    // Every item reached an end: the source is committed to its last one.
    assert_eq!(commits.lock().unwrap().last(), Some(&99));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_no_route_takes_are_unrouted_or_go_to_the_default_route() {
    // Without a default route: unrouted, counted, acknowledged.
    let commits = Arc::new(Mutex::new(Vec::new()));
    let evens = sink::collect();
    let report = Pipeline::from_source(Topic {
        next: 0,
        end: 50,
        commits: Arc::clone(&commits),
    })
    .sink_when(evens.clone(), |x: &u64| x.is_multiple_of(2))
    .run()
    .await
    .unwrap();
    let ledger = report.ledger();
    assert_eq!(
        (ledger.read, ledger.written, ledger.unrouted),
        (50, 25, 25),
        "{ledger:?}"
    );
    assert!(ledger.is_balanced());
    assert_eq!(commits.lock().unwrap().last(), Some(&49));

    // With one: it takes exactly what no condition took.
    let (evens, rest) = (sink::collect(), sink::collect());
    let report = Pipeline::from_iter(0..50u64)
        .sink_when(evens.clone(), |x: &u64| x.is_multiple_of(2))
        .sink_otherwise(rest.clone())
        .run()
        .await
        .unwrap();
    assert_eq!(
        rest.items(),
        (0..50).filter(|x| x % 2 == 1).collect::<Vec<_>>()
    );
    let ledger = report.ledger();
    assert_eq!((ledger.written, ledger.unrouted), (50, 0), "{ledger:?}");
    assert!(ledger.is_balanced());
    for (name, l) in report.sink_ledgers() {
        assert!(l.is_balanced(), "{name}: {l:?}");
        assert_eq!(l.written + l.unrouted, 50, "{name}: {l:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_sources_feed_one_pipeline_and_each_is_committed() {
    let (a_commits, b_commits) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    let out = sink::collect();
    let report = Pipeline::from_source(Topic {
        next: 0,
        end: 300,
        commits: Arc::clone(&a_commits),
    })
    .merge(
        Pipeline::from_source(Topic {
            next: 1000,
            end: 1200,
            commits: Arc::clone(&b_commits),
        })
        .pipe(pipe::filter(|x: &u64| x.is_multiple_of(2))),
    )
    .pipe(pipe::map(|x: u64| x + 1))
    .sink(out.clone())
    .run()
    .await
    .unwrap();
    let mut seen = out.items();
    seen.sort_unstable();
    let mut want: Vec<u64> = (0..300)
        .chain((1000..1200).filter(|x: &u64| x.is_multiple_of(2)))
        .map(|x| x + 1)
        .collect();
    want.sort_unstable();
    assert_eq!(seen, want);
    let ledger = report.ledger();
    assert_eq!(
        (ledger.read, ledger.filtered, ledger.written),
        (500, 100, 400),
        "{ledger:?}"
    );
    assert!(ledger.is_balanced());
    assert_eq!(a_commits.lock().unwrap().last(), Some(&299));
    assert_eq!(b_commits.lock().unwrap().last(), Some(&1199));
}
