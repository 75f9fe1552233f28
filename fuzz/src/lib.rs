//! The bodies of the fuzz targets, one function per target, each taking the fuzzer's bytes.
//!
//! The same file is compiled into a workspace test (`rivus-plugins/tests/fuzz_corpora.rs`) that replays the
//! committed corpora (`fuzz/corpus/<target>/`) and the crashes found so far (`fuzz/regressions/<target>/`), so
//! CI checks them without `cargo fuzz`. Each function fails (panics) only when Rivus breaks a promise: a panic
//! in Rivus itself, a decoder that stops making progress, a record that does not survive its own JSON.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a fuzz target fails loudly"
)]

use std::io::Cursor;
use std::path::Path;

use rivus_core::spec::{PipelineFile, SourceText};
use rivus_core::value::Record;
use rivus_core::{SyncPipe, SyncSource};
use rivus_plugins::csv::{CsvSource, CsvSourceConfig, FieldType};
use rivus_plugins::jsonl::{JsonlSource, JsonlSourceConfig};
use rivus_plugins::script::{Script, ScriptConfig};

/// A pipeline file, loaded and built as `rivus validate` does (nothing opened or connected): a located error
/// or a pipeline, never a panic, a hang or a stack overflow.
pub fn pipeline_file(data: &[u8]) {
    rivus_plugins::link();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| match name {
        "N" => Some("2".to_owned()),
        "S" => Some("fuzz-secret".to_owned()),
        _ => None,
    };
    let source = SourceText::new("fuzz.toml", text);
    match PipelineFile::parse(Path::new("fuzz.toml"), source, &env) {
        Ok(file) => {
            if let Err(e) = file.build() {
                assert!(e.to_string().starts_with("fuzz.toml"), "{e}");
            }
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.toml"), "{e}"),
    }
}

/// The records a source gives for `input`, checking that it makes progress: at most one item per input byte
/// (plus the end), and every record survives its own JSON.
fn drain<S: SyncSource<Out = Record>>(mut source: S, input: &[u8]) {
    if source.open().is_err() {
        return;
    }
    let mut items = 0usize;
    while let Some(item) = source.next() {
        items += 1;
        assert!(
            items <= input.len() + 1,
            "more items than input bytes: the decoder does not move on"
        );
        match item {
            Ok(record) => json_round_trip(&record),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    let _ = source.close();
}

/// The file decoders: the first byte's top bit picks JSON lines (set) or CSV (clear); see [`csv`] and
/// [`jsonl`] for what its other bits pick.
pub fn decoders(data: &[u8]) {
    match data.first() {
        Some(&first) if first & 0x80 != 0 => jsonl(data),
        _ => csv(data),
    }
}

/// The CSV decoder, with options taken from the first byte: header or `columns`, delimiter, a small
/// `max_record_bytes`, typed columns; with bit 32, the same input is read again with two worker threads, which
/// must give the same items.
pub fn csv(data: &[u8]) {
    let Some((&options, input)) = data.split_first() else {
        return;
    };
    let mut config = CsvSourceConfig::new("fuzz.csv");
    config.has_header = options & 1 == 0;
    if !config.has_header {
        config.columns = Some(vec!["a".into(), "b".into(), "c".into()]);
    }
    config.delimiter = [',', ';', '\t', '|'][usize::from((options >> 1) & 3)];
    if options & 8 != 0 {
        config.max_record_bytes = 16;
    }
    if options & 16 != 0 {
        config.types = [
            ("a".to_owned(), FieldType::Int),
            ("b".to_owned(), FieldType::Float),
            ("c".to_owned(), FieldType::Bool),
        ]
        .into();
    }
    if config.check().is_err() {
        return;
    }
    if options & 32 != 0 {
        let items = |workers: usize| {
            let mut config = config.clone();
            config.workers = workers;
            let reader = Box::new(Cursor::new(input.to_vec()));
            let mut source = CsvSource::from_reader(config, "fuzz.csv", reader);
            let opened = source.open().map_err(|e| e.to_string());
            let items: Vec<String> = std::iter::from_fn(|| source.next())
                .map(|item| match item {
                    Ok(record) => format!("{record:?}"),
                    Err(e) => format!("{e} {e:?}"),
                })
                .collect();
            (opened, items)
        };
        assert_eq!(
            items(0),
            items(2),
            "workers change what the csv source gives"
        );
    }
    let reader = Box::new(Cursor::new(input.to_vec()));
    drain(CsvSource::from_reader(config, "fuzz.csv", reader), input);
}

/// The JSON lines decoder; the first byte picks a small `max_record_bytes`.
pub fn jsonl(data: &[u8]) {
    let Some((&options, input)) = data.split_first() else {
        return;
    };
    let mut config = JsonlSourceConfig::new("fuzz.jsonl");
    if options & 1 != 0 {
        config.max_record_bytes = 32;
    }
    let reader = Box::new(Cursor::new(input.to_vec()));
    drain(
        JsonlSource::from_reader(config, "fuzz.jsonl", reader),
        input,
    );
}

/// A record through serde and back is the record: fields in order, numbers digit for digit.
fn json_round_trip(record: &Record) {
    let text = serde_json::to_string(record).unwrap();
    let back: Record = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, record, "{text}");
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
    let value = record.to_json();
    assert_eq!(serde_json::to_string(&value).unwrap(), text);
}

/// Records from arbitrary JSON: whatever parses as a record survives its own JSON.
pub fn record_serde(data: &[u8]) {
    if let Ok(record) = serde_json::from_slice::<Record>(data) {
        json_round_trip(&record);
    }
}

/// The script transform with small bounds: the input is the script, run on a fixed record. It compiles or is
/// refused, and then ends (within its bounds) with records or an error, never a panic or a hang.
pub fn script(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = ScriptConfig {
        max_operations: 20_000,
        max_string_bytes: 4096,
        max_array_items: 256,
        max_map_items: 256,
        max_call_depth: 16,
        max_expr_depth: 32,
        max_script_bytes: 4096,
        ..ScriptConfig::inline(text)
    };
    let Ok(script) = Script::try_from(config) else {
        return;
    };
    let record: Record =
        serde_json::from_str(r#"{"a":1,"f":2.5,"s":"text","big":123456789012345678901234567890,"l":[1,{"k":null}],"m":{"x":true}}"#)
            .unwrap();
    let mut out: Vec<Record> = Vec::new();
    if script.process_each(record, &mut out).is_ok() {
        for record in &out {
            json_round_trip(record);
        }
    }
}
