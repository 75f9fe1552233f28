//! The generated orders CSV the file benches read: `order_id,customer,country,status,amount,quantity,created_at`,
//! one row in three `paid`, quoted customer names, up to `megabytes` MB.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The types pipeline files give the orders' columns (the others are strings).
pub(crate) const TYPES: &str =
    r#"types = { order_id = "int", amount = "float", quantity = "int" }"#;

/// An order, as the hand-written loops read it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Order {
    pub(crate) order_id: i64,
    pub(crate) customer: String,
    pub(crate) country: String,
    pub(crate) status: String,
    pub(crate) amount: f64,
    pub(crate) quantity: i64,
    pub(crate) created_at: String,
}

/// The baseline: CSV -> JSON lines by hand, `csv` + serde into [`Order`] + `serde_json`; returns the rows.
pub(crate) fn hand_copy(input: &Path, output: &Path) -> u64 {
    let mut reader = csv::Reader::from_path(input).unwrap();
    let mut out = BufWriter::with_capacity(64 * 1024, File::create(output).unwrap());
    let mut rows = 0;
    for order in reader.deserialize::<Order>() {
        serde_json::to_writer(&mut out, &order.unwrap()).unwrap();
        out.write_all(b"\n").unwrap();
        rows += 1;
    }
    out.flush().unwrap();
    rows
}

/// Writes about `megabytes` MB of orders to `path`; returns the number of rows (the header not counted).
pub(crate) fn generate(path: &Path, megabytes: u64) -> u64 {
    let mut out = BufWriter::new(File::create(path).unwrap());
    writeln!(
        out,
        "order_id,customer,country,status,amount,quantity,created_at"
    )
    .unwrap();
    let customers = [
        "Ada Lovelace",
        "Grace Hopper",
        "Linus Torvalds",
        "Barbara Liskov",
    ];
    let mut written = 0u64;
    let mut rows = 0u64;
    while written < megabytes * 1_000_000 {
        let line = format!(
            "{rows},\"{}\",DE,{},{}.{:02},{},2026-01-{:02}T10:00:00Z\n",
            customers[(rows % 4) as usize],
            STATUSES[(rows % 3) as usize],
            rows % 900,
            rows % 100,
            1 + rows % 12,
            1 + rows % 28
        );
        out.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        rows += 1;
    }
    out.flush().unwrap();
    rows
}

/// The statuses, in the order rows take them: row `n` has `STATUSES[n % 3]`.
pub(crate) const STATUSES: [&str; 3] = ["paid", "pending", "refunded"];

/// How many of the first `rows` rows are `paid`.
#[allow(dead_code, reason = "not every bench filters")]
pub(crate) fn paid(rows: u64) -> u64 {
    rows.div_ceil(3)
}

/// The megabytes to generate: `RIVUS_BENCH_MB`, default 100.
pub(crate) fn megabytes() -> u64 {
    env_or("RIVUS_BENCH_MB", 100)
}

/// The number of rounds, best of which is reported: `RIVUS_BENCH_ROUNDS`, default 3.
pub(crate) fn rounds() -> usize {
    env_or("RIVUS_BENCH_ROUNDS", 3)
}

/// The value of the environment variable `name`, or `default` when it is unset or not a number.
pub(crate) fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
