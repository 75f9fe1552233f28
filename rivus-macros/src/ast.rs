//! The annotated struct, as the attribute sees it.

use syn::{Attribute, Fields, Ident, ItemStruct, Type};

use crate::attr::{self, FieldAttrs, StructAttrs};

/// The struct under the plugin attribute.
pub(crate) struct Plugin<'a> {
    pub(crate) item: &'a ItemStruct,
    pub(crate) attrs: StructAttrs<'a>,
    /// The named fields (none for a unit or tuple struct).
    pub(crate) fields: Vec<Field<'a>>,
    /// `true` for `struct S;`, `struct S {}` and `struct S();`.
    pub(crate) fieldless: bool,
}

/// One named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: FieldAttrs,
}

impl<'a> Plugin<'a> {
    pub(crate) fn from_struct(item: &'a ItemStruct) -> Self {
        let mut attrs = attr::struct_attrs(&item.attrs);
        let mut helpers: Vec<&'a Attribute> = Vec::new();
        let fields = match &item.fields {
            Fields::Named(named) => named
                .named
                .iter()
                .filter_map(|f| {
                    let attrs = attr::field_attrs(&f.attrs, &mut helpers);
                    Some(Field {
                        ident: f.ident.as_ref()?,
                        ty: &f.ty,
                        attrs,
                    })
                })
                .collect(),
            Fields::Unnamed(unnamed) => {
                for f in &unnamed.unnamed {
                    attr::field_attrs(&f.attrs, &mut helpers);
                }
                Vec::new()
            }
            Fields::Unit => Vec::new(),
        };
        attrs.helpers.extend(helpers);
        Self {
            item,
            attrs,
            fields,
            fieldless: item.fields.is_empty(),
        }
    }

    /// The description: the first paragraph of the doc comment.
    pub(crate) fn doc_description(&self) -> String {
        attr::first_paragraph(&self.attrs.doc)
    }
}
