//! One plugin of each of the six kinds, defined in a crate whose only Rivus dependency is `rivus-core` (serde and
//! schemars come through its re-exports).

pub mod sources {
    //! The two sources.

    use rivus_core::prelude::*;
    use rivus_core::schemars::JsonSchema;
    use rivus_core::serde::Deserialize;

    /// Counts from `start` up, `count` numbers.
    ///
    /// Only this first paragraph is the description.
    #[async_source("count")]
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(crate = "rivus_core::serde", deny_unknown_fields)]
    #[schemars(crate = "rivus_core::schemars")]
    pub struct Count {
        /// The first number.
        #[serde(default)]
        pub start: u64,
        /// How many numbers to give.
        pub count: u64,
    }

    impl AsyncSource for Count {
        type Out = u64;
        async fn next(&mut self) -> Option<Result<u64, PipeError>> {
            tokio::task::yield_now().await;
            (self.count > 0).then(|| {
                self.count -= 1;
                self.start += 1;
                Ok(self.start - 1)
            })
        }
    }

    /// Yields the words of a text.
    #[sync_source("words", description = "Splits a text into words.")]
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(crate = "rivus_core::serde", deny_unknown_fields)]
    #[schemars(crate = "rivus_core::schemars")]
    pub struct Words {
        /// The text to split.
        pub text: String,
        #[serde(skip)]
        at: usize,
    }

    impl SyncSource for Words {
        type Out = String;
        fn next(&mut self) -> Option<Result<String, PipeError>> {
            let word = self.text.split_whitespace().nth(self.at)?;
            self.at += 1;
            Some(Ok(word.to_owned()))
        }
    }
}

pub mod sinks {
    //! The two sinks.

    use std::sync::{Arc, Mutex};

    use rivus_core::prelude::*;
    use rivus_core::schemars::JsonSchema;
    use rivus_core::serde::Deserialize;

    /// Keeps every item in memory, shared with whoever holds a clone of `items`.
    #[sync_sink("memory")]
    #[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
    #[serde(crate = "rivus_core::serde", deny_unknown_fields)]
    #[schemars(crate = "rivus_core::schemars")]
    pub struct Memory {
        /// The items, in order.
        #[serde(skip)]
        pub items: Arc<Mutex<Vec<String>>>,
    }

    impl SyncSink for Memory {
        type In = String;
        fn write(&mut self, item: String) -> Result<(), PipeError> {
            self.items
                .lock()
                .map_err(|_| PipeError::msg("poisoned"))?
                .push(item);
            Ok(())
        }
    }

    /// Sums numbers, asynchronously.
    #[async_sink("sum")]
    #[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
    #[serde(crate = "rivus_core::serde", deny_unknown_fields)]
    #[schemars(crate = "rivus_core::schemars")]
    pub struct Sum {
        /// The sum so far.
        #[serde(skip)]
        pub total: Arc<Mutex<u64>>,
    }

    impl AsyncSink for Sum {
        type In = u64;
        async fn write(&mut self, item: u64) -> Result<(), PipeError> {
            tokio::task::yield_now().await;
            *self.total.lock().map_err(|_| PipeError::msg("poisoned"))? += item;
            Ok(())
        }
    }
}

pub mod pipes {
    //! The two pipes.

    use rivus_core::prelude::*;
    use rivus_core::schemars::JsonSchema;
    use rivus_core::serde::{Deserialize, Serialize};

    /// Multiplies numbers by a factor and adds an offset.
    ///
    /// Built from [`ScaleConfig`], which rejects a factor of zero.
    #[sync_pipe("scale", config = ScaleConfig)]
    #[derive(Debug)]
    pub struct Scale {
        factor: u64,
        offset: u64,
    }

    /// The configuration of [`Scale`].
    #[derive(Debug, Deserialize, Serialize, JsonSchema)]
    #[serde(crate = "rivus_core::serde", deny_unknown_fields)]
    #[schemars(crate = "rivus_core::schemars")]
    pub struct ScaleConfig {
        /// What to multiply by; must not be zero.
        pub factor: u64,
        /// What to add after multiplying.
        #[serde(default = "default_offset")]
        pub offset: u64,
        /// A label for logs.
        #[serde(default)]
        pub label: Option<String>,
    }

    fn default_offset() -> u64 {
        1
    }

    /// `factor = 0` is not a scale.
    #[derive(Debug)]
    pub struct ZeroFactor;

    impl std::fmt::Display for ZeroFactor {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("`factor` must not be zero")
        }
    }

    impl std::error::Error for ZeroFactor {}

    impl TryFrom<ScaleConfig> for Scale {
        type Error = ZeroFactor;
        fn try_from(c: ScaleConfig) -> Result<Self, ZeroFactor> {
            if c.factor == 0 {
                return Err(ZeroFactor);
            }
            Ok(Self {
                factor: c.factor,
                offset: c.offset,
            })
        }
    }

    impl SyncPipe for Scale {
        type In = u64;
        type Out = u64;
        fn process(&self, x: u64) -> Result<u64, PipeError> {
            Ok(x * self.factor + self.offset)
        }
    }

    /// Formats numbers as text, asynchronously.
    #[async_pipe("show")]
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(crate = "rivus_core::serde", deny_unknown_fields)]
    #[schemars(crate = "rivus_core::schemars")]
    pub struct Show {
        /// Put before each number.
        #[serde(default)]
        pub prefix: String,
    }

    impl AsyncPipe for Show {
        type In = u64;
        type Out = String;
        async fn process(&self, x: u64) -> Result<String, PipeError> {
            tokio::task::yield_now().await;
            Ok(format!("{}{x}", self.prefix))
        }
    }
}
