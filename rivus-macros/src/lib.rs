//! Procedural attributes for Rivus plugins.
//!
//! Use them through `rivus_core` (`use rivus_core::prelude::*;`), which re-exports them; depending on this crate
//! directly is not supported. The generated code names only `::rivus_core::__private` paths.
//!
//! Each attribute takes the plugin's name, a non-empty string of `a-z`, `0-9`, `_` and `-`, and two optional
//! settings:
//!
//! * `description = "..."` — the one-line description; default: the first paragraph of the struct's doc comment;
//! * `config = SomeType` — the type deserialized from configuration; the plugin is made from it with
//!   `From<SomeType>` or `TryFrom<SomeType>`. Default: the struct itself, which then derives `Deserialize` and
//!   `JsonSchema`.
//!
//! Without a name (`#[sync_pipe]`, `#[async_source]`, …) an attribute registers nothing: it only gives the type
//! `>>` (and, for async pipes, sources and sinks, `Composable`).
//!
//! What an attribute expands to, besides the struct itself, is one `const _: () = { ... };` block holding a
//! static in `rivus_core`'s distributed slice (with `#[allow(unsafe_code)]` on it: `linkme` puts it in a link
//! section), the `Composable` impl and the `>>` impl.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, GenericParam, Ident, Item, ItemStruct, Lit, LitStr, Token, Type};

/// One of the six plugin kinds, as the macros see it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    AsyncSource,
    AsyncSink,
    SyncSource,
    SyncSink,
    AsyncPipe,
    SyncPipe,
}

const ALL: [Kind; 6] = [
    Kind::AsyncSource,
    Kind::AsyncSink,
    Kind::SyncSource,
    Kind::SyncSink,
    Kind::AsyncPipe,
    Kind::SyncPipe,
];

impl Kind {
    /// The attribute's name, which is also the `__private` constructor's name.
    fn attr(self) -> &'static str {
        match self {
            Kind::AsyncSource => "async_source",
            Kind::AsyncSink => "async_sink",
            Kind::SyncSource => "sync_source",
            Kind::SyncSink => "sync_sink",
            Kind::AsyncPipe => "async_pipe",
            Kind::SyncPipe => "sync_pipe",
        }
    }

    /// The trait the struct must implement.
    fn trait_name(self) -> &'static str {
        match self {
            Kind::AsyncSource => "AsyncSource",
            Kind::AsyncSink => "AsyncSink",
            Kind::SyncSource => "SyncSource",
            Kind::SyncSink => "SyncSink",
            Kind::AsyncPipe => "AsyncPipe",
            Kind::SyncPipe => "SyncPipe",
        }
    }

    /// The `Composable::Mode`, or `None` for sync pipes, which every `SyncPipe` has already.
    fn mode(self) -> Option<&'static str> {
        match self {
            Kind::AsyncSource => Some("AsyncSourceMode"),
            Kind::AsyncSink => Some("AsyncSinkMode"),
            Kind::SyncSource => Some("SyncSourceMode"),
            Kind::SyncSink => Some("SyncSinkMode"),
            Kind::AsyncPipe => Some("AsyncMode"),
            Kind::SyncPipe => None,
        }
    }

    /// Sinks end a chain: nothing stands on their right, so they get no `>>` of their own.
    fn has_shr(self) -> bool {
        !matches!(self, Kind::AsyncSink | Kind::SyncSink)
    }
}

/// Registers an `AsyncSource` under a name: `#[async_source("kafka")]`.
///
/// Options: `description = "..."` (default: the doc comment's first paragraph) and `config = SomeType` (default:
/// the struct itself); see `rivus_core::registry`. `#[async_source]` without a name makes the type composable
/// (`source >> pipe`) and registers nothing.
#[proc_macro_attribute]
pub fn async_source(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::AsyncSource, args.into(), item.into()).into()
}

/// Registers an `AsyncSink` under a name: `#[async_sink("http")]`.
///
/// Options: `description = "..."` and `config = SomeType`, see `rivus_core::registry`; `#[async_sink]` without a name makes the type composable
/// (`pipe >> sink`) and registers nothing.
#[proc_macro_attribute]
pub fn async_sink(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::AsyncSink, args.into(), item.into()).into()
}

/// Registers a `SyncSource` under a name: `#[sync_source("csv")]`.
///
/// Options: `description = "..."` and `config = SomeType`, see `rivus_core::registry`; `#[sync_source]` without a name makes the type composable
/// (`source >> pipe`) and registers nothing.
#[proc_macro_attribute]
pub fn sync_source(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::SyncSource, args.into(), item.into()).into()
}

/// Registers a `SyncSink` under a name: `#[sync_sink("csv")]`.
///
/// Options: `description = "..."` and `config = SomeType`, see `rivus_core::registry`; `#[sync_sink]` without a name makes the type composable
/// (`pipe >> sink`) and registers nothing.
#[proc_macro_attribute]
pub fn sync_sink(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::SyncSink, args.into(), item.into()).into()
}

/// Registers an `AsyncPipe` under a name: `#[async_pipe("enrich")]`, and gives the type `>>`.
///
/// Options: `description = "..."` and `config = SomeType`, see `rivus_core::registry`. `#[async_pipe]` without a
/// name only makes the type composable (`Composable` and `>>`) and registers nothing.
#[proc_macro_attribute]
pub fn async_pipe(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::AsyncPipe, args.into(), item.into()).into()
}

/// Registers a `SyncPipe` under a name: `#[sync_pipe("rename")]`, and gives the type `>>`.
///
/// Options: `description = "..."` and `config = SomeType`, see `rivus_core::registry`. `#[sync_pipe]` without a
/// name only gives the type `>>` and registers nothing.
#[proc_macro_attribute]
pub fn sync_pipe(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::SyncPipe, args.into(), item.into()).into()
}

/// What the attribute's parentheses hold.
#[derive(Default)]
struct Args {
    name: Option<LitStr>,
    description: Option<LitStr>,
    config: Option<Type>,
}

/// Adds `err` to the collected errors.
fn push(errors: &mut Option<syn::Error>, err: syn::Error) {
    match errors {
        Some(e) => e.combine(err),
        None => *errors = Some(err),
    }
}

fn parse_args(
    kind: Kind,
    input: ParseStream<'_>,
    errors: &mut Option<syn::Error>,
) -> syn::Result<Args> {
    let attr = kind.attr();
    let mut args = Args::default();
    if input.is_empty() {
        return Ok(args);
    }
    // Set when the options start without a name (`#[sync_pipe(description = "...")]`): no comma comes first.
    let mut options_first = false;
    if input.peek(LitStr) {
        let name: LitStr = input.parse()?;
        check_name(attr, &name, errors);
        args.name = Some(name);
    } else if input.peek(Ident) && input.peek2(Token![=]) {
        options_first = true;
    } else {
        let expr: Expr = input.parse()?;
        push(
            errors,
            syn::Error::new_spanned(
                &expr,
                format!(
                    "the plugin's name must be a string literal of `a-z`, `0-9`, `_` and `-`, e.g. \
                     `#[{attr}(\"my-plugin\")]`"
                ),
            ),
        );
        // Keep the name's place, so that the options are not also blamed for a missing name.
        args.name = Some(LitStr::new("invalid", expr.span()));
    }
    while !input.is_empty() {
        if !std::mem::take(&mut options_first) {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
        }
        let key: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        match key.to_string().as_str() {
            "description" => {
                let value: Expr = input.parse()?;
                match value {
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Str(s), ..
                    }) => {
                        if args.description.is_some() {
                            push(
                                errors,
                                syn::Error::new_spanned(&key, "`description` is given twice"),
                            );
                        }
                        args.description = Some(s);
                    }
                    other => push(
                        errors,
                        syn::Error::new_spanned(
                            other,
                            "`description` must be a string literal: `description = \"Reads CSV files.\"`",
                        ),
                    ),
                }
            }
            "config" => {
                if input.peek(Lit) {
                    let value: Expr = input.parse()?;
                    push(
                        errors,
                        syn::Error::new_spanned(
                            value,
                            "`config` takes a type, not a value: `config = MyConfig`",
                        ),
                    );
                } else {
                    let ty: Type = input.parse().map_err(|e| {
                        syn::Error::new(e.span(), "`config` takes a type: `config = MyConfig`")
                    })?;
                    if args.config.is_some() {
                        push(
                            errors,
                            syn::Error::new_spanned(&key, "`config` is given twice"),
                        );
                    }
                    args.config = Some(ty);
                }
            }
            "name" => {
                let value: Expr = input.parse()?;
                push(
                    errors,
                    syn::Error::new_spanned(
                        &key,
                        format!(
                            "the name takes no key and comes first: `#[{attr}({}, ...)]`",
                            value.to_token_stream()
                        ),
                    ),
                );
                args.name = Some(LitStr::new("invalid", key.span()));
            }
            other => {
                let _: Expr = input.parse()?;
                push(
                    errors,
                    syn::Error::new_spanned(
                        &key,
                        format!(
                            "unknown option `{other}` of `#[{attr}]`; the options are `description = \"...\"` and \
                             `config = SomeType`"
                        ),
                    ),
                );
            }
        }
    }
    if args.name.is_none() {
        for (option, given) in [
            ("description", args.description.is_some()),
            ("config", args.config.is_some()),
        ] {
            if given {
                push(
                    errors,
                    syn::Error::new(
                        Span::call_site(),
                        format!(
                            "`{option}` needs a plugin name: `#[{attr}(\"my-plugin\", {option} = ...)]`; without a \
                             name the attribute registers nothing"
                        ),
                    ),
                );
            }
        }
    }
    Ok(args)
}

/// Names are non-empty and made of `a-z`, `0-9`, `_` and `-`.
fn check_name(attr: &str, name: &LitStr, errors: &mut Option<syn::Error>) {
    let value = name.value();
    if value.is_empty() {
        push(
            errors,
            syn::Error::new_spanned(
                name,
                format!("the plugin's name is empty; give it one: `#[{attr}(\"my-plugin\")]`"),
            ),
        );
    } else if let Some(bad) = value
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        push(
            errors,
            syn::Error::new_spanned(
                name,
                format!(
                    "the plugin's name `{value}` contains {bad:?}; names are made of lowercase `a-z`, `0-9`, `_` and \
                     `-`"
                ),
            ),
        );
    }
}

/// The first paragraph of the doc comment, as one line.
fn doc_description(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
        {
            // `split`, not `lines`: an empty `///` line is an empty string, which ends the paragraph.
            lines.extend(s.value().split('\n').map(|l| l.trim().to_owned()));
        }
    }
    lines
        .into_iter()
        .skip_while(String::is_empty)
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The attribute's kind if `attr` is one of the six plugin attributes (by its last path segment).
fn plugin_attr(attr: &Attribute) -> Option<Kind> {
    let last = attr.path().segments.last()?;
    ALL.into_iter().find(|k| last.ident == k.attr())
}

fn expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let mut errors = None;
    let args = match (|input: ParseStream<'_>| parse_args(kind, input, &mut errors)).parse2(args) {
        Ok(args) => args,
        Err(e) => {
            push(&mut errors, e);
            Args::default()
        }
    };
    let attr = kind.attr();
    let strukt: ItemStruct = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(s)) => s,
        Ok(other) => {
            let what = match &other {
                Item::Enum(e) => Some(("an enum", e.enum_token.span())),
                Item::Union(u) => Some(("a union", u.union_token.span())),
                Item::Fn(f) => Some(("a function", f.sig.fn_token.span())),
                _ => None,
            };
            let (what, span) = what.unwrap_or(("this item", other.span()));
            push(
                &mut errors,
                syn::Error::new(
                    span,
                    format!(
                        "`#[{attr}]` goes on a struct, not on {what}: a plugin is a struct that implements `{}`",
                        kind.trait_name()
                    ),
                ),
            );
            return with_errors(item, errors);
        }
        Err(e) => {
            push(&mut errors, e);
            return with_errors(item, errors);
        }
    };

    for param in &strukt.generics.params {
        let message = match param {
            GenericParam::Lifetime(l) => Some(format!(
                "a plugin cannot borrow: remove the lifetime `{}` (plugins are `'static`)",
                l.lifetime
            )),
            GenericParam::Type(t) if t.default.is_none() => Some(format!(
                "a generic struct cannot be registered as it stands: give `{}` a default (`{} = SomeType`) or \
                 register a non-generic struct that wraps it",
                t.ident, t.ident
            )),
            GenericParam::Const(c) if c.default.is_none() => Some(format!(
                "a generic struct cannot be registered as it stands: give `{}` a default (`const {}: {} = ...`) \
                 or register a non-generic struct that wraps it",
                c.ident,
                c.ident,
                c.ty.to_token_stream()
            )),
            _ => None,
        };
        if let Some(message) = message {
            push(&mut errors, syn::Error::new_spanned(param, message));
        }
    }

    let mut innermost = true;
    for a in &strukt.attrs {
        match plugin_attr(a) {
            Some(k) if k == kind => push(
                &mut errors,
                syn::Error::new_spanned(
                    a,
                    format!(
                        "`#[{attr}]` is given twice on `{}`; a struct is one plugin of each kind (define another \
                         struct for the second name)",
                        strukt.ident
                    ),
                ),
            ),
            Some(_) => innermost = false,
            None => {}
        }
    }

    if errors.is_some() {
        // Drop the repeated attributes, so that they do not expand and report the same struct again.
        let mut strukt = strukt;
        strukt.attrs.retain(|a| plugin_attr(a) != Some(kind));
        return with_errors(strukt.into_token_stream(), errors);
    }

    let call_site = Span::call_site();
    // The type as the attribute names it: the struct's name, at the attribute, so that trait errors point there.
    // Generic parameters all have defaults here, which the bare name takes.
    let ty = Ident::new(&strukt.ident.to_string(), call_site);
    let private = quote_spanned!(call_site=> ::rivus_core::__private);

    let registration = args.name.as_ref().map(|name| {
        let description = match &args.description {
            Some(d) => d.value(),
            None => doc_description(&strukt.attrs),
        };
        let config = match &args.config {
            Some(c) => c.to_token_stream(),
            None => ty.to_token_stream(),
        };
        let ctor = Ident::new(attr, call_site);
        // The static goes into a link section, which the `unsafe_code` lint flags. SAFETY: linkme checks the
        // element's type against the slice's, and the element is a plain constant that nothing mutates; the
        // `allow` covers this one static. Under `#![forbid(unsafe_code)]` the compiler rejects the `allow` here,
        // at the attribute, which is the clearest error we can give (forbid cannot be lifted).
        quote_spanned! {call_site=>
            #[allow(unsafe_code)]
            #[#private::linkme::distributed_slice(#private::PLUGINS)]
            #[linkme(crate = #private::linkme)]
            static PLUGIN: #private::PluginDescriptor = #private::#ctor::<#ty, #config>(#private::Meta {
                name: #name,
                description: #description,
                module_path: ::core::module_path!(),
                file: ::core::file!(),
                line: ::core::line!(),
            });
        }
    });

    let check = if registration.is_none() {
        let check = Ident::new(&format!("marked_{attr}"), call_site);
        Some(quote_spanned! {call_site=>
            #private::#check::<#ty>();
        })
    } else {
        None
    };

    let composable = if innermost {
        let mode = kind.mode().map(|mode| {
            let mode = Ident::new(mode, call_site);
            quote_spanned! {call_site=>
                impl #private::Composable for #ty {
                    type Mode = #private::#mode;
                }
            }
        });
        let shr = kind
            .has_shr()
            .then(|| quote_spanned! {call_site=> #private::impl_shr!([] #ty); });
        quote!(#mode #shr)
    } else {
        TokenStream2::new()
    };

    quote! {
        #strukt
        const _: () = {
            #check
            #registration
            #composable
        };
    }
}

/// The item unchanged (so that its other uses still resolve) followed by the errors.
fn with_errors(item: TokenStream2, errors: Option<syn::Error>) -> TokenStream2 {
    let errors = errors.map(|e| e.to_compile_error());
    quote!(#item #errors)
}
