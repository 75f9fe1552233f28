//! Public-surface tests live in `tests/`.
