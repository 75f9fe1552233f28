//! `passthrough`: a sync pipe that hands every item on unchanged.
//!
//! Useful to check a pipeline's wiring, or as a placeholder transform.

use rivus_core::prelude::*;

/// Hands every item on unchanged.
///
/// It takes no options: its configuration table is empty.
///
/// ```
/// use rivus_core::prelude::*;
/// use rivus_plugins::passthrough::Passthrough;
///
/// let p = registry::find(PluginKind::SyncPipe, "passthrough").unwrap();
/// let pipe: Passthrough = p.build(Value::Null).unwrap().downcast().unwrap();
/// let record = Record::new().with("a", 1);
/// assert_eq!(pipe.process(record.clone()).unwrap(), record);
/// ```
#[sync_pipe("passthrough")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Passthrough;

impl SyncPipe for Passthrough {
    type In = Record;
    type Out = Record;

    #[inline]
    fn process(&self, item: Record) -> Result<Record, PipeError> {
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_and_built_from_an_empty_table() {
        let d = registry::find(PluginKind::SyncPipe, "passthrough").unwrap();
        assert_eq!(d.description(), "Hands every item on unchanged.");
        assert_eq!(d.type_name(), "rivus_plugins::passthrough::Passthrough");
        assert!(d.config_fields().is_empty());
        let built = d.build_from(&std::collections::BTreeMap::<String, u8>::new());
        let p: Passthrough = built.unwrap().downcast().unwrap();
        let chained = p >> pipe::map(|r: Record| r.len());
        let record: Record = [("a", 1), ("b", 2)].into_iter().collect();
        assert_eq!(chained.process(record).unwrap(), 2);
        let err = d
            .build_from(&std::collections::BTreeMap::from([("mode", 1)]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "sync pipe `passthrough`: unknown field `mode`, there are no fields"
        );
    }
}
