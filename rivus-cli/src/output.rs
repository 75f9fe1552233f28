//! Text output helpers: aligned tables and short type names.

use rivus_core::registry::ItemType;

/// An aligned table with a header row; the last column is not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// A type name without module paths: `rivus_core::value::Record` → `Record`.
pub(crate) fn item_type(t: ItemType) -> String {
    let name = t.name();
    let mut out = String::new();
    let mut word = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(&word));
            word.clear();
            out.push(c);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or(&word));
    out
}

/// Writes `text` to stdout; a closed pipe (`rivus list | head`) ends the output quietly.
pub(crate) fn print_stdout(text: &str) -> Result<(), crate::CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(crate::CliError::Failed(
            format!("cannot write to stdout: {e}"),
        )),
        _ => Ok(()),
    }
}

/// Writes `text` to stderr, ignoring a failed write: `eprint!` would panic (exit 101) when stderr is full or
/// closed, and there is nowhere left to say so; the exit code still tells how the command ended.
pub(crate) fn print_stderr(text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// `println!` for what a subcommand prints on stdout: when the reader went away (`rivus describe script | head
/// -1`), the output ends quietly, as Unix tools do, instead of a panic. In a function that returns
/// `Result<_, CliError>`; another write error is returned.
macro_rules! outln {
    () => {
        $crate::output::print_stdout("\n")?
    };
    ($($arg:tt)*) => {
        $crate::output::print_stdout(&format!("{}\n", format_args!($($arg)*)))?
    };
}
pub(crate) use outln;
