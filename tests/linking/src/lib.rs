//! Binaries that depend on `rivus-plugins` and either name it (`link()`, `use ... as _`) or only list it in
//! `Cargo.toml`; `tests/link.rs` runs them. Each prints the registered plugins, one `kind name` per line.

/// Prints every registered plugin as `kind name`, sorted.
pub fn print_plugins() {
    let mut lines: Vec<String> = rivus_core::registry::plugins()
        .map(|p| format!("{} {}", p.kind().as_str(), p.name()))
        .collect();
    lines.sort();
    for line in lines {
        println!("{line}");
    }
}
