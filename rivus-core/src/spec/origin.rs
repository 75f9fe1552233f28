//! Where the plugin being built comes from: while a pipeline file builds a plugin, the plugin can ask for its
//! stage's name and for where one of its options stands in the file, so that errors about the inside of an
//! option (a script's line 3) name the file's line instead.

use std::cell::RefCell;

use super::SourceText;
use super::locate::{self, FieldPath};

thread_local! {
    static CURRENT: RefCell<Option<Origin>> = const { RefCell::new(None) };
}

/// The pipeline file's table that the plugin being built comes from; see [`Origin::current`].
#[derive(Debug, Clone)]
pub struct Origin {
    source: SourceText,
    table: FieldPath,
    stage: String,
}

/// A 1-based line and column in a pipeline file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilePosition {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl Origin {
    /// The table of the plugin that is being built on this thread, when a pipeline file builds it (`None` for a
    /// plugin built by hand, or from a configuration value).
    pub fn current() -> Option<Self> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// The file's name, as given.
    pub fn file(&self) -> &str {
        self.source.name()
    }

    /// The stage's name: the table's `name`, or the plugin's.
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// Where the table is in the file (`transforms[2]`).
    pub fn table(&self) -> &FieldPath {
        &self.table
    }

    /// Where the first character of the string option `name` is in the file (past its quotes, and past the
    /// line break that may follow the quotes of a multi-line string); `None` when the option is not a string
    /// written in the table.
    pub fn string_start(&self, name: &str) -> Option<FilePosition> {
        let text = self.source.text();
        let start = locate::value_span_of(text, &self.table.clone().key(name))?;
        let rest = text.get(start..)?;
        let opening = ["'''", "\"\"\"", "'", "\""]
            .into_iter()
            .find(|q| rest.starts_with(q))?;
        let mut content = start + opening.len();
        if opening.len() == 3 {
            // TOML drops a line break right after the opening quotes of a multi-line string.
            let after = &text[content..];
            if after.starts_with("\r\n") {
                content += 2;
            } else if after.starts_with('\n') {
                content += 1;
            }
        }
        let (line, column) = self.source.line_column(content);
        Some(FilePosition { line, column })
    }

    /// The position in the file of `line`:`column` (1-based) of the string option `name`, whose first
    /// character is at `start` (see [`string_start`](Self::string_start)). Exact for literal strings (`'…'`,
    /// `'''…'''`) and for basic strings without escapes.
    pub fn map(start: FilePosition, line: usize, column: usize) -> FilePosition {
        if line <= 1 {
            FilePosition {
                line: start.line,
                column: start.column + column.saturating_sub(1),
            }
        } else {
            FilePosition {
                line: start.line + line - 1,
                column,
            }
        }
    }
}

/// Runs `build` with `Origin::current()` set to the table at `table` of `source`, named `stage`.
pub(crate) fn building<R>(
    source: &SourceText,
    table: &FieldPath,
    stage: &str,
    build: impl FnOnce() -> R,
) -> R {
    let origin = Origin {
        source: source.clone(),
        table: table.clone(),
        stage: stage.to_owned(),
    };
    let previous = CURRENT.with(|c| c.replace(Some(origin)));
    // Restored on the way out, also when `build` panics.
    struct Restore(Option<Origin>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_where_a_string_option_starts() {
        let text = "[source]\nplugin = \"x\"\n\n[[transforms]]\nplugin = \"script\"\nscript = '''\n  a\n  b'''\n\n[[transforms]]\nplugin = \"script\"\nscript = \"one\"\n";
        let source = SourceText::new("p.toml", text);
        let at = FieldPath::root().key("transforms").index(0);
        let start = building(&source, &at, "s", || {
            let origin = Origin::current().unwrap();
            assert_eq!(origin.stage(), "s");
            origin.string_start("script").unwrap()
        });
        assert_eq!(start, FilePosition { line: 7, column: 1 });
        assert_eq!(
            Origin::map(start, 2, 3),
            FilePosition { line: 8, column: 3 }
        );
        assert!(Origin::current().is_none(), "restored");
        let at = FieldPath::root().key("transforms").index(1);
        let start = building(&source, &at, "s", || {
            Origin::current().unwrap().string_start("script").unwrap()
        });
        assert_eq!(
            start,
            FilePosition {
                line: 12,
                column: 11
            }
        );
        assert_eq!(
            Origin::map(start, 1, 2),
            FilePosition {
                line: 12,
                column: 12
            }
        );
    }
}
