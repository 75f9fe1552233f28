//! The two shapes of Rivusio's plugin page, in Rust: an async source that yields records (a generator, no
//! server) piped through a transform into a sync CSV sink that writes a file — registered as plugins by their
//! attributes, composed with `>>`, and run on the runtime.
//!
//! Run: `cargo run -p rivus-examples --example plugin_shapes -- [OUTPUT.csv]` (default `orders.csv` in the
//! system's temp directory). It lists the plugins it registered, then prints the run's report.

use std::path::PathBuf;

use rivus_core::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One order, as the source produces it.
#[derive(Debug, Clone)]
struct Order {
    id: u64,
    customer: String,
    amount_cents: u64,
}

/// Generated orders; stands in for a Kafka topic (Rivusio's `KafkaSource`).
#[async_source("orders")]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OrderGenerator {
    /// How many orders to make.
    count: u64,
    #[serde(skip)]
    next_id: u64,
}

impl AsyncSource for OrderGenerator {
    type Out = Order;

    async fn next(&mut self) -> Option<Result<Order, PipeError>> {
        if self.next_id >= self.count {
            return None;
        }
        // A real source awaits the network here; yielding keeps the example honest about being async.
        tokio::task::yield_now().await;
        let id = self.next_id;
        self.next_id += 1;
        let customers = ["ada", "grace", "linus", "barbara"];
        Some(Ok(Order {
            id,
            customer: customers[(id % 4) as usize].to_owned(),
            amount_cents: 250 + (id * 37) % 1000,
        }))
    }
}

/// The CSV row the sink writes.
#[derive(Debug, Clone, Serialize)]
struct InvoiceRow {
    order_id: u64,
    customer: String,
    net: String,
    vat: String,
    gross: String,
}

/// An order becomes an invoice row with 20% VAT.
#[sync_pipe("to_invoice")]
#[derive(Deserialize, JsonSchema)]
struct ToInvoice {}

impl SyncPipe for ToInvoice {
    type In = Order;
    type Out = InvoiceRow;

    fn process(&self, order: Order) -> Result<InvoiceRow, PipeError> {
        let vat = order.amount_cents / 5;
        let money = |cents: u64| format!("{}.{:02}", cents / 100, cents % 100);
        Ok(InvoiceRow {
            order_id: order.id,
            customer: order.customer,
            net: money(order.amount_cents),
            vat: money(vat),
            gross: money(order.amount_cents + vat),
        })
    }
}

/// Writes invoice rows to a CSV file (Rivusio's `CsvSink`), opened in `open`, flushed in `flush`.
#[sync_sink("invoice_csv")]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CsvSink {
    /// The file to write.
    path: PathBuf,
    #[serde(skip)]
    #[schemars(skip)]
    writer: Option<csv::Writer<std::fs::File>>,
}

impl SyncSink for CsvSink {
    type In = InvoiceRow;

    fn open(&mut self) -> Result<(), PipeError> {
        let writer = csv::Writer::from_path(&self.path).permanent("csv")?;
        self.writer = Some(writer);
        Ok(())
    }

    fn write(&mut self, row: InvoiceRow) -> Result<(), PipeError> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| PipeError::msg("write before open"))?;
        writer.serialize(row).permanent("csv")
    }

    fn flush(&mut self) -> Result<(), PipeError> {
        match self.writer.as_mut() {
            Some(writer) => Ok(writer.flush()?),
            None => Ok(()),
        }
    }

    fn close(&mut self) -> Result<(), PipeError> {
        self.flush()?;
        self.writer = None;
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("orders.csv"));

    // The attributes registered the three plugins at link time.
    registry::validate()?;
    for p in registry::plugins().filter(|p| p.module_path().starts_with("plugin_shapes")) {
        println!(
            "registered {} `{}`: {}",
            p.kind(),
            p.name(),
            p.description()
        );
    }

    let source = OrderGenerator {
        count: 1_000,
        next_id: 0,
    };
    let sink = CsvSink {
        path: path.clone(),
        writer: None,
    };
    // `source >> pipe >> pipe >> sink` is a runnable pipeline: orders of at least 5.00 become invoice rows.
    let pipeline = source
        >> pipe::filter(|o: &Order| o.amount_cents >= 500).named("min_amount")
        >> ToInvoice {}
        >> sink;
    let report = pipeline.run().await?;

    println!(
        "wrote {} invoice rows to {} in {:?}",
        report.items_written(),
        path.display(),
        report.elapsed
    );
    Ok(())
}
