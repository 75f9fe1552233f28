//! Routed sinks: `when = "<condition>"` and `otherwise = true` on `[[sinks]]` tables.
//!
//! A sink with `when` takes the records its condition holds for; the sink with `otherwise = true` (at most one)
//! takes the records no `when` took; a sink with neither takes every record. When no sink takes a record, it
//! ends `unrouted` in the ledger: counted and acknowledged, never dropped without a count. A record whose values
//! do not compare with a route's condition (a string against a number) is not taken by that route, and the
//! first such record of each route is logged as a warning; a `filter` with the same condition before the sinks
//! fails such records instead, for the error policy.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{ConfigError, FieldPath, PluginTable, SourceText};
use crate::condition::Condition;
use crate::value::Record;

/// Which records a sink of a pipeline file takes.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkRoute {
    /// Every record (no `when`, no `otherwise`).
    All,
    /// The records the condition holds for (`when`).
    When(Arc<Condition>),
    /// The records no `when` route took (`otherwise = true`).
    Otherwise,
}

impl SinkRoute {
    /// The route as a predicate for the runtime's `sink_when`: a record the condition cannot be decided for is
    /// not taken, and the first one is logged (see the [module docs](self)).
    pub(crate) fn predicate(
        condition: Arc<Condition>,
        sink: String,
    ) -> impl Fn(&Record) -> bool + Send + Sync + 'static {
        let warned = AtomicBool::new(false);
        move |record: &Record| match condition.eval(record) {
            Ok(taken) => taken,
            Err(e) => {
                if !warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        sink = %sink,
                        condition = %condition,
                        "a record does not fit the route's condition, so the route does not take it: {e} \
                         (further such records of this route are not logged)"
                    );
                }
                false
            }
        }
    }

    /// Whether the route takes `record` in `rivus test` (where an undecidable record is an error).
    ///
    /// # Errors
    ///
    /// The condition's error, for a record whose values do not compare with it.
    pub fn takes(
        &self,
        record: &Record,
        routed: bool,
    ) -> Result<bool, crate::condition::EvalError> {
        match self {
            Self::All => Ok(true),
            Self::When(c) => c.eval(record),
            Self::Otherwise => Ok(!routed),
        }
    }
}

impl fmt::Display for SinkRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("every record"),
            Self::When(c) => write!(f, "when {c}"),
            Self::Otherwise => f.write_str("otherwise"),
        }
    }
}

/// Takes `when` and `otherwise` out of each sink table (they are the pipeline's, not the plugin's) and checks
/// them: `when` a condition, `otherwise` a boolean, not both on one sink, at most one `otherwise`, and only
/// beside a `when`.
pub(super) fn take_routes(
    sinks: &mut [PluginTable],
    source: &SourceText,
) -> Result<Vec<SinkRoute>, ConfigError> {
    let mut routes = Vec::with_capacity(sinks.len());
    let mut otherwise: Option<usize> = None;
    for (i, table) in sinks.iter_mut().enumerate() {
        let at = FieldPath::root().key("sinks").index(i);
        let when = match table.options.remove("when") {
            None => None,
            Some(toml::Value::String(text)) => Some(
                Condition::parse(&text)
                    .map_err(|e| source.error_at(&at.clone().key("when"), e.to_string()))?,
            ),
            Some(other) => {
                return Err(source.error_at(
                    &at.key("when"),
                    format!(
                        "`when` is a condition in quotes, not a {}",
                        other.type_str()
                    ),
                ));
            }
        };
        let is_otherwise = match table.options.remove("otherwise") {
            None => false,
            Some(toml::Value::Boolean(b)) => b,
            Some(other) => {
                return Err(source.error_at(
                    &at.key("otherwise"),
                    format!(
                        "`otherwise` is `true` or `false`, not a {}",
                        other.type_str()
                    ),
                ));
            }
        };
        let route = match (when, is_otherwise) {
            (Some(_), true) => {
                return Err(source.error_at(
                    &at.key("otherwise"),
                    "a sink takes either `when` or `otherwise = true`, not both",
                ));
            }
            (Some(c), false) => SinkRoute::When(Arc::new(c)),
            (None, true) => {
                if let Some(first) = otherwise {
                    return Err(source.error_at(
                        &at.key("otherwise"),
                        format!(
                            "only one sink may be `otherwise = true` (`sinks[{first}]` is already)"
                        ),
                    ));
                }
                otherwise = Some(i);
                SinkRoute::Otherwise
            }
            (None, false) => SinkRoute::All,
        };
        routes.push(route);
    }
    if let Some(i) = otherwise
        && !routes.iter().any(|r| matches!(r, SinkRoute::When(_)))
    {
        return Err(source.error_at(
            &FieldPath::root().key("sinks").index(i).key("otherwise"),
            "`otherwise` takes the records no `when` route took, but no sink has a `when`",
        ));
    }
    Ok(routes)
}
