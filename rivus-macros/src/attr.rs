//! Attributes, parsed as written: the plugin attribute's arguments, and what the attribute reads of the struct's
//! other attributes (`#[derive]`, `#[serde]`, doc comments). Nothing here judges them; `valid` does.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Ident, Lit, LitStr, Path, Token, Type};

use crate::kind::Kind;

/// What the plugin attribute's parentheses hold: `("name", key = value, ...)`.
pub(crate) struct Args {
    /// The first argument, when it is not a `key = value` setting: the plugin's name, if it is a string literal.
    pub(crate) name: Option<Expr>,
    /// The `key = value` settings, in order.
    pub(crate) settings: Vec<Setting>,
}

/// One `key = value` setting.
pub(crate) struct Setting {
    pub(crate) key: Ident,
    pub(crate) value: SettingValue,
}

/// A setting's value: a type for `config = ...` (unless a literal is written there), an expression otherwise.
pub(crate) enum SettingValue {
    Expr(Expr),
    Type(Type),
}

impl ToTokens for SettingValue {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Self::Expr(e) => e.to_tokens(tokens),
            Self::Type(t) => t.to_tokens(tokens),
        }
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut name = None;
        let setting_first = input.peek(Ident) && input.peek2(Token![=]);
        if !input.is_empty() && !setting_first {
            name = Some(input.parse()?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        let settings = Punctuated::<Setting, Token![,]>::parse_terminated(input)?;
        Ok(Self {
            name,
            settings: settings.into_iter().collect(),
        })
    }
}

impl Parse for Setting {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let value = if key == "config" && !input.peek(Lit) {
            let ty = input.parse().map_err(|e| {
                syn::Error::new(e.span(), "`config` takes a type: `config = MyConfig`")
            })?;
            SettingValue::Type(ty)
        } else {
            SettingValue::Expr(input.parse()?)
        };
        Ok(Self { key, value })
    }
}

/// What the attribute reads of the struct's own attributes.
#[derive(Default)]
pub(crate) struct StructAttrs<'a> {
    /// Every trait named in a `#[derive]` below the plugin attribute, by its last path segment.
    pub(crate) derives: Vec<Ident>,
    /// `#[serde]` and `#[schemars]` attributes: helpers of derives, which the plugin attribute may not see.
    pub(crate) helpers: Vec<&'a Attribute>,
    /// `#[serde(crate = "...")]` is given.
    pub(crate) serde_crate: bool,
    /// `#[schemars(crate = "...")]` is given.
    pub(crate) schemars_crate: bool,
    /// `#[serde(rename_all = "...")]` (its deserialize side).
    pub(crate) rename_all: Option<LitStr>,
    /// `#[serde(default)]` on the struct: every field has a default.
    pub(crate) default: bool,
    /// The doc comment's lines.
    pub(crate) doc: Vec<String>,
    /// The plugin attributes left on the struct (those below this one), with their kinds.
    pub(crate) plugin_attrs: Vec<(Kind, &'a Attribute)>,
}

impl StructAttrs<'_> {
    /// `true` when a `#[derive]` below the plugin attribute names `name`.
    pub(crate) fn derives(&self, name: &str) -> bool {
        self.derives.iter().any(|d| d == name)
    }
}

/// What the attribute reads of one field's attributes.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// `#[serde(rename = "...")]` (its deserialize side).
    pub(crate) rename: Option<String>,
    /// `#[serde(default)]`: the field may be left out.
    pub(crate) default: bool,
    /// `#[serde(skip)]` or `#[serde(skip_deserializing)]`: not an option.
    pub(crate) skip: bool,
    /// `#[serde(flatten)]`: the options of another type.
    pub(crate) flatten: bool,
    /// `#[serde(with = ...)]` or `#[serde(deserialize_with = ...)]`: the table's type is not the field's.
    pub(crate) custom: bool,
    /// The doc comment's lines.
    pub(crate) doc: Vec<String>,
}

/// Reads the struct's attributes.
pub(crate) fn struct_attrs(attrs: &[Attribute]) -> StructAttrs<'_> {
    let mut out = StructAttrs::default();
    for attr in attrs {
        if let Some(kind) = Kind::of_attr(attr) {
            out.plugin_attrs.push((kind, attr));
        } else if attr.path().is_ident("derive") {
            // A malformed `#[derive]` is the compiler's to report.
            if let Ok(paths) = attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
            {
                out.derives.extend(
                    paths
                        .iter()
                        .filter_map(|p| p.segments.last())
                        .map(|s| s.ident.clone()),
                );
            }
        } else if attr.path().is_ident("doc") {
            out.doc.extend(doc_lines(attr));
        } else if attr.path().is_ident("serde") {
            out.helpers.push(attr);
            // Malformed helpers are the derive's to report: read what parses.
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("crate") {
                    out.serde_crate = true;
                    skip(&meta)
                } else if meta.path.is_ident("rename_all") {
                    out.rename_all = deserialize_side(&meta)?.or(out.rename_all.take());
                    Ok(())
                } else if meta.path.is_ident("default") {
                    out.default = true;
                    skip(&meta)
                } else {
                    skip(&meta)
                }
            });
        } else if attr.path().is_ident("schemars") {
            out.helpers.push(attr);
            let _ = attr.parse_nested_meta(|meta| {
                out.schemars_crate |= meta.path.is_ident("crate");
                skip(&meta)
            });
        }
    }
    out
}

/// Reads a field's attributes; `helpers` collects its `#[serde]` and `#[schemars]` attributes.
pub(crate) fn field_attrs<'a>(
    attrs: &'a [Attribute],
    helpers: &mut Vec<&'a Attribute>,
) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs {
        if attr.path().is_ident("doc") {
            out.doc.extend(doc_lines(attr));
        } else if attr.path().is_ident("schemars") {
            helpers.push(attr);
        } else if attr.path().is_ident("serde") {
            helpers.push(attr);
            let _ = attr.parse_nested_meta(|meta| {
                let path = &meta.path;
                if path.is_ident("rename") {
                    out.rename = deserialize_side(&meta)?
                        .map(|s| s.value())
                        .or(out.rename.take());
                    return Ok(());
                }
                if path.is_ident("default") {
                    out.default = true;
                } else if path.is_ident("skip") || path.is_ident("skip_deserializing") {
                    out.skip = true;
                } else if path.is_ident("flatten") {
                    out.flatten = true;
                } else if path.is_ident("with") || path.is_ident("deserialize_with") {
                    out.custom = true;
                }
                skip(&meta)
            });
        }
    }
    out
}

/// The value of `key = "..."`, or of `key(deserialize = "...")`; `None` for a `key(serialize = "...")` alone.
fn deserialize_side(meta: &ParseNestedMeta<'_>) -> syn::Result<Option<LitStr>> {
    if meta.input.peek(Token![=]) {
        return Ok(Some(meta.value()?.parse()?));
    }
    let mut found = None;
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("deserialize") {
            found = Some(inner.value()?.parse()?);
            Ok(())
        } else {
            skip(&inner)
        }
    })?;
    Ok(found)
}

/// Consumes a nested setting the attribute does not read: `key`, `key = value` or `key(...)`.
fn skip(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| skip(&inner))?;
    }
    Ok(())
}

/// The lines of one `#[doc = "..."]`, trimmed.
fn doc_lines(attr: &Attribute) -> Vec<String> {
    match &attr.meta {
        syn::Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) => {
                // `split`, not `lines`: an empty `///` line is an empty string, which ends a paragraph.
                s.value().split('\n').map(|l| l.trim().to_owned()).collect()
            }
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The first paragraph of doc lines, as one line.
pub(crate) fn first_paragraph(lines: &[String]) -> String {
    lines
        .iter()
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}
