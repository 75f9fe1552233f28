//! [`GeneratorSource`]: records made from a template, for demos, tests and benchmarks; no server, no file.

use std::borrow::Cow;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use rivus_core::condition::Condition;
use rivus_core::registry::OptionError;
use rivus_core::value::{FieldName, Fields, Number, Record, Text, Value};
use rivus_core::{AsyncSource, PipeError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::MAX_LEFT_OUT_PER_CALL;

/// Configuration of [`GeneratorSource`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    /// How many records to make. Default: no limit (until the pipeline is stopped).
    #[serde(default)]
    pub count: Option<u64>,
    /// Records per second. Default: as fast as the pipeline takes them.
    #[serde(default)]
    pub rate: Option<f64>,
    /// The fields of each record. In string values `{i}` becomes the record's number (0, 1, …); a value that
    /// is exactly `"{i}"` becomes the number itself. Default: `{ i = "{i}" }`.
    #[serde(default)]
    pub template: Option<Fields>,
}

/// Makes records from a template: for demos, tests and benchmarks.
///
/// See [`GeneratorConfig`].
#[rivus_core::async_source("generator", config = GeneratorConfig)]
///
/// # Cancel safety
///
/// `next` is cancel safe: a record is numbered only when it is returned or left out (and then counted).
pub struct GeneratorSource {
    count: Option<u64>,
    /// The template's fields, read once: their names interned, their values split at `{i}`.
    template: Vec<(FieldName, Part)>,
    /// Whether a field of the template is text holding `{i}`.
    needs_digits: bool,
    interval: Option<tokio::time::Interval>,
    period: Option<Duration>,
    next: u64,
    /// The condition of the `filter` after the source ([`AsyncSource::prefilter`]).
    prefilter: Option<Prefilter>,
    /// Records the prefilter left out since [`AsyncSource::take_filtered`] was last called.
    left_out: u64,
}

/// The slowest `rate`: one record every 11.6 days (a longer period is a stalled source, not a generator).
pub const MIN_RATE: f64 = 1e-6;
/// The fastest `rate`: one record per nanosecond, the timer's resolution.
pub const MAX_RATE: f64 = 1e9;

impl TryFrom<GeneratorConfig> for GeneratorSource {
    type Error = OptionError;

    fn try_from(config: GeneratorConfig) -> Result<Self, OptionError> {
        let period = match config.rate {
            None => None,
            Some(rate) => Some(period_of(rate)?),
        };
        let template = config
            .template
            .unwrap_or_else(|| Fields::from_iter([("i".to_owned(), Value::from("{i}"))]))
            .into_iter()
            .map(|(name, value)| (FieldName::interned(&name), Part::of(value)))
            .collect::<Vec<_>>();
        Ok(Self {
            count: config.count,
            needs_digits: template.iter().any(|(_, part)| part.needs_digits()),
            template,
            interval: None,
            period,
            next: 0,
            prefilter: None,
            left_out: 0,
        })
    }
}

/// The time between two records at `rate` records per second.
fn period_of(rate: f64) -> Result<Duration, OptionError> {
    let bad = || {
        OptionError::invalid(
            "rate",
            format!(
                "must be a number of records per second from {MIN_RATE} to {MAX_RATE} (leave it out for no \
                 limit), not {rate:?}"
            ),
        )
    };
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(bad());
    }
    Duration::try_from_secs_f64(1.0 / rate)
        .ok()
        .filter(|p| !p.is_zero())
        .ok_or_else(bad)
}

/// The condition of the `filter` after the source, tested on the fields it reads before a record is made.
#[derive(Debug)]
struct Prefilter {
    condition: Arc<Condition>,
    /// The template's fields the condition reads, by index: a record holding these alone gives the condition's
    /// result (or error) on the whole record ([`Condition::fields`]), so a rejected record costs neither an
    /// allocation nor the rest of its fields (about half of the generator bench's instructions were records
    /// made, then dropped by the condition).
    reads: Vec<usize>,
    /// The record the condition is tested on: those fields, whose values are replaced for each record.
    probe: Record,
    /// Whether one of those fields is text holding `{i}` (else the number's digits are not written).
    needs_digits: bool,
    /// Whether the condition compares the record's number (a `"{i}"` field) with a number
    /// ([`Condition::as_number_comparison`]): then it is decided on the number, with no probe record filled and
    /// no field looked up (about 80 instructions a record; callgrind, the generator bench).
    on_number: bool,
    /// The record's number, for that test.
    number: Value,
}

impl Prefilter {
    fn new(condition: &Arc<Condition>, template: &[(FieldName, Part)]) -> Self {
        let fields = condition.fields();
        let reads: Vec<usize> = template
            .iter()
            .enumerate()
            .filter(|(_, (name, _))| fields.contains(&name.as_str()))
            .map(|(at, _)| at)
            .collect();
        let mut probe = Record::with_capacity(reads.len());
        for &at in &reads {
            probe.push(FieldName::clone(&template[at].0), Value::Null);
        }
        let on_number = condition.as_number_comparison().is_some_and(|test| {
            template
                .iter()
                .any(|(name, part)| name.as_str() == test.field && matches!(part, Part::Number))
        });
        Self {
            condition: Arc::clone(condition),
            on_number,
            number: Value::Null,
            needs_digits: reads.iter().any(|&at| template[at].1.needs_digits()),
            probe,
            reads,
        }
    }

    /// Whether the condition is false on record number `i` (an error is the filter's to report: not rejected).
    fn rejects(&mut self, template: &[(FieldName, Part)], i: u64) -> bool {
        if self.on_number
            && let Some(test) = self.condition.as_number_comparison()
        {
            // The number set in place: no `Value` dropped (a call per record; callgrind, the generator bench).
            match &mut self.number {
                Value::Number(number) => *number = Number::from(i),
                other => *other = Value::from(i),
            }
            if let Some(holds) = test.holds_for(&self.number) {
                return !holds;
            }
        }
        let mut buffer = itoa::Buffer::new();
        let digits = digits(&mut buffer, i, self.needs_digits);
        for ((_, value), &at) in self.probe.iter_mut().zip(&self.reads) {
            match (&template[at].1, &mut *value) {
                // In place, as above.
                (Part::Number, Value::Number(number)) => *number = Number::from(i),
                (part, value) => *value = part.value(i, digits),
            }
        }
        matches!(self.condition.eval(&self.probe), Ok(false))
    }
}

/// One field of the template.
#[derive(Debug)]
enum Part {
    /// `"{i}"`: the record's number.
    Number,
    /// A string holding `{i}`: the text around each `{i}`, in order (one more piece than there are `{i}`).
    Text(Vec<String>),
    /// Any other value, as it is.
    Fixed(Value),
}

impl Part {
    fn of(value: Value) -> Self {
        match value {
            Value::String(s) if s == "{i}" => Self::Number,
            Value::String(s) if s.contains("{i}") => {
                Self::Text(s.split("{i}").map(str::to_owned).collect())
            }
            other => Self::Fixed(other),
        }
    }

    /// Whether the field's value holds the record's number as text.
    fn needs_digits(&self) -> bool {
        matches!(self, Self::Text(_))
    }

    /// The field's value in record number `i`, whose number is `digits`.
    #[inline]
    fn value(&self, i: u64, digits: &str) -> Value {
        match self {
            Self::Number => Value::from(i),
            Self::Text(pieces) => Value::String(join(pieces, digits)),
            Self::Fixed(value) => value.clone(),
        }
    }
}

impl GeneratorSource {
    /// The next record: `Some` with what `next` gives (the record, or `None` past `count`), `None` when the
    /// prefilter left it out (`left_out` counts those of one call, at most [`MAX_LEFT_OUT_PER_CALL`]).
    fn step(&mut self, left_out: &mut u32) -> Option<Option<Result<Record, PipeError>>> {
        if self.count.is_some_and(|count| self.next >= count) {
            return Some(None);
        }
        let i = self.next;
        self.next += 1;
        if *left_out < MAX_LEFT_OUT_PER_CALL
            && let Some(prefilter) = &mut self.prefilter
            && prefilter.rejects(&self.template, i)
        {
            *left_out += 1;
            self.left_out += 1;
            return None;
        }
        Some(Some(Ok(self.render(i))))
    }

    /// Record number `i`. The template's names are distinct (it is a map), so fields are pushed unchecked.
    fn render(&self, i: u64) -> Record {
        // Room for one more field: a transform that adds one (`set`, a script) then does not grow the vector.
        let mut record = Record::with_capacity(self.template.len() + 1);
        let mut buffer = itoa::Buffer::new();
        let digits = digits(&mut buffer, i, self.needs_digits);
        for (name, part) in &self.template {
            record.push(FieldName::clone(name), part.value(i, digits));
        }
        record
    }
}

/// The digits of `i` without `fmt` (itoa), when `needed` (a field holds the number as text); else nothing.
fn digits(buffer: &mut itoa::Buffer, i: u64, needed: bool) -> &str {
    if needed { buffer.format(i) } else { "" }
}

/// `pieces` joined by `digits`. Up to 24 bytes (`order 123456`) it is built on the stack and stored inline in
/// the `Text`, with no allocation: pushing the pieces into a `Text` one by one cost about 120 instructions
/// per record (callgrind, the generator bench).
#[allow(unsafe_code)]
fn join(pieces: &[String], digits: &str) -> Text {
    const INLINE: usize = 24;
    let len = pieces.iter().map(String::len).sum::<usize>() + digits.len() * (pieces.len() - 1);
    if len > INLINE {
        let mut text = String::with_capacity(len);
        for (n, piece) in pieces.iter().enumerate() {
            if n > 0 {
                text.push_str(digits);
            }
            text.push_str(piece);
        }
        return Text::from(text);
    }
    let mut buf = [0u8; INLINE];
    let mut at = 0;
    let mut put = |part: &str| {
        buf[at..at + part.len()].copy_from_slice(part.as_bytes());
        at += part.len();
    };
    for (n, piece) in pieces.iter().enumerate() {
        if n > 0 {
            put(digits);
        }
        put(piece);
    }
    // Without `str::from_utf8`, which cost about 100 instructions for `order 123456` (callgrind, the generator
    // bench).
    // SAFETY: `buf[..at]` holds whole `&str`s (the pieces and the digits) copied one after another by `put`, and
    // nothing else; each is UTF-8 and ends on a character boundary, so their concatenation is UTF-8.
    Text::from(unsafe { std::str::from_utf8_unchecked(&buf[..at]) })
}

impl AsyncSource for GeneratorSource {
    type Out = Record;

    fn name(&self) -> Cow<'static, str> {
        "generator".into()
    }

    async fn open(&mut self) -> Result<(), PipeError> {
        if let Some(period) = self.period {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            self.interval = Some(interval);
        }
        Ok(())
    }

    async fn next(&mut self) -> Option<Result<Record, PipeError>> {
        let mut left_out = 0;
        loop {
            if let Some(interval) = self.interval.as_mut() {
                if self.count.is_some_and(|count| self.next >= count) {
                    return None;
                }
                // Every record takes a tick, a left-out one too.
                interval.tick().await;
            }
            if let Some(next) = self.step(&mut left_out) {
                return next;
            }
        }
    }

    /// Without a `rate`, records are made at once.
    fn try_next(&mut self) -> Poll<Option<Result<Record, PipeError>>> {
        if self.interval.is_some() {
            return Poll::Pending;
        }
        let mut left_out = 0;
        loop {
            if let Some(next) = self.step(&mut left_out) {
                return Poll::Ready(next);
            }
        }
    }

    /// A record the condition rejects is left out and counted, not returned (up to 1,024 in one call).
    fn prefilter(&mut self, condition: &Arc<Condition>) -> bool {
        self.prefilter = Some(Prefilter::new(condition, &self.template));
        true
    }

    fn take_filtered(&mut self) -> u64 {
        std::mem::take(&mut self.left_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn counts_renders_and_paces() {
        let config: GeneratorConfig = serde_json::from_value(serde_json::json!({
            "count": 3, "rate": 10.0, "template": { "id": "{i}", "name": "user-{i}", "fixed": true }
        }))
        .unwrap();
        let mut g = GeneratorSource::try_from(config).unwrap();
        g.open().await.unwrap();
        let start = tokio::time::Instant::now();
        let mut out = Vec::new();
        while let Some(r) = g.next().await {
            out.push(r.unwrap());
        }
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].get("id"), Some(&Value::from(2)));
        assert_eq!(out[2].get("name"), Some(&Value::from("user-2")));
        assert_eq!(out[2].get("fixed"), Some(&Value::Bool(true)));
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(200),
            "3 ticks at 10/s: 0, 100, 200 ms"
        );
        let bad = GeneratorConfig {
            rate: Some(0.0),
            ..GeneratorConfig::default()
        };
        assert!(GeneratorSource::try_from(bad).is_err());
    }

    #[tokio::test]
    async fn a_prefilter_leaves_rejected_records_out_and_counts_them() {
        let config: GeneratorConfig = serde_json::from_value(serde_json::json!({
            "count": 2100, "template": { "n": "{i}" }
        }))
        .unwrap();
        let mut g = GeneratorSource::try_from(config).unwrap();
        // Keeps 0..10 and 2090..: a run of 2,080 rejected records between.
        assert!(g.prefilter(&Arc::new(Condition::parse("n < 10 or n >= 2090").unwrap())));
        g.open().await.unwrap();
        let mut kept = Vec::new();
        let mut calls = Vec::new();
        while let Some(r) = g.next().await {
            let n = r.unwrap().get("n").and_then(Value::as_u64).unwrap();
            kept.push(n);
            calls.push(g.take_filtered());
        }
        let after_end = g.take_filtered();
        // Two runs of 1,024 left out, each followed by a rejected record returned for the filter to drop.
        let rejected: Vec<u64> = kept
            .iter()
            .copied()
            .filter(|n| (10..2090).contains(n))
            .collect();
        assert_eq!(rejected, [1034, 2059]);
        assert_eq!(kept.len(), 10 + 2 + 10);
        assert_eq!(calls.iter().sum::<u64>() + after_end, 2100 - 22);
        assert_eq!(after_end, 0);
    }

    #[tokio::test]
    async fn the_prefilter_decides_on_the_fields_it_reads_as_on_the_whole_record() {
        let template = serde_json::json!({
            "id": "{i}", "name": "order {i}", "tier": "gold",
            "long": "{i}: a text longer than the 24 bytes held inline"
        });
        for condition in [
            "id >= 5 and name != 'order 7'",
            "tier == 'gold' and id < 3",
            "exists(missing) or id == 4",
            "not exists(name) or id > 8",
            "long == '3: a text longer than the 24 bytes held inline'",
            // Decided on the record's number alone (`Condition::as_number_comparison`).
            "id >= 5",
            "id < 3",
            "id == 4",
            "id != 4",
            "id > 7.5",
            "id <= -1",
            // An error on every record: none is left out, the filter reports them.
            "tier >= 1",
            "name > 3",
            "tier != 'gold'",
        ] {
            let config: GeneratorConfig = serde_json::from_value(serde_json::json!({
                "count": 12, "template": template
            }))
            .unwrap();
            let mut g = GeneratorSource::try_from(config).unwrap();
            let condition = Arc::new(Condition::parse(condition).unwrap());
            let expected: Vec<Record> = (0..12)
                .map(|i| g.render(i))
                .filter(|r| !matches!(condition.eval(r), Ok(false)))
                .collect();
            assert!(g.prefilter(&condition));
            g.open().await.unwrap();
            let mut kept = Vec::new();
            while let Some(r) = g.next().await {
                kept.push(r.unwrap());
            }
            assert_eq!(kept, expected, "{condition:?}");
            assert_eq!(g.take_filtered(), 12 - expected.len() as u64);
        }
    }

    #[tokio::test]
    async fn try_next_gives_what_next_gives_and_waits_for_a_rate() {
        let config = || -> GeneratorConfig {
            serde_json::from_value(serde_json::json!({
                "count": 3000, "template": { "n": "{i}", "name": "n{i}" }
            }))
            .unwrap()
        };
        let condition = Arc::new(Condition::parse("n < 10 or n >= 2500").unwrap());
        let mut by_next = GeneratorSource::try_from(config()).unwrap();
        let mut at_once = GeneratorSource::try_from(config()).unwrap();
        for g in [&mut by_next, &mut at_once] {
            assert!(g.prefilter(&condition));
            g.open().await.unwrap();
        }
        loop {
            let a = by_next.next().await.map(Result::unwrap);
            let Poll::Ready(b) = at_once.try_next() else {
                panic!("no rate: ready at once")
            };
            assert_eq!(a, b.map(Result::unwrap));
            assert_eq!(by_next.take_filtered(), at_once.take_filtered());
            if a.is_none() {
                break;
            }
        }
        let mut paced = GeneratorSource::try_from(GeneratorConfig {
            rate: Some(10.0),
            ..config()
        })
        .unwrap();
        paced.open().await.unwrap();
        assert!(paced.try_next().is_pending());
    }

    #[test]
    fn renders_every_placeholder_in_the_templates_order() {
        let config: GeneratorConfig = serde_json::from_value(serde_json::json!({
            "template": { "z": "{i}-{i}", "a": "{i}", "m": "no number", "n": 1.5, "e": "{i}{i}x",
                "long": "{i}: a text longer than the 24 bytes held inline" }
        }))
        .unwrap();
        let g = GeneratorSource::try_from(config).unwrap();
        let r = g.render(42);
        assert_eq!(
            r.field_names().collect::<Vec<_>>(),
            ["z", "a", "m", "n", "e", "long"]
        );
        assert_eq!(r.get("z"), Some(&Value::from("42-42")));
        assert_eq!(r.get("a"), Some(&Value::from(42)));
        assert_eq!(r.get("m"), Some(&Value::from("no number")));
        assert_eq!(r.get("n"), Some(&Value::from(1.5)));
        assert_eq!(r.get("e"), Some(&Value::from("4242x")));
        assert_eq!(
            r.get("long"),
            Some(&Value::from(
                "42: a text longer than the 24 bytes held inline"
            ))
        );
        // Just over and just under the inline length.
        assert_eq!(
            join(&["x".repeat(20), "y".into()], "1234"),
            "x".repeat(20) + "1234y"
        );
        assert_eq!(
            join(&["x".repeat(20), String::new()], "1234"),
            "x".repeat(20) + "1234"
        );
        // Pieces of several bytes a character, joined inline.
        assert_eq!(join(&["é".into(), "ü€".into()], "12"), "é12ü€");
        assert_eq!(
            join(&["€".repeat(7), String::new()], "9"),
            "€".repeat(7) + "9"
        );
        let default = GeneratorSource::try_from(GeneratorConfig::default()).unwrap();
        assert_eq!(default.render(7).get("i"), Some(&Value::from(7)));
    }

    #[test]
    fn rates_out_of_range_name_the_option() {
        for rate in [
            0.0,
            -1.0,
            1e-300,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let config = GeneratorConfig {
                rate: Some(rate),
                ..GeneratorConfig::default()
            };
            let Err(err) = GeneratorSource::try_from(config) else {
                panic!("{rate} passed")
            };
            assert_eq!(err.path.to_string(), "rate", "{rate}");
            assert!(
                err.message().contains("from 0.000001 to 1000000000"),
                "{err}"
            );
        }
        for rate in [MIN_RATE, 1.0, MAX_RATE] {
            assert!(!period_of(rate).unwrap().is_zero(), "{rate}");
        }
    }
}
