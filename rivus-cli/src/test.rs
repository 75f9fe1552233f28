//! `rivus test`: the `[[tests]]` of a pipeline file, fed through its transforms.

use rivus_core::config::ErrorPolicy;
use rivus_core::secrets::redact;
use rivus_core::spec::{BuiltPipeline, ExpectedDeadLetter, PipeStage, SinkRoute};
use rivus_core::value::Record;
use rivus_core::{AsyncPipe, PipeError, SyncPipe};

use crate::CliError;
use crate::cli::FileArgs;

pub(crate) fn test(args: &FileArgs, quiet: bool) -> Result<(), CliError> {
    let file = crate::load::pipeline(&args.file)?;
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
    let say = |line: String| {
        if quiet {
            return Ok(());
        }
        crate::output::print_stdout(&format!("{}\n", redact(&line)))
    };
    for case in &file.doc.tests {
        // Each test gets freshly built plugins, so state cannot leak from one test into the next.
        let mut built = file.build()?;
        let inputs = to_records(&case.input).map_err(CliError::Config)?;
        let expected = to_records(&case.expect).map_err(CliError::Config)?;
        let outcome = runtime.block_on(run_transforms(&mut built, inputs));
        let mut problems = Vec::new();
        match (&case.expect_error, &outcome.error) {
            (None, None) => {}
            (None, Some(e)) => problems.push(format!("the transforms failed: {e}")),
            (Some(want), None) => problems.push(format!(
                "expected the transforms to fail with an error containing {want:?}; they did not fail"
            )),
            (Some(want), Some(e)) if !e.to_string().contains(want.as_str()) => problems.push(format!(
                "expected an error containing {want:?}, got: {e}"
            )),
            (Some(_), Some(_)) => {}
        }
        if let Some(routes) = &case.routes {
            match check_routes(&built, routes, &outcome.records) {
                Ok(Ok(())) => {}
                Ok(Err(differences)) => {
                    problems.push(differences.trim_end().trim_start().to_owned())
                }
                Err(e) => problems.push(format!("a route could not decide a record: {e}")),
            }
        }
        problems.extend(dead_letter_problems(
            &case.expect_dead_letters,
            &outcome.dead_letters,
        )?);
        let records_differ = json(&outcome.records) != json(&expected);
        if problems.is_empty() && !records_differ {
            say(format!("ok     {}", case.name))?;
            continue;
        }
        say(format!("FAILED {}", case.name))?;
        for problem in &problems {
            say(format!("  {problem}"))?;
        }
        if records_differ && !quiet {
            crate::output::print_stdout(&redact(&diff(&expected, &outcome.records)))?;
        }
        failed.push(case.name.clone());
    }
    let total = file.doc.tests.len();
    say(format!(
        "{} passed, {} failed",
        total - failed.len(),
        failed.len()
    ))?;
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

/// What the expected dead letters and the actual ones disagree on, one sentence each.
fn dead_letter_problems(
    expected: &[ExpectedDeadLetter],
    actual: &[(Record, String)],
) -> Result<Vec<String>, CliError> {
    let mut problems = Vec::new();
    if expected.len() != actual.len() {
        problems.push(format!(
            "expected {} dead letter(s), got {}{}",
            expected.len(),
            actual.len(),
            actual
                .iter()
                .map(|(r, e)| format!("\n    {} <- {e}", r.to_json()))
                .collect::<String>()
        ));
        return Ok(problems);
    }
    for (i, (want, (record, error))) in expected.iter().zip(actual).enumerate() {
        if !error.contains(want.error.as_str()) {
            problems.push(format!(
                "dead letter {i}: expected an error containing {:?}, got: {error}",
                want.error
            ));
        }
        if let Some(table) = &want.record {
            let want_record = to_records(std::slice::from_ref(table)).map_err(CliError::Config)?;
            if json(&want_record) != json(std::slice::from_ref(record)) {
                problems.push(format!(
                    "dead letter {i}: expected the record {}, got {}",
                    want_record.first().map(Record::to_json).unwrap_or_default(),
                    record.to_json()
                ));
            }
        }
    }
    Ok(problems)
}

/// Checks `routes` (sink name → expected records, `unrouted` for the records no sink takes) against where the
/// sinks' routes send `records`: `Ok(Err(diff))` when they differ, `Err` when a route cannot decide a record.
fn check_routes(
    built: &rivus_core::spec::BuiltPipeline,
    routes: &toml::Table,
    records: &[Record],
) -> Result<Result<(), String>, PipeError> {
    let mut taken: Vec<Vec<Record>> = vec![Vec::new(); built.sinks.len()];
    let mut unrouted = Vec::new();
    for record in records {
        let mut routed = false;
        let mut any = false;
        for (i, route) in built.routes.iter().enumerate() {
            if matches!(route, SinkRoute::When(_))
                && route
                    .takes(record, false)
                    .map_err(|e| PipeError::msg(e.to_string()))?
            {
                routed = true;
                any = true;
                taken[i].push(record.clone());
            }
        }
        for (i, route) in built.routes.iter().enumerate() {
            if !matches!(route, SinkRoute::When(_)) && route.takes(record, routed).unwrap_or(false)
            {
                any = true;
                taken[i].push(record.clone());
            }
        }
        if !any {
            unrouted.push(record.clone());
        }
    }
    let mut out = String::new();
    for (name, expected) in routes {
        let actual = if name == "unrouted" {
            &unrouted
        } else {
            match built.sinks.iter().position(|s| s.name == *name) {
                Some(i) => &taken[i],
                None => {
                    let names: Vec<&str> = built.sinks.iter().map(|s| s.name.as_str()).collect();
                    return Ok(Err(format!(
                        "  `routes` names `{name}`, which is not a sink (sinks: {}; or `unrouted`)\n",
                        names.join(", ")
                    )));
                }
            }
        };
        let expected = expected
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_table().cloned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let expected = to_records(&expected).map_err(PipeError::msg)?;
        if json(actual) != json(&expected) {
            out.push_str(&format!("  route `{name}`:\n{}", diff(&expected, actual)));
        }
    }
    Ok(if out.is_empty() { Ok(()) } else { Err(out) })
}

/// Records as JSON, for comparison: raw bytes (a line's text) are not part of what a test states.
fn json(records: &[Record]) -> Vec<serde_json::Value> {
    records.iter().map(as_json).collect()
}

fn as_json(record: &Record) -> serde_json::Value {
    serde_json::Value::from(record.to_json())
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

/// What the transforms made of a test's input.
struct Outcome {
    /// What came out of the last transform (before a fail-fast error: what passed every transform).
    records: Vec<Record>,
    /// The records the `dead_letter` policy took, with their errors' messages.
    dead_letters: Vec<(Record, String)>,
    /// The error that stopped the transforms (a fail-fast error, or a failed `open`/`close`).
    error: Option<PipeError>,
}

/// Feeds the inputs through every transform in turn, and through the `window` and `batch` stages between them
/// (each applied to all the records at once: see `BuiltinStage::apply`), applying each transform's error policy
/// (its `runtime.on_error`, or the `[pipeline]`'s) as the runtime does: a skipped record is dropped, a
/// dead-lettered one is kept with its error, and a fail-fast error stops the transform at the failing record;
/// the records before it go on through the rest (as in the runtime, the error of the furthest failure is kept).
async fn run_transforms(built: &mut BuiltPipeline, inputs: Vec<Record>) -> Outcome {
    let mut outcome = Outcome {
        records: Vec::new(),
        dead_letters: Vec::new(),
        error: None,
    };
    let default_policy = built.config.on_error;
    for t in &mut built.transforms {
        let opened = match &mut t.stage {
            PipeStage::Sync(p) => p.open(),
            PipeStage::Async(p) => p.open().await,
        };
        if let Err(e) = opened {
            outcome.error = Some(e);
            return outcome;
        }
    }
    let mut items = inputs;
    let mut stages = built.stages.iter().peekable();
    for (i, t) in built.transforms.iter_mut().enumerate() {
        while let Some(stage) = stages.next_if(|s| s.after <= i) {
            items = match stage.apply(items) {
                Ok(items) => items,
                Err(e) => {
                    outcome.error = Some(e);
                    Vec::new()
                }
            };
        }
        let policy = t.runtime.on_error.unwrap_or(default_policy);
        let mut next = Vec::with_capacity(items.len());
        for item in items {
            let kept = item.clone();
            let mut out = Vec::new();
            let result = match &mut t.stage {
                PipeStage::Sync(p) => p.process_each(item, &mut out),
                PipeStage::Async(p) => p.process_each(item, &mut out).await,
            };
            match (result, policy) {
                (Ok(()), _) => next.extend(out),
                (Err(_), ErrorPolicy::Skip) => {}
                (Err(e), ErrorPolicy::DeadLetter) => {
                    outcome.dead_letters.push((kept, e.to_string()));
                }
                (Err(e), _) => {
                    outcome.error = Some(e);
                    break;
                }
            }
        }
        items = next;
    }
    for stage in stages {
        items = match stage.apply(items) {
            Ok(items) => items,
            Err(e) => {
                outcome.error = Some(e);
                Vec::new()
            }
        };
    }
    outcome.records = items;
    for t in &mut built.transforms {
        let closed = match &mut t.stage {
            PipeStage::Sync(p) => p.close(),
            PipeStage::Async(p) => p.close().await,
        };
        if let Err(e) = closed {
            outcome.error.get_or_insert(e);
        }
    }
    outcome
}

/// A line diff of the expected and actual records, one JSON object per line. Each actual record is shown with
/// its keys in the order of the expected record at the same place (keys the expectation lacks come last), so
/// that the diff shows values that differ, not a key order that the comparison ignores.
fn diff(expected: &[Record], actual: &[Record]) -> String {
    let expected: Vec<serde_json::Value> = expected.iter().map(as_json).collect();
    let actual: Vec<serde_json::Value> = actual
        .iter()
        .enumerate()
        .map(|(i, r)| in_order_of(as_json(r), expected.get(i)))
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
