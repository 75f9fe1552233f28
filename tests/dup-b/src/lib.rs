//! Registers a sync sink `console`, which `rivus-dup-a` registers too.

pub mod out {
    //! The sink.

    use rivus_core::prelude::*;
    use rivus_core::schemars::JsonSchema;
    use rivus_core::serde::Deserialize;

    /// Prints items to standard error.
    #[sync_sink("console")]
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(crate = "rivus_core::serde")]
    #[schemars(crate = "rivus_core::schemars")]
    pub struct Terminal {}

    impl SyncSink for Terminal {
        type In = String;
        fn write(&mut self, item: String) -> Result<(), PipeError> {
            eprintln!("{item}");
            Ok(())
        }
    }
}
