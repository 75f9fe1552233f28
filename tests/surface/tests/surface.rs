//! The public surface the README and `docs/architecture.md` describe, used from a crate that depends on
//! `rivus-core` alone.

use rivus_core::prelude::*;

struct Parse;

impl SyncPipe for Parse {
    type In = String;
    type Out = u64;
    fn process(&self, input: String) -> Result<u64, PipeError> {
        input.trim().parse().permanent("parse")
    }
}

struct Enrich;

impl AsyncPipe for Enrich {
    type In = u64;
    type Out = (u64, String);
    async fn process(&self, id: u64) -> Result<(u64, String), PipeError> {
        tokio::task::yield_now().await;
        Ok((id, format!("customer-{id}")))
    }
}

struct Numbers(Vec<String>);

impl AsyncSource for Numbers {
    type Out = String;
    async fn next(&mut self) -> Option<Result<String, PipeError>> {
        self.0.pop().map(Ok)
    }
}

#[derive(Default)]
struct Collect(Vec<(u64, String)>);

impl SyncSink for Collect {
    type In = (u64, String);
    fn write(&mut self, item: (u64, String)) -> Result<(), PipeError> {
        self.0.push(item);
        Ok(())
    }
}

#[tokio::test]
async fn source_through_mixed_chain_into_sink() {
    let chain = Parse.then(pipe::filter(|x: &u64| *x > 1)) >> pipe::from_async(Enrich);
    let mut source = Numbers(vec!["3".into(), "1".into(), "2".into()]);
    let mut sink = Collect::default();
    source.open().await.unwrap();
    sink.open().unwrap();
    let mut out = Vec::new();
    while let Some(item) = source.next().await {
        chain.process_each(item.unwrap(), &mut out).await.unwrap();
        for x in out.drain(..) {
            sink.write(x).unwrap();
        }
    }
    sink.flush().unwrap();
    assert_eq!(
        sink.0,
        [(2, "customer-2".to_owned()), (3, "customer-3".to_owned())]
    );
}

#[test]
fn errors_and_messages() {
    let err = Parse.process("x".into()).unwrap_err();
    assert_eq!(err.pipe(), "parse");
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(std::error::Error::source(&err).is_some());

    let a = Message::new(1);
    let b = Message::new(1);
    assert_ne!(a.metadata.id, b.metadata.id);
    let meta = MessageMetadata::new()
        .with_source("test")
        .with_correlation_id("c-1");
    assert_eq!(meta.source.as_deref(), Some("test"));

    let cfg = PipeConfig::default();
    assert_eq!(cfg.concurrency.get(), 1);
}
