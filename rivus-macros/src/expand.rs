//! Expansion: the struct as written (plus the `crate = ...` settings its derives need), then one
//! `const _: () = { ... };` block holding the registration, the `Composable` impl and the `>>` impl, all through
//! `::rivus_core::__private`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Item, ItemStruct};

use crate::ast::Plugin;
use crate::attr::Args;
use crate::ctxt::Ctxt;
use crate::fields;
use crate::kind::Kind;
use crate::valid::{self, Checked, Options, Registration};

/// The expansion of `#[kind(args)] item`.
pub(crate) fn plugin(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let args: Option<Args> = syn::parse2(args).map_err(|e| cx.syn_error(e)).ok();
    let strukt = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(s)) => s,
        Ok(other) => {
            not_a_struct(&cx, kind, &other);
            return with_errors(item, cx);
        }
        Err(e) => {
            cx.syn_error(e);
            return with_errors(item, cx);
        }
    };
    let plugin = Plugin::from_struct(&strukt);
    let checked = valid::check(&cx, kind, args.as_ref(), &plugin);
    if let Err(errors) = cx.check() {
        // The struct as its derives need it (so that they add no errors of their own), without the repeated
        // attributes (so that they do not expand and report the same struct again).
        let mut strukt = with_crate_paths(&plugin);
        strukt.attrs.retain(|a| Kind::of_attr(a) != Some(kind));
        let errors = errors.to_compile_error();
        return quote!(#strukt #errors);
    }
    expansion(kind, &plugin, &checked)
}

fn not_a_struct(cx: &Ctxt, kind: Kind, item: &Item) {
    let (what, span) = match item {
        Item::Enum(e) => ("an enum", e.enum_token.span()),
        Item::Union(u) => ("a union", u.union_token.span()),
        Item::Fn(f) => ("a function", f.sig.fn_token.span()),
        other => ("this item", other.span()),
    };
    cx.syn_error(syn::Error::new(
        span,
        format!(
            "`#[{}]` goes on a struct, not on {what}: a plugin is a struct that implements `{}`",
            kind.attr(),
            kind.trait_name()
        ),
    ));
}

/// The item unchanged (so that its other uses still resolve) followed by the errors.
fn with_errors(item: TokenStream, cx: Ctxt) -> TokenStream {
    let errors = cx.check().err().map(|e| e.to_compile_error());
    quote!(#item #errors)
}

/// The struct and its `const _` block.
fn expansion(kind: Kind, plugin: &Plugin<'_>, checked: &Checked) -> TokenStream {
    let call_site = Span::call_site();
    // The type as the attribute names it: the struct's name, at the attribute, so that trait errors point there.
    // Generic parameters all have defaults here, which the bare name takes.
    let ty = Ident::new(&plugin.item.ident.to_string(), call_site);
    let private = quote_spanned!(call_site=> ::rivus_core::__private);
    let strukt = with_crate_paths(plugin);

    let body = match &checked.registration {
        Some(registration) => register(kind, registration, &ty, &private),
        None => {
            let marked = Ident::new(&format!("marked_{}", kind.attr()), call_site);
            quote_spanned!(call_site=> #private::#marked::<#ty>();)
        }
    };

    // What the options need of the struct depends on the struct alone: the innermost attribute writes it once
    // for every attribute on the struct.
    let support = if checked.innermost {
        support(plugin, &ty, &private)
    } else {
        TokenStream::new()
    };

    let composable = if checked.innermost {
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
            .then(|| quote_spanned!(call_site=> #private::plugin_shr!(#ty);));
        quote!(#mode #shr)
    } else {
        TokenStream::new()
    };

    quote! {
        #strukt
        const _: () = {
            #support
            #body
            #composable
        };
    }
}

/// The struct, with `#[serde(crate = ...)]` and `#[schemars(crate = ...)]` added for the derives that the
/// attribute sees and that name no crate of their own, so that they use `rivus_core`'s re-exports.
fn with_crate_paths(plugin: &Plugin<'_>) -> ItemStruct {
    let mut strukt = plugin.item.clone();
    let attrs = &plugin.attrs;
    if attrs.derives("Deserialize") && !attrs.serde_crate {
        strukt
            .attrs
            .push(syn::parse_quote!(#[serde(crate = "::rivus_core::__private::serde")]));
    }
    if attrs.derives("JsonSchema") && !attrs.schemars_crate {
        strukt
            .attrs
            .push(syn::parse_quote!(#[schemars(crate = "::rivus_core::__private::schemars")]));
    }
    strukt
}

/// The impls that `__private::listed` and `__private::literal` need: the fields of a struct that derives
/// `Deserialize` but not `JsonSchema`, and the literal of a struct without fields.
fn support(plugin: &Plugin<'_>, ty: &Ident, private: &TokenStream) -> TokenStream {
    let call_site = Span::call_site();
    let attrs = &plugin.attrs;
    if attrs.derives("Deserialize") && !attrs.derives("JsonSchema") {
        let docs = fields::field_docs(plugin, private);
        quote_spanned! {call_site=>
            impl #private::ListedFields for #ty {
                const FIELDS: &'static [#private::FieldDoc] = &[#(#docs),*];
            }
        }
    } else if plugin.fieldless {
        let literal = match &plugin.item.fields {
            syn::Fields::Named(_) => quote!(Self {}),
            syn::Fields::Unnamed(_) => quote!(Self()),
            syn::Fields::Unit => quote!(Self),
        };
        quote_spanned! {call_site=>
            impl #private::Fieldless for #ty {
                fn literal() -> Self {
                    #literal
                }
            }
        }
    } else {
        TokenStream::new()
    }
}

/// The descriptor in the registry's slice.
fn register(
    kind: Kind,
    registration: &Registration,
    ty: &Ident,
    private: &TokenStream,
) -> TokenStream {
    let call_site = Span::call_site();
    let Registration {
        name, description, ..
    } = registration;
    let options = match &registration.options {
        // At the user's type, so that a missing `Deserialize` or `From` points at `config = ...`.
        Options::Config(config) => {
            quote_spanned!(config.span()=> #private::deserialized::<#ty, #config>())
        }
        Options::Schema => quote!(#private::deserialized::<#ty, #ty>()),
        Options::Listed => quote!(#private::listed::<#ty>()),
        Options::Literal => quote!(#private::literal::<#ty>()),
        Options::Defaulted => quote!(#private::defaulted::<#ty>()),
    };
    let ctor = Ident::new(kind.attr(), call_site);
    let name = name.to_token_stream();
    // The static goes into a link section, which the `unsafe_code` lint flags. SAFETY: linkme checks the
    // element's type against the slice's, and the element is a plain constant that nothing mutates; the `allow`
    // covers this one static. Under `#![forbid(unsafe_code)]` the compiler rejects the `allow` here, at the
    // attribute, which is the clearest error we can give (forbid cannot be lifted).
    quote_spanned! {call_site=>
        #[allow(unsafe_code)]
        #[#private::linkme::distributed_slice(#private::PLUGINS)]
        #[linkme(crate = #private::linkme)]
        static PLUGIN: #private::PluginDescriptor = #private::#ctor::<#ty>(
            #private::Meta {
                name: #name,
                description: #description,
                module_path: ::core::module_path!(),
                file: ::core::file!(),
                line: ::core::line!(),
            },
            #options,
        );
    }
}
