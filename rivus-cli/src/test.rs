//! `rivus test`: the `[[tests]]` of a pipeline file, fed through its transforms.

use rivus_core::spec::{PipeStage, PipelineFile, SinkRoute};
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
        let actual = runtime.block_on(run_transforms(&mut built.transforms, &built.stages, inputs));
        let actual = actual.and_then(|records| {
            let routed = match &case.routes {
                Some(routes) => Some(check_routes(&built, routes, &records)?),
                None => None,
            };
            Ok((records, routed))
        });
        match actual {
            Ok((_, Some(Err(message)))) => {
                println!("FAILED {}", case.name);
                print!("{message}");
                failed.push(case.name.clone());
            }
            Ok((actual, _)) if json(&actual) == json(&expected) => println!("ok     {}", case.name),
            Ok((actual, _)) => {
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

/// The records `inputs` become through the transforms, and through the `window` and `batch` stages between them
/// (each applied to all the records at once: see `BuiltinStage::apply`).
async fn run_transforms(
    transforms: &mut [rivus_core::spec::Built<PipeStage>],
    stages: &[rivus_core::spec::BuiltinStage],
    inputs: Vec<Record>,
) -> Result<Vec<Record>, PipeError> {
    let mut items = inputs;
    let mut stages = stages.iter().peekable();
    for (i, t) in transforms.iter_mut().enumerate() {
        while let Some(stage) = stages.next_if(|s| s.after <= i) {
            items = stage.apply(items)?;
        }
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
    for stage in stages {
        items = stage.apply(items)?;
    }
    Ok(items)
}

/// A line diff of the expected and actual records, one JSON object per line.
fn diff(expected: &[Record], actual: &[Record]) -> String {
    let lines = |records: &[Record]| -> String {
        records
            .iter()
            .map(|r| format!("{}\n", r.to_json()))
            .collect()
    };
    let (expected, actual) = (lines(expected), lines(actual));
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
