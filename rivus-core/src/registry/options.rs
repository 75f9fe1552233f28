//! [`OptionError`]: which option of a configuration did not fit, as a path rather than a sentence.

use std::fmt;

use serde::de::DeserializeOwned;

use super::de::ValueDeserializer;
use crate::spec::{FieldPath, Segment};

/// An option of a plugin's configuration that does not fit: where it is, and what is wrong.
///
/// The path is structured, so that a caller that knows where the configuration came from (a pipeline file) can
/// point at the option's line and column.
///
/// ```
/// use rivus_core::prelude::*;
/// use rivus_core::registry::{OptionProblem, RegistryError};
///
/// /// Scales numbers.
/// #[sync_pipe("scale-doc")]
/// #[derive(Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Scale {
///     factor: u64,
/// }
/// # impl SyncPipe for Scale {
/// #     type In = u64;
/// #     type Out = u64;
/// #     fn process(&self, x: u64) -> Result<u64, PipeError> { Ok(x * self.factor) }
/// # }
///
/// let scale = registry::lookup(PluginKind::SyncPipe, "scale-doc").unwrap();
/// let Err(RegistryError::Config { error, .. }) = scale.build(json!({ "factr": 2 })) else { panic!() };
/// assert_eq!(error.path.to_string(), "factr");
/// assert!(matches!(error.problem, OptionProblem::Unknown { .. }));
/// assert_eq!(error.to_string(), "unknown field `factr`, expected `factor`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OptionError {
    /// The option at fault: `factor`, `columns[2].name`; for an unknown or a missing option, that option itself.
    /// Empty when the configuration as a whole does not fit (it is not a table).
    pub path: FieldPath,
    /// What is wrong with it.
    pub problem: OptionProblem,
}

/// What is wrong with an option; see [`OptionError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionProblem {
    /// The plugin does not know the option.
    Unknown {
        /// The options it knows at that place (none for a plugin without options).
        expected: &'static [&'static str],
    },
    /// A required option is not given.
    Missing,
    /// The option's value does not fit: the deserializer's message (`invalid type: string "ten", expected u64`).
    Invalid(String),
}

impl OptionError {
    /// The configuration as a whole does not fit.
    pub(crate) fn whole(message: impl Into<String>) -> Self {
        Self {
            path: FieldPath::root(),
            problem: OptionProblem::Invalid(message.into()),
        }
    }

    /// The option `name` (a top-level option of the plugin's table) has a value that does not fit.
    ///
    /// This is how a plugin declares a check of its options: its `TryFrom<Config>` (which runs when the plugin
    /// is built, so `rivus validate` runs it too, before anything is opened or connected) returns an
    /// `OptionError`, and the pipeline file's error then points at the option's line and column instead of the
    /// plugin's table. See [`invalid_at`](Self::invalid_at) for a nested option.
    ///
    /// ```
    /// use rivus_core::registry::OptionError;
    ///
    /// let e = OptionError::invalid("rate", "must be a positive number, not NaN");
    /// assert_eq!(e.to_string(), "field `rate`: must be a positive number, not NaN");
    /// ```
    pub fn invalid(name: &str, message: impl Into<String>) -> Self {
        Self::invalid_at(FieldPath::root().key(name), message)
    }

    /// The option at `path` (e.g. `columns[2].name`) has a value that does not fit.
    pub fn invalid_at(path: FieldPath, message: impl Into<String>) -> Self {
        Self {
            path,
            problem: OptionProblem::Invalid(message.into()),
        }
    }

    /// The option `name` is required (by the other options given) but missing.
    pub fn missing(name: &str) -> Self {
        Self {
            path: FieldPath::root().key(name),
            problem: OptionProblem::Missing,
        }
    }

    /// What is wrong, without where: the message for a caller that shows [`path`](Self::path) itself.
    pub fn message(&self) -> String {
        let name = match self.path.segments().last() {
            Some(Segment::Key(key)) => key.as_str(),
            _ => "",
        };
        match &self.problem {
            // serde's own wording, so that the message reads as it does everywhere else.
            OptionProblem::Unknown { expected } => {
                <serde::de::value::Error as serde::de::Error>::unknown_field(name, expected)
                    .to_string()
            }
            OptionProblem::Missing => format!("missing field `{name}`"),
            OptionProblem::Invalid(message) => message.clone(),
        }
    }
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An unknown or missing option is named by the message; an invalid one by its path.
        let place = match self.problem {
            OptionProblem::Unknown { .. } | OptionProblem::Missing => self.path.parent(),
            OptionProblem::Invalid(_) => self.path.clone(),
        };
        if !place.is_empty() {
            write!(f, "field `{place}`: ")?;
        }
        f.write_str(&self.message())
    }
}

impl std::error::Error for OptionError {}

/// Deserializes a configuration value into `T`, with the option at fault as a path.
///
/// # Errors
///
/// The [`OptionError`] of the first option that does not fit.
pub(crate) fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, OptionError> {
    serde_path_to_error::deserialize(ValueDeserializer::<Failure>::new(value)).map_err(|e| {
        let path = FieldPath::from_serde(e.path());
        match e.into_inner() {
            Failure::Unknown { field, expected } => OptionError {
                // The path ends at the unknown key already when the key was read as a string.
                path: path.with_last_key(field),
                problem: OptionProblem::Unknown { expected },
            },
            Failure::Missing(field) => OptionError {
                path: path.key(field),
                problem: OptionProblem::Missing,
            },
            Failure::Custom(message) => OptionError {
                path,
                problem: OptionProblem::Invalid(message),
            },
        }
    })
}

/// The deserializer's error: the two failures that name an option are kept apart from the rest.
#[derive(Debug)]
enum Failure {
    Unknown {
        field: String,
        expected: &'static [&'static str],
    },
    Missing(&'static str),
    Custom(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown { field, .. } => write!(f, "unknown field `{field}`"),
            Self::Missing(field) => write!(f, "missing field `{field}`"),
            Self::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Failure {}

impl serde::de::Error for Failure {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::Custom(msg.to_string())
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::Unknown {
            field: field.to_owned(),
            expected,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self::Missing(field)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Column {
        name: String,
        #[serde(default)]
        kind: Kind,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        #[default]
        Text,
        Number {
            digits: u8,
        },
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Table {
        columns: Vec<Column>,
        limit: Option<u64>,
    }

    fn error(value: serde_json::Value) -> OptionError {
        from_value::<Table>(value).unwrap_err()
    }

    #[test]
    fn paths_point_at_the_option() {
        let e = error(json!({ "columns": [{ "name": "a" }, { "nmae": "b" }] }));
        assert_eq!(e.path.to_string(), "columns[1].nmae");
        assert!(
            matches!(e.problem, OptionProblem::Unknown { expected } if expected == ["name", "kind"])
        );
        assert_eq!(
            e.to_string(),
            "field `columns[1]`: unknown field `nmae`, expected `name` or `kind`"
        );

        let e = error(json!({ "columns": [{ "kind": "text" }] }));
        assert_eq!(e.path.to_string(), "columns[0].name");
        assert_eq!(e.problem, OptionProblem::Missing);
        assert_eq!(e.message(), "missing field `name`");

        let e = error(json!({ "columns": [], "limit": "ten" }));
        assert_eq!(e.path.to_string(), "limit");
        assert_eq!(
            e.to_string(),
            "field `limit`: invalid type: string \"ten\", expected u64"
        );

        let e = error(json!("all"));
        assert!(e.path.is_empty());
        assert!(
            e.to_string().starts_with("invalid type: string \"all\""),
            "{e}"
        );
    }

    #[test]
    fn enums_options_and_numbers_deserialize() {
        let table: Table = from_value(json!({
            "columns": [
                { "name": "a", "kind": "text" },
                { "name": "b", "kind": { "number": { "digits": 2 } } }
            ],
            "limit": null
        }))
        .unwrap();
        assert!(matches!(table.columns[1].kind, Kind::Number { digits: 2 }));
        assert_eq!(table.limit, None);
        let e = error(json!({ "columns": [{ "name": "a", "kind": "nope" }] }));
        assert_eq!(e.path.to_string(), "columns[0].kind");
        assert!(e.message().starts_with("unknown variant `nope`"), "{e}");
        let e = error(json!({ "columns": [], "limit": -1 }));
        assert!(e.message().contains("expected u64"), "{e}");
    }
}
