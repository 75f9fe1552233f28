//! The validation pass: every mistake in the attribute and the struct, each at the user's tokens, collected in
//! one [`Ctxt`] so that one compile reports them all. What passes is a [`Checked`] attribute for `expand`.

use quote::ToTokens;
use syn::{Expr, GenericParam, Lit, LitStr, Type};

use crate::ast::Plugin;
use crate::attr::{Args, SettingValue};
use crate::ctxt::Ctxt;
use crate::kind::Kind;

/// The attribute, checked.
pub(crate) struct Checked {
    /// What a named attribute registers; `None` for a nameless one (or a name with mistakes).
    pub(crate) registration: Option<Registration>,
    /// No attribute of another kind below this one: this one gives the type `>>`.
    pub(crate) innermost: bool,
}

/// A plugin to register.
pub(crate) struct Registration {
    pub(crate) name: LitStr,
    pub(crate) description: String,
    pub(crate) options: Options,
}

/// How the plugin is made from its table (see `rivus_core::registry`, "Options").
pub(crate) enum Options {
    /// `config = C`: deserialized into `C`, then converted with `From`/`TryFrom`.
    Config(Box<Type>),
    /// The struct derives `Deserialize` and `JsonSchema`.
    Schema,
    /// The struct derives `Deserialize` only: the attribute lists its fields.
    Listed,
    /// No fields: the struct's literal.
    Literal,
    /// Fields but no `Deserialize`: `Default`.
    Defaulted,
}

/// Checks the attribute's arguments, then the struct, so that the errors come in reading order.
pub(crate) fn check(cx: &Ctxt, kind: Kind, args: Option<&Args>, plugin: &Plugin<'_>) -> Checked {
    let registration = args.and_then(|args| check_args(cx, kind, args, plugin));
    for (other, attr) in &plugin.attrs.plugin_attrs {
        if *other == kind {
            cx.error_spanned_by(
                attr,
                format!(
                    "`#[{}]` is given twice on `{}`; a struct is one plugin of each kind (define another struct \
                     for the second name)",
                    kind.attr(),
                    plugin.item.ident
                ),
            );
        }
    }
    check_generics(cx, plugin);
    Checked {
        registration,
        innermost: plugin.attrs.plugin_attrs.is_empty(),
    }
}

/// A registered struct is named without generic arguments, so every parameter needs a default.
fn check_generics(cx: &Ctxt, plugin: &Plugin<'_>) {
    for param in &plugin.item.generics.params {
        let message = match param {
            GenericParam::Lifetime(l) => format!(
                "a plugin cannot borrow: remove the lifetime `{}` (plugins are `'static`)",
                l.lifetime
            ),
            GenericParam::Type(t) if t.default.is_none() => format!(
                "a generic struct cannot be registered as it stands: give `{0}` a default (`{0} = SomeType`) or \
                 register a non-generic struct that wraps it",
                t.ident
            ),
            GenericParam::Const(c) if c.default.is_none() => format!(
                "a generic struct cannot be registered as it stands: give `{0}` a default (`const {0}: {1} = ...`) \
                 or register a non-generic struct that wraps it",
                c.ident,
                c.ty.to_token_stream()
            ),
            _ => continue,
        };
        cx.error_spanned_by(param, message);
    }
}

/// The name and the settings; the registration when they hold no mistake.
fn check_args(cx: &Ctxt, kind: Kind, args: &Args, plugin: &Plugin<'_>) -> Option<Registration> {
    let attr = kind.attr();
    // `Some(None)`: a name was written but is not usable; the settings are then not blamed for a missing name.
    let mut name: Option<Option<LitStr>> = args.name.as_ref().map(|expr| match ungrouped(expr) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => check_name(cx, attr, s).then(|| s.clone()),
        other => {
            cx.error_spanned_by(
                other,
                format!(
                    "the plugin's name must be a string literal of `a-z`, `0-9`, `_` and `-`, e.g. \
                     `#[{attr}(\"my-plugin\")]`"
                ),
            );
            None
        }
    });
    let mut description: Option<LitStr> = None;
    let mut config: Option<Type> = None;
    for setting in &args.settings {
        let key = &setting.key;
        let twice = |cx: &Ctxt| cx.error_spanned_by(key, format!("`{key}` is given twice"));
        let literal = match &setting.value {
            SettingValue::Expr(expr) => match ungrouped(expr) {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s),
                _ => None,
            },
            SettingValue::Type(_) => None,
        };
        match (key.to_string().as_str(), &setting.value) {
            ("description", value) => match literal {
                Some(s) => {
                    if description.replace(s.clone()).is_some() {
                        twice(cx);
                    }
                }
                None => cx.error_spanned_by(value, DESCRIPTION_LITERAL),
            },
            ("config", SettingValue::Type(ty)) => {
                if config.replace(ty.clone()).is_some() {
                    twice(cx);
                }
            }
            ("config", value) => cx.error_spanned_by(
                value,
                "`config` takes a type, not a value: `config = MyConfig`",
            ),
            ("name", value) => {
                cx.error_spanned_by(
                    key,
                    format!(
                        "the name takes no key and comes first: `#[{attr}({}, ...)]`",
                        value.to_token_stream()
                    ),
                );
                name = Some(None);
            }
            (other, _) => cx.error_spanned_by(
                key,
                format!(
                    "unknown option `{other}` of `#[{attr}]`; the options are `description = \"...\"` and `config = \
                     SomeType`"
                ),
            ),
        }
    }
    let Some(name) = name else {
        for setting in &args.settings {
            if setting.key == "description" || setting.key == "config" {
                cx.error_spanned_by(
                    &setting.key,
                    format!(
                        "`{}` needs a plugin name: `#[{attr}(\"my-plugin\", {} = ...)]`; without a name the \
                         attribute registers nothing",
                        setting.key, setting.key
                    ),
                );
            }
        }
        return None;
    };
    let options = options(cx, kind, config, plugin);
    Some(Registration {
        name: name?,
        description: description.map_or_else(|| plugin.doc_description(), |d| d.value()),
        options,
    })
}

const DESCRIPTION_LITERAL: &str =
    "`description` must be a string literal: `description = \"Reads CSV files.\"`";

/// The expression inside the invisible groups that `macro_rules!` wraps around a fragment it passes on
/// (`#[sync_pipe($name)]` with `$name:literal`).
fn ungrouped(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(group) => ungrouped(&group.expr),
        other => other,
    }
}

/// Names are non-empty and made of `a-z`, `0-9`, `_` and `-`.
fn check_name(cx: &Ctxt, attr: &str, name: &LitStr) -> bool {
    let value = name.value();
    if value.is_empty() {
        cx.error_spanned_by(
            name,
            format!("the plugin's name is empty; give it one: `#[{attr}(\"my-plugin\")]`"),
        );
        return false;
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        cx.error_spanned_by(
            name,
            format!(
                "the plugin's name `{value}` contains {bad:?}; names are made of lowercase `a-z`, `0-9`, `_` and `-`"
            ),
        );
        return false;
    }
    true
}

/// How the plugin is made, from the struct as written.
fn options(cx: &Ctxt, kind: Kind, config: Option<Type>, plugin: &Plugin<'_>) -> Options {
    if let Some(config) = config {
        return Options::Config(Box::new(config));
    }
    let attrs = &plugin.attrs;
    if attrs.derives("Deserialize") {
        return if attrs.derives("JsonSchema") {
            Options::Schema
        } else {
            Options::Listed
        };
    }
    // Helpers without any derive in sight: the derives are above the attribute, which cannot see them.
    if attrs.derives.is_empty()
        && let Some(helper) = attrs.helpers.first()
    {
        cx.error_spanned_by(
            helper,
            format!(
                "`#[{0}]` cannot see the `#[derive]` this helper belongs to: put `#[{0}(...)]` above the \
                 `#[derive(...)]`s, which it reads to learn how the plugin takes its options",
                kind.attr()
            ),
        );
    }
    if plugin.fieldless {
        Options::Literal
    } else {
        Options::Defaulted
    }
}
