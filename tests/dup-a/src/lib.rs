//! Registers a sync sink `console` (which `rivus-dup-b` registers too) and a sync source `console` (the same name
//! under another kind, which is allowed).

pub mod sinks {
    //! The sink.

    use rivus_core::prelude::*;
    use rivus_core::schemars::JsonSchema;
    use rivus_core::serde::Deserialize;

    /// Prints items to standard output.
    #[sync_sink("console")]
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(crate = "rivus_core::serde")]
    #[schemars(crate = "rivus_core::schemars")]
    pub struct Console {}

    impl SyncSink for Console {
        type In = String;
        fn write(&mut self, item: String) -> Result<(), PipeError> {
            println!("{item}");
            Ok(())
        }
    }
}

pub mod sources {
    //! The source.

    use rivus_core::prelude::*;
    use rivus_core::schemars::JsonSchema;
    use rivus_core::serde::Deserialize;

    /// Reads lines from standard input.
    #[sync_source("console")]
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(crate = "rivus_core::serde")]
    #[schemars(crate = "rivus_core::schemars")]
    pub struct Console {}

    impl SyncSource for Console {
        type Out = String;
        fn next(&mut self) -> Option<Result<String, PipeError>> {
            let mut line = String::new();
            match std::io::stdin().read_line(&mut line) {
                Ok(0) => None,
                Ok(_) => Some(Ok(line)),
                Err(e) => Some(Err(e.into())),
            }
        }
    }
}
