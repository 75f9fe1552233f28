//! `rivus validate` and `rivus run`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use rivus_core::metrics::{PipelineMonitor, RunReport, StageKind};
use rivus_core::spec::PipelineFile;

use crate::CliError;
use crate::cli::{FileArgs, RunArgs};
use crate::output::table;

pub(crate) fn validate(args: &FileArgs) -> Result<(), CliError> {
    let file = PipelineFile::load(&args.file)?;
    rivus_core::registry::validate().map_err(|e| CliError::Config(e.to_string()))?;
    let built = file.build()?;
    let mut stages = vec![format!(
        "{} ({})",
        built.source.name,
        built.source.plugin.kind()
    )];
    stages.extend(
        built
            .transforms
            .iter()
            .map(|t| format!("{} ({})", t.name, t.plugin.kind())),
    );
    let sinks: Vec<String> = built
        .sinks
        .iter()
        .map(|s| format!("{} ({})", s.name, s.plugin.kind()))
        .collect();
    stages.push(sinks.join(" + "));
    println!(
        "{}: pipeline `{}` is valid",
        args.file.display(),
        built.name
    );
    println!("  {}", stages.join(" -> "));
    if let Some(dl) = &built.dead_letter {
        println!("  dead letters -> {} ({})", dl.name, dl.plugin.kind());
    }
    if !file.doc.tests.is_empty() {
        println!(
            "  {} test(s): run them with `rivus test {}`",
            file.doc.tests.len(),
            args.file.display()
        );
    }
    Ok(())
}

pub(crate) fn run(args: &RunArgs) -> Result<(), CliError> {
    let file = PipelineFile::load(&args.file)?;
    rivus_core::registry::validate().map_err(|e| CliError::Config(e.to_string()))?;
    let built = file.build()?;
    let name = built.name.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        if let Some(addr) = args.metrics {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .with_http_listener(addr)
                .install()
                .map_err(|e| CliError::Config(format!("--metrics {addr}: {e}")))?;
        }
        let pipeline = built.into_pipeline().shutdown_on_signals();
        let progress = Progress::start(pipeline.monitor(), args.quiet);
        let result = pipeline.run().await;
        progress.finish();
        match result {
            Ok(report) => {
                if !args.quiet {
                    eprint!("{}", summary(&name, &report, None));
                }
                Ok(())
            }
            Err(e) => {
                if let Some(report) = e.report() {
                    eprint!("{}", summary(&name, report, Some(&e.to_string())));
                }
                Err(CliError::Failed(format!("pipeline `{name}` failed: {e}")))
            }
        }
    })
}

/// A progress line on stderr, only when stderr is a terminal.
struct Progress {
    bar: Option<ProgressBar>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn start(monitor: PipelineMonitor, quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
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
                    .map(|s| s.items_out + s.errors)
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

/// The final summary: totals, then one row per stage.
pub(crate) fn summary(name: &str, report: &RunReport, failure: Option<&str>) -> String {
    let mut out = String::new();
    let status = match (failure, report.cancelled) {
        (Some(_), _) => "failed",
        (None, true) => "stopped",
        (None, false) => "finished",
    };
    out.push_str(&format!(
        "pipeline `{name}` {status} in {:.2?}\n",
        report.elapsed
    ));
    // Items a pipe stage took and neither passed on nor failed: dropped by a filter.
    let filtered: u64 = report
        .stages
        .iter()
        .filter(|s| s.kind == StageKind::Pipe)
        .map(|s| s.items_in.saturating_sub(s.items_out + s.errors))
        .sum();
    out.push_str(&format!(
        "  read {}  written {}  filtered {filtered}  errors {}  retries {}  skipped {}  dead-lettered {}\n",
        report.items_read(),
        report.items_written(),
        report.errors(),
        report.retries(),
        report.skipped(),
        report.dead_lettered()
    ));
    let rows: Vec<Vec<String>> = report
        .stages
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                format!("{:?}", s.kind).to_lowercase(),
                s.items_in.to_string(),
                s.items_out.to_string(),
                s.errors.to_string(),
                s.dead_lettered.to_string(),
            ]
        })
        .collect();
    for line in table(
        &["STAGE", "KIND", "IN", "OUT", "ERRORS", "DEAD-LETTERED"],
        &rows,
    )
    .lines()
    {
        out.push_str(&format!("  {line}\n"));
    }
    out
}
