//! `rivus validate` and `rivus run`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use rivus_core::metrics::{Ledger, PipelineMonitor, RunReport, StageKind};
use rivus_core::secrets::redact;
use rivus_core::stream::PipelineError;
use serde_json::json;

use crate::CliError;
use crate::cli::{FileArgs, RunArgs};
use crate::output::{outln, print_stderr, table};

pub(crate) fn validate(args: &FileArgs, quiet: bool) -> Result<(), CliError> {
    let file = crate::load::pipeline(&args.file)?;
    rivus_core::registry::validate().map_err(|e| CliError::Config(e.to_string()))?;
    let built = file.build()?;
    if quiet {
        return Ok(());
    }
    let sources: Vec<String> = (built.sources.iter())
        .map(|s| format!("{} ({})", s.name, s.plugin.kind()))
        .collect();
    let mut stages = vec![sources.join(" + ")];
    // Plugins and built-in stages, in the order of the file's `[[transforms]]`.
    let index = |path: &rivus_core::spec::FieldPath| match path.segments().get(1) {
        Some(rivus_core::spec::Segment::Index(i)) => *i,
        _ => 0,
    };
    let mut middle: Vec<(usize, String)> = (built.transforms.iter())
        .map(|t| (index(&t.path), format!("{} ({})", t.name, t.plugin.kind())))
        .collect();
    middle.extend(
        (built.stages.iter()).map(|s| (index(&s.path), format!("{} (runtime stage)", s.name))),
    );
    middle.sort_by_key(|(i, _)| *i);
    stages.extend(middle.into_iter().map(|(_, label)| label));
    let sinks: Vec<String> = (built.sinks.iter().zip(&built.routes))
        .map(|(s, route)| match route {
            rivus_core::spec::SinkRoute::All => format!("{} ({})", s.name, s.plugin.kind()),
            route => format!("{} ({}, {route})", s.name, s.plugin.kind()),
        })
        .collect();
    stages.push(sinks.join(" + "));
    outln!(
        "{}",
        redact(&format!(
            "{}: pipeline `{}` is valid",
            args.file.display(),
            built.name
        ))
    );
    outln!("  {}", redact(&stages.join(" -> ")));
    if let Some(dl) = &built.dead_letter {
        outln!("  dead letters -> {} ({})", dl.name, dl.plugin.kind());
    }
    for (source, taken) in built.sources.iter().zip(&built.pushed) {
        let mut what = Vec::new();
        if taken.fields {
            what.push(format!("builds only {}", built.pushdown.needs));
        }
        if let (true, Some(filter)) = (taken.filter, &built.pushdown.filter) {
            what.push(format!(
                "tests the filter's condition ({filter}) before building the rest of a row"
            ));
        }
        if !what.is_empty() {
            outln!("  pushdown: {} {}", source.name, redact(&what.join(", ")));
        }
    }
    if !file.doc.tests.is_empty() {
        outln!(
            "  {} test(s): run them with `rivus test {}`",
            file.doc.tests.len(),
            args.file.display()
        );
    }
    Ok(())
}

pub(crate) fn run(args: &RunArgs, quiet: bool) -> Result<(), CliError> {
    let file = crate::load::pipeline(&args.file)?;
    rivus_core::registry::validate().map_err(|e| CliError::Config(e.to_string()))?;
    let writes_stdout = crate::load::writes_to_stdout(&file);
    let built = file.build()?;
    let name = built.name.clone();
    tracing::info!(pipeline = %name, file = %args.file.display(), "starting the pipeline");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    let show_progress = progress_wanted(
        quiet || args.json,
        std::io::stderr().is_terminal(),
        std::io::stdout().is_terminal(),
        writes_stdout,
    );
    let outcome = runtime.block_on(async {
        if let Some(addr) = args.metrics {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .with_http_listener(addr)
                .install()
                .map_err(|e| CliError::Config(format!("--metrics {addr}: {e}")))?;
            tracing::info!(%addr, "serving Prometheus metrics");
        }
        let pipeline = built.into_pipeline().shutdown_on_signals();
        let progress = Progress::start(pipeline.monitor(), show_progress);
        let result = pipeline.run().await;
        progress.finish();
        Ok::<_, CliError>(result)
    });
    // An aborted run may leave a sync source or sink blocked in a system call on its own thread: do not wait
    // for it (nor for anything else) to exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    let result = outcome?;
    let report = match &result {
        Ok(report) => Some(report),
        Err(e) => e.report(),
    };
    if let Some(report) = report {
        tracing::info!(
            pipeline = %name,
            elapsed = ?report.elapsed,
            ledger = %ledger_line(&report.ledger()),
            "the pipeline ended"
        );
    }
    // The reader of a `stdout` sink went away (`rivus run x.toml | head -2`): end quietly, as Unix tools do.
    if let Err(e) = &result
        && writes_stdout
        && closed_by_reader(e)
    {
        tracing::info!(pipeline = %name, "standard output was closed by its reader: the run ends here");
        if args.json
            && let Some(report) = report
        {
            let mut value = ledger_json(&name, report, Some(&e.to_string()));
            value["status"] = json!("stdout_closed");
            print_json(&value, true)?;
        }
        return Ok(());
    }
    let failure = result.as_ref().err().map(ToString::to_string);
    // A ledger asked for and not written is an error of the command, unless the run's own error says more.
    let mut printed = Ok(());
    if let Some(report) = report {
        if args.json {
            printed = print_json(
                &ledger_json(&name, report, failure.as_deref()),
                writes_stdout,
            );
        } else if !quiet {
            print_stderr(&redact(&summary(&name, report, failure.as_deref())));
        }
    }
    if result.is_ok() {
        printed?;
    }
    match result {
        Ok(report) if report.cancelled => Err(CliError::Interrupted(format!(
            "pipeline `{name}` was stopped by a shutdown request before its source was exhausted"
        ))),
        Ok(_) => Ok(()),
        Err(PipelineError::Aborted { reason, .. }) => Err(CliError::Interrupted(format!(
            "pipeline `{name}` aborted: {reason}"
        ))),
        Err(PipelineError::Failed { error, .. }) => Err(CliError::Failed(format!(
            "pipeline `{name}` failed: {error}"
        ))),
        Err(e) => Err(CliError::Failed(format!("pipeline `{name}` failed: {e}"))),
    }
}

/// Whether the progress line is drawn: on stderr, only when stderr is a terminal, and never while a sink writes
/// to a terminal's stdout (the two would interleave on the screen).
pub(crate) fn progress_wanted(
    silent: bool,
    stderr_terminal: bool,
    stdout_terminal: bool,
    writes_stdout: bool,
) -> bool {
    !silent && stderr_terminal && !(writes_stdout && stdout_terminal)
}

/// Whether the run failed because a pipe's reader closed it: an `io::Error` of kind `BrokenPipe` in the chain.
fn closed_by_reader(error: &PipelineError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = error
        .pipe_error()
        .map(|e| e as &(dyn std::error::Error + 'static));
    while let Some(err) = cause {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        cause = err.source();
    }
    false
}

/// `--json`: one line on stdout, or on stderr when a sink writes to stdout (the ledger never mixes with data).
///
/// # Errors
///
/// Stdout could not be written (`/dev/full`); a reader that closed it (`| head -c0`) ends the output quietly,
/// and stderr has nowhere left to say it failed.
fn print_json(value: &serde_json::Value, to_stderr: bool) -> Result<(), CliError> {
    let text = format!("{}\n", redact(&value.to_string()));
    if to_stderr {
        print_stderr(&text);
        Ok(())
    } else {
        crate::output::print_stdout(&text)
    }
}

/// The run's final ledger as JSON: the totals, per sink, and per stage.
pub(crate) fn ledger_json(
    name: &str,
    report: &RunReport,
    failure: Option<&str>,
) -> serde_json::Value {
    let ledger = |l: &Ledger| {
        json!({
            "read": l.read,
            "expanded": l.expanded,
            "written": l.written,
            "filtered": l.filtered,
            "skipped": l.skipped,
            "dead_lettered": l.dead_lettered,
            "failed": l.failed,
            "not_processed": l.not_processed,
            "unrouted": l.unrouted,
        })
    };
    let sinks: serde_json::Map<String, serde_json::Value> = report
        .sink_ledgers()
        .iter()
        .map(|(sink, l)| (sink.to_string(), ledger(l)))
        .collect();
    let stages: Vec<serde_json::Value> = report
        .stages
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "kind": s.kind.as_str(),
                "in": s.items_in,
                "out": s.items_out,
                "filtered": s.filtered,
                "skipped": s.skipped,
                "dead_lettered": s.dead_lettered,
                "failed": s.failed,
                "not_processed": s.not_processed,
                "unrouted": s.unrouted,
                "returned": s.returned,
                "errors": s.errors,
                "retries": s.retries,
            })
        })
        .collect();
    json!({
        "pipeline": name,
        "status": status(report, failure),
        "error": failure,
        "elapsed_ms": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
        "ledger": ledger(&report.ledger()),
        "sinks": sinks,
        "stages": stages,
    })
}

fn status(report: &RunReport, failure: Option<&str>) -> &'static str {
    match (failure, report.aborted, report.cancelled) {
        (_, true, _) => "aborted",
        (Some(_), false, _) => "failed",
        (None, false, true) => "stopped",
        (None, false, false) => "finished",
    }
}

/// A progress line on stderr (see [`progress_wanted`]).
struct Progress {
    bar: Option<ProgressBar>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn start(monitor: PipelineMonitor, show: bool) -> Self {
        if !show {
            return Self {
                bar: None,
                task: None,
            };
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let stages = monitor.snapshot();
                let read: u64 = stages
                    .iter()
                    .filter(|s| s.kind == StageKind::Source)
                    .map(|s| s.items_in)
                    .sum();
                let written: u64 = stages
                    .iter()
                    .filter(|s| s.kind == StageKind::Sink)
                    .map(|s| s.items_out)
                    .sum();
                let errors: u64 = stages.iter().map(|s| s.errors).sum();
                let rate = read as f64 / started.elapsed().as_secs_f64().max(1e-3);
                shown.set_message(format!(
                    "read {read}  written {written}  errors {errors}  {rate:.0} items/s"
                ));
                shown.tick();
            }
        });
        Self {
            bar: Some(bar),
            task: Some(task),
        }
    }

    fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The final summary: the ledger (per sink when there are several), then one row per stage.
pub(crate) fn summary(name: &str, report: &RunReport, failure: Option<&str>) -> String {
    let mut out = String::new();
    let status = status(report, failure);
    out.push_str(&format!(
        "pipeline `{name}` {status} in {:.2?}\n",
        report.elapsed
    ));
    out.push_str(&format!("  {}\n", ledger_line(&report.ledger())));
    let returned: u64 = report.stages.iter().map(|s| s.returned).sum();
    if returned > 0 {
        out.push_str(&format!(
            "  {returned} taken after the failing one and given back: not in the counts above, not committed (a restart \
             reads them again)\n"
        ));
    }
    let sinks = report.sink_ledgers();
    if sinks.len() > 1 {
        for (sink, ledger) in &sinks {
            out.push_str(&format!("    sink `{sink}`: {}\n", ledger_line(ledger)));
        }
    }
    if report.retries() > 0 || report.errors() > 0 {
        out.push_str(&format!(
            "  errors {}  retries {}\n",
            report.errors(),
            report.retries()
        ));
    }
    let rows: Vec<Vec<String>> = report
        .stages
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.kind.as_str().to_owned(),
                s.items_in.to_string(),
                s.items_out.to_string(),
                s.filtered.to_string(),
                s.skipped.to_string(),
                s.dead_lettered.to_string(),
                s.failed.to_string(),
                s.not_processed.to_string(),
                s.returned.to_string(),
                s.errors.to_string(),
            ]
        })
        .collect();
    for line in table(
        &[
            "STAGE",
            "KIND",
            "IN",
            "OUT",
            "FILTERED",
            "SKIPPED",
            "DEAD-LETTERED",
            "FAILED",
            "NOT-PROCESSED",
            "RETURNED",
            "ERRORS",
        ],
        &rows,
    )
    .lines()
    {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// `read 10 = written 6 + filtered 4 + ...`: every item accounted for.
fn ledger_line(l: &Ledger) -> String {
    let total = if l.expanded > 0 {
        format!("read {} + expanded {}", l.read, l.expanded)
    } else {
        format!("read {}", l.read)
    };
    let unrouted = if l.unrouted > 0 {
        format!(" + unrouted {}", l.unrouted)
    } else {
        String::new()
    };
    format!(
        "{total} = written {} + filtered {} + skipped {} + dead-lettered {} + failed {} + not processed {}{unrouted}",
        l.written, l.filtered, l.skipped, l.dead_lettered, l.failed, l.not_processed
    )
}
