//! The six plugin kinds, as the attributes see them.

use syn::Attribute;

/// One of the six plugin kinds: which attribute was written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    AsyncSource,
    AsyncSink,
    SyncSource,
    SyncSink,
    AsyncPipe,
    SyncPipe,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::AsyncSource,
        Kind::AsyncSink,
        Kind::SyncSource,
        Kind::SyncSink,
        Kind::AsyncPipe,
        Kind::SyncPipe,
    ];

    /// The kind of `attr` if it is one of the six plugin attributes (by its last path segment).
    pub(crate) fn of_attr(attr: &Attribute) -> Option<Kind> {
        let last = attr.path().segments.last()?;
        Self::ALL.into_iter().find(|k| last.ident == k.attr())
    }

    /// The attribute's name, which is also the name of its `__private` constructor.
    pub(crate) fn attr(self) -> &'static str {
        match self {
            Kind::AsyncSource => "async_source",
            Kind::AsyncSink => "async_sink",
            Kind::SyncSource => "sync_source",
            Kind::SyncSink => "sync_sink",
            Kind::AsyncPipe => "async_pipe",
            Kind::SyncPipe => "sync_pipe",
        }
    }

    /// The trait the struct must implement.
    pub(crate) fn trait_name(self) -> &'static str {
        match self {
            Kind::AsyncSource => "AsyncSource",
            Kind::AsyncSink => "AsyncSink",
            Kind::SyncSource => "SyncSource",
            Kind::SyncSink => "SyncSink",
            Kind::AsyncPipe => "AsyncPipe",
            Kind::SyncPipe => "SyncPipe",
        }
    }

    /// The `Composable::Mode`, or `None` for sync pipes, which every `SyncPipe` has already.
    pub(crate) fn mode(self) -> Option<&'static str> {
        match self {
            Kind::AsyncSource => Some("AsyncSourceMode"),
            Kind::AsyncSink => Some("AsyncSinkMode"),
            Kind::SyncSource => Some("SyncSourceMode"),
            Kind::SyncSink => Some("SyncSinkMode"),
            Kind::AsyncPipe => Some("AsyncMode"),
            Kind::SyncPipe => None,
        }
    }

    /// Sinks end a chain: nothing stands on their right, so they get no `>>` of their own.
    pub(crate) fn has_shr(self) -> bool {
        !matches!(self, Kind::AsyncSink | Kind::SyncSink)
    }
}
