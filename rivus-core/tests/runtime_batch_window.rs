//! Batching by count and by max wait; windows by count, processing time (closed by timers on a quiet stream)
//! and event time (late items to the error policy). Time runs on Tokio's paused clock.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rivus_core::prelude::*;
use rivus_core::window::WindowTime;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A source fed by the test through a channel: quiet until the test sends, exhausted once the sender is gone.
struct Feed(mpsc::Receiver<u32>);

impl AsyncSource for Feed {
    type Out = u32;
    async fn next(&mut self) -> Option<Result<u32, PipeError>> {
        self.0.recv().await.map(Ok)
    }
}

/// Collects every item with the time (since `start`) it was written.
struct Timed<T> {
    start: Instant,
    out: mpsc::UnboundedSender<(Duration, T)>,
}

impl<T: Send + 'static> AsyncSink for Timed<T> {
    type In = T;
    async fn write(&mut self, item: T) -> Result<(), PipeError> {
        let _ = self.out.send((self.start.elapsed(), item));
        Ok(())
    }
}

fn timed<T>() -> (Timed<T>, mpsc::UnboundedReceiver<(Duration, T)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Timed {
            start: Instant::now(),
            out: tx,
        },
        rx,
    )
}

fn drain<T>(rx: &mut mpsc::UnboundedReceiver<(Duration, T)>) -> Vec<(Duration, T)> {
    let mut v = Vec::new();
    while let Ok(x) = rx.try_recv() {
        v.push(x);
    }
    v
}

#[tokio::test(start_paused = true)]
async fn batches_of_three_from_ten_items() {
    let out = sink::collect();
    Pipeline::from_iter(0..10u64)
        .batch(3, None)
        .sink(out.clone())
        .run()
        .await
        .unwrap();
    let batches = out.items();
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    let sums: Vec<u64> = batches.iter().map(|b| b.iter().sum()).collect();
    assert_eq!(sizes, [3, 3, 3, 1]);
    assert_eq!(sums, [3, 12, 21, 9]);
}

#[tokio::test(start_paused = true)]
async fn max_wait_flushes_a_partial_batch_on_a_quiet_stream() {
    let (feed, source) = mpsc::channel(16);
    let (sink, mut seen) = timed::<Vec<u32>>();
    let run = tokio::spawn(
        Pipeline::from_source(Feed(source))
            .batch(3, Duration::from_millis(100))
            .sink(sink)
            .run(),
    );
    feed.send(1).await.unwrap();
    feed.send(2).await.unwrap();
    tokio::time::sleep(Duration::from_millis(99)).await;
    assert!(drain(&mut seen).is_empty(), "flushed before max wait");
    tokio::time::sleep(Duration::from_millis(2)).await;
    let got = drain(&mut seen);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, [1, 2]);
    assert_eq!(got[0].0, Duration::from_millis(100));
    for x in 3..=6 {
        feed.send(x).await.unwrap();
    }
    drop(feed);
    run.await.unwrap().unwrap();
    let rest: Vec<Vec<u32>> = drain(&mut seen).into_iter().map(|(_, b)| b).collect();
    assert_eq!(rest, [vec![3, 4, 5], vec![6]]);
}

async fn count_windows(w: Windows<u32>, n: u32) -> Vec<Vec<u32>> {
    let out = sink::collect();
    Pipeline::from_iter(0..n)
        .window(w)
        .sink(out.clone())
        .run()
        .await
        .unwrap();
    out.items().into_iter().map(|w| w.items).collect()
}

#[tokio::test(start_paused = true)]
async fn count_windows_table() {
    type Case = (&'static str, Windows<u32>, u32, Vec<Vec<u32>>);
    let cases: Vec<Case> = vec![
        (
            "tumbling",
            Windows::tumbling_count(3),
            7,
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]],
        ),
        (
            "sliding overlap",
            Windows::sliding_count(3, 2),
            6,
            vec![vec![0, 1, 2], vec![2, 3, 4], vec![4, 5]],
        ),
        (
            "sliding step > size",
            Windows::sliding_count(2, 3),
            8,
            vec![vec![0, 1], vec![3, 4], vec![6, 7]],
        ),
    ];
    for (name, w, n, want) in cases {
        assert_eq!(count_windows(w, n).await, want, "{name}");
    }
}

/// Sends `(at, value)` pairs at those times (from now) into a processing-time window stage and returns the
/// windows with the time they came out.
async fn processing_windows(
    w: Windows<u32>,
    input: &[(u64, u32)],
    end_ms: u64,
) -> Vec<(Duration, WindowTime, WindowTime, Vec<u32>)> {
    let (feed, source) = mpsc::channel(16);
    let (sink, mut seen) = timed::<Window<u32>>();
    let start = Instant::now();
    let run = tokio::spawn(
        Pipeline::from_source(Feed(source))
            .window(w)
            .sink(sink)
            .run(),
    );
    for &(at, v) in input {
        tokio::time::sleep_until(start + Duration::from_millis(at)).await;
        feed.send(v).await.unwrap();
    }
    tokio::time::sleep_until(start + Duration::from_millis(end_ms)).await;
    let got = drain(&mut seen)
        .into_iter()
        .map(|(t, w)| (t, w.start, w.end, w.items))
        .collect();
    drop(feed);
    run.await.unwrap().unwrap();
    got
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn el(n: u64) -> WindowTime {
    WindowTime::Elapsed(ms(n))
}

#[tokio::test(start_paused = true)]
async fn tumbling_time_window_closes_on_time_without_a_further_item() {
    let got = processing_windows(
        Windows::tumbling(ms(1000)),
        &[(0, 1), (300, 2), (1500, 3)],
        2600,
    )
    .await;
    assert_eq!(
        got,
        [
            (ms(1000), el(0), el(1000), vec![1, 2]),
            (ms(2000), el(1000), el(2000), vec![3]),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn sliding_time_window_with_step_larger_than_size() {
    // Windows [0,1s), [3s,4s), …: the item at 1.5 s falls in no window.
    let got = processing_windows(
        Windows::sliding(ms(1000), ms(3000)),
        &[(500, 1), (1500, 2), (3200, 3)],
        5000,
    )
    .await;
    assert_eq!(
        got,
        [
            (ms(1000), el(0), el(1000), vec![1]),
            (ms(4000), el(3000), el(4000), vec![3]),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn sliding_time_window_overlapping() {
    let got = processing_windows(
        Windows::sliding(ms(1000), ms(500)),
        &[(100, 1), (700, 2)],
        3000,
    )
    .await;
    let items: Vec<(Duration, Vec<u32>)> = got.into_iter().map(|(t, _, _, i)| (t, i)).collect();
    assert_eq!(
        items,
        [(ms(1000), vec![1, 2]), (ms(1500), vec![2])],
        "[0,1s) has both, [500ms,1.5s) has the second"
    );
}

#[tokio::test(start_paused = true)]
async fn session_window_closes_after_the_gap() {
    let got = processing_windows(
        Windows::session(ms(500)),
        &[(0, 1), (300, 2), (2000, 3)],
        3000,
    )
    .await;
    assert_eq!(
        got,
        [
            (ms(800), el(0), el(800), vec![1, 2]),
            (ms(2500), el(2000), el(2500), vec![3]),
        ]
    );
}

#[derive(Debug, Clone, PartialEq)]
struct Event {
    id: u32,
    at_ms: u64,
}

fn at(e: &Event) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(e.at_ms)
}

#[tokio::test(start_paused = true)]
async fn event_time_windows_send_late_items_to_the_error_policy() {
    let events = [
        (1, 1000),
        (2, 5000),
        (3, 12_000),
        (4, 7000),
        (5, 11_000),
        (6, 25_000),
    ]
    .map(|(id, at_ms)| Event { id, at_ms });
    let out = sink::collect();
    let dead = sink::collect::<DeadLetter>();
    let report = Pipeline::from_iter(events)
        .with_config(StreamConfig::default().with_error_policy(ErrorPolicy::DeadLetter))
        .window(Windows::tumbling(Duration::from_secs(10)).event_time(at, Duration::from_secs(1)))
        .sink(out.clone())
        .dead_letter(dead.clone())
        .run()
        .await
        .unwrap();
    let windows: Vec<(WindowTime, Vec<u32>)> = out
        .items()
        .into_iter()
        .map(|w| (w.start, w.items.iter().map(|e| e.id).collect()))
        .collect();
    // Watermark 12 s closes [0,10s) (allowed lateness 1 s): event 4 at 7 s is late; 5 at 11 s is not.
    assert_eq!(
        windows,
        [
            (WindowTime::Event(UNIX_EPOCH), vec![1, 2]),
            (
                WindowTime::Event(UNIX_EPOCH + Duration::from_secs(10)),
                vec![3, 5]
            ),
            (
                WindowTime::Event(UNIX_EPOCH + Duration::from_secs(20)),
                vec![6]
            ),
        ]
    );
    let letters = dead.take();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].item::<Event>().map(|e| e.id), Some(4));
    assert_eq!(letters[0].pipe(), "window");
    assert!(letters[0].error().message().contains("late"));
    assert_eq!(report.dead_lettered(), 1);
}
