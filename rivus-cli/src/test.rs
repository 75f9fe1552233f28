//! `rivus test`: the `[[tests]]` of a pipeline file, fed through its transforms.

use rivus_core::spec::{PipeStage, PipelineFile};
use rivus_core::value::Record;
use rivus_core::{AsyncPipe, PipeError, SyncPipe};

use crate::CliError;
use crate::cli::FileArgs;

pub(crate) fn test(args: &FileArgs) -> Result<(), CliError> {
    let file = PipelineFile::load(&args.file)?;
    if file.doc.tests.is_empty() {
        return Err(CliError::Config(format!(
            "{}: the file has no `[[tests]]`",
            args.file.display()
        )));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    let mut failed = Vec::new();
    for case in &file.doc.tests {
        // Each test gets freshly built plugins, so state cannot leak from one test into the next.
        let mut built = file.build()?;
        let inputs = to_records(&case.input).map_err(CliError::Config)?;
        let expected = to_records(&case.expect).map_err(CliError::Config)?;
        let actual = runtime.block_on(run_transforms(&mut built.transforms, inputs));
        match actual {
            Ok(actual) if json(&actual) == json(&expected) => println!("ok     {}", case.name),
            Ok(actual) => {
                println!("FAILED {}", case.name);
                print!("{}", diff(&expected, &actual));
                failed.push(case.name.clone());
            }
            Err(e) => {
                println!("FAILED {}: {e}", case.name);
                failed.push(case.name.clone());
            }
        }
    }
    let total = file.doc.tests.len();
    println!("{} passed, {} failed", total - failed.len(), failed.len());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{} of {total} test(s) failed: {}",
            failed.len(),
            failed.join(", ")
        )))
    }
}

/// Records as JSON, for comparison: raw bytes (a line's text) are not part of what a test states.
fn json(records: &[Record]) -> Vec<serde_json::Value> {
    records.iter().map(Record::to_json).collect()
}

fn to_records(tables: &[toml::Table]) -> Result<Vec<Record>, String> {
    tables
        .iter()
        .map(|t| {
            let json = serde_json::to_value(t).map_err(|e| e.to_string())?;
            serde_json::from_value(json).map_err(|e| e.to_string())
        })
        .collect()
}

async fn run_transforms(
    transforms: &mut [rivus_core::spec::Built<PipeStage>],
    inputs: Vec<Record>,
) -> Result<Vec<Record>, PipeError> {
    let mut items = inputs;
    for t in transforms.iter_mut() {
        let mut next = Vec::with_capacity(items.len());
        match &mut t.stage {
            PipeStage::Sync(p) => {
                p.open()?;
                for item in items {
                    p.process_each(item, &mut next)?;
                }
                p.close()?;
            }
            PipeStage::Async(p) => {
                p.open().await?;
                for item in items {
                    p.process_each(item, &mut next).await?;
                }
                p.close().await?;
            }
        }
        items = next;
    }
    Ok(items)
}

/// A line diff of the expected and actual records, one JSON object per line. Each actual record is shown with
/// its keys in the order of the expected record at the same place (keys the expectation lacks come last), so
/// that the diff shows values that differ, not a key order that the comparison ignores.
fn diff(expected: &[Record], actual: &[Record]) -> String {
    let expected: Vec<serde_json::Value> = expected.iter().map(Record::to_json).collect();
    let actual: Vec<serde_json::Value> = actual
        .iter()
        .enumerate()
        .map(|(i, r)| in_order_of(r.to_json(), expected.get(i)))
        .collect();
    let lines = |records: &[serde_json::Value]| -> String {
        records.iter().map(|r| format!("{r}\n")).collect()
    };
    let (expected, actual) = (lines(&expected), lines(&actual));
    let mut out = String::from("  --- expected\n  +++ actual\n");
    for change in similar::TextDiff::from_lines(&expected, &actual).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        out.push_str(&format!("  {sign} {change}"));
        if change.missing_newline() {
            out.push('\n');
        }
    }
    out
}

/// `actual` with its top-level keys in the order of `model`'s; keys `model` lacks keep their order, after them.
fn in_order_of(actual: serde_json::Value, model: Option<&serde_json::Value>) -> serde_json::Value {
    match (actual, model) {
        (serde_json::Value::Object(mut actual), Some(serde_json::Value::Object(model))) => {
            let mut ordered = serde_json::Map::with_capacity(actual.len());
            for key in model.keys() {
                if let Some(v) = actual.shift_remove(key) {
                    ordered.insert(key.clone(), v);
                }
            }
            ordered.extend(actual);
            serde_json::Value::Object(ordered)
        }
        (actual, _) => actual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_shows_values_not_key_order() {
        let record = |v| serde_json::from_value::<Record>(v).unwrap();
        let expected = [record(serde_json::json!({"a": 1, "b": 2}))];
        let actual = [record(serde_json::json!({"c": 9, "b": 3, "a": 1}))];
        let d = diff(&expected, &actual);
        assert!(d.contains(r#"- {"a":1,"b":2}"#), "{d}");
        assert!(d.contains(r#"+ {"a":1,"b":3,"c":9}"#), "{d}");
    }
}
