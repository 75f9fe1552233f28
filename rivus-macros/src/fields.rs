//! The options of a struct that derives `Deserialize` but not `JsonSchema`, listed from its fields: the names
//! serde reads (after `rename` and `rename_all`), whether each is required, its JSON type for the common Rust
//! types, and its doc comment.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{GenericArgument, PathArguments, Type};

use crate::ast::Plugin;
use crate::attr;

/// One `FieldDoc { ... }` per option, for `ListedFields::FIELDS`.
pub(crate) fn field_docs(plugin: &Plugin<'_>, private: &TokenStream) -> Vec<TokenStream> {
    let rename_all = plugin.attrs.rename_all.as_ref().map(|l| l.value());
    plugin
        .fields
        .iter()
        .filter(|f| !f.attrs.skip && !f.attrs.flatten)
        .map(|f| {
            let ident = f.ident.to_string();
            let ident = ident.strip_prefix("r#").unwrap_or(&ident);
            let name = match (&f.attrs.rename, &rename_all) {
                (Some(rename), _) => rename.clone(),
                (None, Some(rule)) => rename(ident, rule),
                (None, None) => ident.to_owned(),
            };
            let (inner, optional) = match generic_of(f.ty, "Option") {
                Some(inner) => (inner, true),
                None => (f.ty, false),
            };
            let required = !(optional || f.attrs.default || plugin.attrs.default);
            // With `with`/`deserialize_with`, the table holds whatever that function reads.
            let (json_type, items) = if f.attrs.custom {
                (None, None)
            } else {
                (json_type(inner), array_items(inner).and_then(json_type))
            };
            let rust_type = type_words(f.ty);
            let description = attr::first_paragraph(&f.attrs.doc);
            let json_type = option(json_type);
            let items = option(items);
            quote! {
                #private::FieldDoc {
                    name: #name,
                    rust_type: #rust_type,
                    json_type: #json_type,
                    items: #items,
                    required: #required,
                    description: #description,
                }
            }
        })
        .collect()
}

fn option(value: Option<&str>) -> TokenStream {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}

/// The last path segment's name and the type's first generic argument: `Vec<u8>` -> ("Vec", Some(u8)).
fn last_segment(ty: &Type) -> Option<(String, Option<&Type>)> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    let first_arg = match &last.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    };
    Some((last.ident.to_string(), first_arg))
}

/// `T` of `Wrapper<T>`.
fn generic_of<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
    match last_segment(ty)? {
        (name, Some(inner)) if name == wrapper => Some(inner),
        _ => None,
    }
}

/// The item type of a sequence type: `Vec<T>`, `[T; N]`, ...
fn array_items(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Array(a) => Some(&a.elem),
        Type::Slice(s) => Some(&s.elem),
        _ => match last_segment(ty)? {
            (name, inner)
                if matches!(name.as_str(), "Vec" | "VecDeque" | "HashSet" | "BTreeSet") =>
            {
                inner
            }
            _ => None,
        },
    }
}

/// The JSON type of the common Rust types; `None` for the others.
fn json_type(ty: &Type) -> Option<&'static str> {
    if array_items(ty).is_some() {
        return Some("array");
    }
    match ty {
        Type::Reference(r) => return json_type(&r.elem),
        Type::Paren(p) => return json_type(&p.elem),
        _ => {}
    }
    let (name, inner) = last_segment(ty)?;
    Some(match name.as_str() {
        "Box" | "Arc" | "Rc" | "Option" => return json_type(inner?),
        "String" | "str" | "PathBuf" | "Path" | "char" | "Cow" | "SocketAddr" | "IpAddr"
        | "Url" => "string",
        "bool" => "boolean",
        "f32" | "f64" => "number",
        "HashMap" | "BTreeMap" | "Map" => "object",
        n if is_integer(n) => "integer",
        _ => return None,
    })
}

fn is_integer(name: &str) -> bool {
    let name = name.strip_prefix("NonZero").unwrap_or(name);
    matches!(
        name,
        "u8" | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
            | "U8"
            | "U16"
            | "U32"
            | "U64"
            | "Usize"
            | "I8"
            | "I16"
            | "I32"
            | "I64"
            | "Isize"
    )
}

/// The type as written, with the spaces that token printing adds taken out: `Vec<String>`.
fn type_words(ty: &Type) -> String {
    let mut out = String::new();
    for piece in ty.to_token_stream().to_string().split(' ') {
        let glue = matches!(piece, "<" | ">" | "::" | "," | ";" | "]" | ")")
            || out.ends_with(['<', ':', '&', '[', '('])
            || out.is_empty();
        if !glue {
            out.push(' ');
        }
        out.push_str(piece);
        if matches!(piece, "," | ";") {
            out.push(' ');
        }
    }
    out.replace("  ", " ")
}

/// A field name under serde's `rename_all` rule (its deserialize side); an unknown rule is serde's to report.
fn rename(field: &str, rule: &str) -> String {
    let words: Vec<&str> = field.split('_').filter(|w| !w.is_empty()).collect();
    let capitalized = || -> Vec<String> {
        words
            .iter()
            .map(|w| {
                let mut chars = w.chars();
                chars.next().map_or_else(String::new, |c| {
                    c.to_uppercase().collect::<String>() + chars.as_str()
                })
            })
            .collect()
    };
    match rule {
        "lowercase" => field.to_lowercase(),
        "UPPERCASE" => field.to_uppercase(),
        "PascalCase" => capitalized().concat(),
        "camelCase" => {
            let pascal = capitalized().concat();
            let mut chars = pascal.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_lowercase().collect::<String>() + chars.as_str()
            })
        }
        "SCREAMING_SNAKE_CASE" => field.to_uppercase(),
        "kebab-case" => field.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => field.replace('_', "-").to_uppercase(),
        _ => field.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(text: &str) -> Type {
        syn::parse_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn json_types_of_common_types() {
        for (text, json) in [
            ("u64", Some("integer")),
            ("std::num::NonZeroUsize", Some("integer")),
            ("Option<String>", Some("string")),
            ("Vec<PathBuf>", Some("array")),
            ("[u8; 4]", Some("array")),
            ("BTreeMap<String, u8>", Some("object")),
            ("f64", Some("number")),
            ("bool", Some("boolean")),
            ("Duration", None),
            ("Mode", None),
        ] {
            assert_eq!(json_type(&ty(text)), json, "{text}");
        }
        assert_eq!(
            array_items(&ty("Vec<u8>")).and_then(json_type),
            Some("integer")
        );
    }

    #[test]
    fn types_read_as_written() {
        assert_eq!(type_words(&ty("Vec < String >")), "Vec<String>");
        assert_eq!(
            type_words(&ty("std::collections::BTreeMap<String, u8>")),
            "std::collections::BTreeMap<String, u8>"
        );
        assert_eq!(
            type_words(&ty("Option<&'static str>")),
            "Option<&'static str>"
        );
        assert_eq!(type_words(&ty("[u8; 4]")), "[u8; 4]");
    }

    #[test]
    fn serde_rename_rules() {
        assert_eq!(rename("max_line_len", "camelCase"), "maxLineLen");
        assert_eq!(rename("max_line_len", "PascalCase"), "MaxLineLen");
        assert_eq!(rename("max_line_len", "kebab-case"), "max-line-len");
        assert_eq!(
            rename("max_line_len", "SCREAMING-KEBAB-CASE"),
            "MAX-LINE-LEN"
        );
        assert_eq!(
            rename("max_line_len", "SCREAMING_SNAKE_CASE"),
            "MAX_LINE_LEN"
        );
        assert_eq!(rename("max_line_len", "lowercase"), "max_line_len");
        assert_eq!(rename("path", "UPPERCASE"), "PATH");
    }
}
