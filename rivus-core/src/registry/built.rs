//! [`BuiltPlugin`]: a plugin built from configuration, to downcast to its type.

use std::any::Any;
use std::fmt;

use super::PluginDescriptor;

/// A plugin built from configuration by [`PluginDescriptor::build`]; [`downcast`](Self::downcast) it to the
/// plugin's type.
///
/// Pipelines assembled at run time use [`PluginDescriptor::build_erased`] instead, which gives the plugin's
/// type-erased form.
pub struct BuiltPlugin {
    descriptor: &'static PluginDescriptor,
    plugin: Box<dyn Any + Send>,
}

impl BuiltPlugin {
    pub(super) fn new(descriptor: &'static PluginDescriptor, plugin: Box<dyn Any + Send>) -> Self {
        Self { descriptor, plugin }
    }

    /// The descriptor of the plugin that was built.
    pub fn descriptor(&self) -> &'static PluginDescriptor {
        self.descriptor
    }

    /// `true` when the plugin is a `T`.
    pub fn is<T: Any>(&self) -> bool {
        self.plugin.is::<T>()
    }

    /// The plugin, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.plugin.downcast_ref()
    }

    /// The plugin, if it is a `T`.
    pub fn downcast_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.plugin.downcast_mut()
    }

    /// The plugin as a `T`.
    ///
    /// # Errors
    ///
    /// When the plugin is not a `T`, a [`DowncastError`] that names both types and gives the plugin back.
    pub fn downcast<T: Any>(self) -> Result<T, DowncastError> {
        match self.plugin.downcast::<T>() {
            Ok(plugin) => Ok(*plugin),
            Err(plugin) => Err(DowncastError {
                plugin: Self {
                    descriptor: self.descriptor,
                    plugin,
                },
                wanted: std::any::type_name::<T>(),
            }),
        }
    }

    /// The plugin as a boxed [`Any`].
    pub fn into_any(self) -> Box<dyn Any + Send> {
        self.plugin
    }
}

impl fmt::Debug for BuiltPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuiltPlugin")
            .field("kind", &self.descriptor.kind())
            .field("name", &self.descriptor.name())
            .field("type_name", &self.descriptor.type_name())
            .finish_non_exhaustive()
    }
}

/// [`BuiltPlugin::downcast`] asked for a type the plugin is not.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} `{}` is a `{}`, not a `{wanted}`",
    plugin.descriptor.kind(),
    plugin.descriptor.name(),
    plugin.descriptor.type_name()
)]
pub struct DowncastError {
    plugin: BuiltPlugin,
    wanted: &'static str,
}

impl DowncastError {
    /// The plugin, unchanged.
    pub fn into_inner(self) -> BuiltPlugin {
        self.plugin
    }
}
