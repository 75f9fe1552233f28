//! What a condition costs per record, beside the `filter` that main had before conditions (its
//! `field`/`op`/`value` comparison, copied here as the baseline), on 10,000 order-like records of 7 fields:
//! (a) the baseline, `amount > 10` by field/op/value; (b) `filter` with `when = "amount > 10"`; (c) `filter`
//! with the one-field form, now compiled to the same tree as (b); (d) an everyday condition,
//! `status == 'paid' and amount > 10`; (e) a wider one with `in`, a regex and `not exists`.
//!
//! Run: `cargo bench -p rivus-plugins --bench condition`. Criterion prints records/s; the goal is (b) and (d)
//! within 1.5x of (a) per record.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench fails loudly"
)]

use std::cmp::Ordering;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rivus_core::condition::Condition;
use rivus_core::value::{Record, Value};
use rivus_core::{Emit, SyncPipe};
use rivus_plugins::transform::{Filter, Op};

const N: usize = 10_000;

fn records() -> Vec<Record> {
    let statuses = ["paid", "pending", "refunded"];
    let countries = ["FR", "DE", "US", "JP", "GB"];
    (0..N)
        .map(|i| {
            let json = format!(
                r#"{{"order_id":{i},"customer":"Ada Lovelace","country":"{}","status":"{}","amount":{}.{:02},"quantity":{},"created_at":"2026-01-02T10:00:00Z"}}"#,
                countries[i % countries.len()],
                statuses[i % statuses.len()],
                i % 40,
                i % 100,
                i % 12
            );
            serde_json::from_str(&json).unwrap()
        })
        .collect()
}

/// main's `Filter::keep` before conditions: one field, one comparison (kept verbatim as the baseline).
fn baseline_keep(record: &Record, field: &str, op: Op, value: &Value) -> Result<bool, String> {
    let actual = record.get(field).filter(|v| !v.is_null());
    let Some(actual) = actual else {
        return Ok(matches!(op, Op::Missing | Op::Ne));
    };
    let order = || -> Result<Ordering, String> {
        match (actual, value) {
            (Value::Number(a), Value::Number(b)) => {
                let (a, b) = (
                    a.as_f64().unwrap_or(f64::NAN),
                    b.as_f64().unwrap_or(f64::NAN),
                );
                a.partial_cmp(&b).ok_or_else(|| "mismatch".to_owned())
            }
            (Value::String(a), Value::String(b)) => Ok(a.cmp(b)),
            (Value::Bool(a), Value::Bool(b)) => Ok(a.cmp(b)),
            _ => Err("mismatch".to_owned()),
        }
    };
    Ok(match op {
        Op::Exists => true,
        Op::Missing => false,
        Op::Eq => order()? == Ordering::Equal,
        Op::Ne => order()? != Ordering::Equal,
        Op::Gt => order()? == Ordering::Greater,
        Op::Ge => order()? != Ordering::Less,
        Op::Lt => order()? == Ordering::Less,
        Op::Le => order()? != Ordering::Greater,
        Op::Contains => false,
    })
}

/// Counts the records `filter` keeps, calling it per record as the runtime does (records are cloned in, as
/// the runtime moves them in; the clone is the same in every case).
fn kept(filter: &Filter, records: &[Record]) -> usize {
    let mut out: Vec<Record> = Vec::with_capacity(1);
    let mut n = 0;
    for r in records {
        filter.process_each(black_box(r.clone()), &mut out).unwrap();
        n += out.len();
        out.clear();
    }
    n
}

fn baseline(records: &[Record]) -> usize {
    let mut out: Vec<Record> = Vec::with_capacity(1);
    let value = Value::from(10);
    let mut n = 0;
    for r in records {
        let r = black_box(r.clone());
        if baseline_keep(&r, "amount", Op::Gt, &value).unwrap() {
            out.emit(r).unwrap();
        }
        n += out.len();
        out.clear();
    }
    n
}

fn bench(c: &mut Criterion) {
    let records = records();
    let when = |text: &str| Filter::new(Condition::parse(text).unwrap());
    let simple = when("amount > 10");
    let field = Filter::field("amount", Op::Gt, 10.into());
    let everyday = when("status == 'paid' and amount > 10");
    let wide = when("country in ['FR', 'DE', 'GB'] and customer =~ '^Ada' and not exists(refund)");
    assert_eq!(baseline(&records), kept(&simple, &records));
    assert_eq!(kept(&field, &records), kept(&simple, &records));

    let mut group = c.benchmark_group("condition");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("a_baseline_field_op_value", |b| {
        b.iter(|| baseline(&records))
    });
    group.bench_function("b_when_amount_gt_10", |b| {
        b.iter(|| kept(&simple, &records))
    });
    group.bench_function("c_field_op_value_now", |b| {
        b.iter(|| kept(&field, &records))
    });
    group.bench_function("d_when_status_and_amount", |b| {
        b.iter(|| kept(&everyday, &records))
    });
    group.bench_function("e_when_in_regex_not_exists", |b| {
        b.iter(|| kept(&wide, &records))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
