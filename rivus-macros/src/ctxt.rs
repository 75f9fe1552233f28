//! Collecting every error of one expansion, as serde's derive does, so that one compile reports them all.

use std::cell::RefCell;
use std::fmt::Display;
use std::thread;

use quote::ToTokens;

/// The errors found so far. It must be consumed with [`check`](Ctxt::check): dropping it unchecked panics, so
/// that no error can be forgotten.
pub(crate) struct Ctxt {
    /// `None` once checked.
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Self {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// An error at the tokens of `at`.
    pub(crate) fn error_spanned_by<A: ToTokens, T: Display>(&self, at: A, message: T) {
        self.syn_error(syn::Error::new_spanned(at.into_token_stream(), message));
    }

    /// An error as `syn` made it (a parse error).
    pub(crate) fn syn_error(&self, error: syn::Error) {
        if let Some(errors) = self.errors.borrow_mut().as_mut() {
            errors.push(error);
        }
    }

    /// Every error so far, combined into one; consumes the context.
    pub(crate) fn check(self) -> syn::Result<()> {
        let errors = self.errors.borrow_mut().take().unwrap_or_default();
        let mut errors = errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for rest in errors {
            combined.combine(rest);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !thread::panicking() && self.errors.borrow().is_some() {
            panic!("rivus-macros: a Ctxt was dropped without checking its errors");
        }
    }
}
