//! [`Message<T>`]: a payload with its [`MessageMetadata`].
//!
//! Every message gets its own id and creation time when it is made. (Rivusio, the Python original, used one
//! default metadata object shared by every message, so all messages had the same id; here the constructor makes
//! a fresh one each time, and there is no shared default.)

use std::borrow::Cow;
use std::time::SystemTime;

use uuid::Uuid;

/// A payload travelling through a pipeline, with its metadata.
///
/// # Examples
///
/// ```
/// use rivus_core::Message;
///
/// let a = Message::new(1);
/// let b = Message::new(2);
/// assert_ne!(a.metadata.id, b.metadata.id);
/// let c = a.map(|x| x * 10);
/// assert_eq!(c.payload, 10);
/// ```
#[derive(Debug, Clone)]
pub struct Message<T> {
    /// The data itself.
    pub payload: T,
    /// Where and when it came from.
    pub metadata: MessageMetadata,
}

impl<T> Message<T> {
    /// Wraps `payload` with fresh metadata (a new id, the current time).
    pub fn new(payload: T) -> Self {
        Self {
            payload,
            metadata: MessageMetadata::new(),
        }
    }

    /// Wraps `payload` with the given metadata.
    pub fn with_metadata(payload: T, metadata: MessageMetadata) -> Self {
        Self { payload, metadata }
    }

    /// Transforms the payload and keeps the metadata (id, timestamps, correlation): the output of a pipe is the
    /// same message, moved on.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Message<U> {
        Message {
            payload: f(self.payload),
            metadata: self.metadata,
        }
    }

    /// Splits the message into payload and metadata.
    pub fn into_parts(self) -> (T, MessageMetadata) {
        (self.payload, self.metadata)
    }
}

/// What a pipeline knows about a message besides its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageMetadata {
    /// Unique per message: a UUID v7, so that ids sort by creation time.
    pub id: Uuid,
    /// When this message was created in this process.
    pub created_at: SystemTime,
    /// When the event happened, if the source knows (a Kafka record's timestamp, a column of a row). Event-time
    /// windows use it; `None` means "use processing time".
    pub event_time: Option<SystemTime>,
    /// The plugin or system the message came from, e.g. `"kafka:orders"`.
    pub source: Option<Cow<'static, str>>,
    /// Ties messages of one logical operation together across pipelines and systems.
    pub correlation_id: Option<String>,
    /// Key/value headers (Kafka headers, HTTP headers). Boxed and optional, since most messages have none.
    pub headers: Option<Box<Headers>>,
}

impl MessageMetadata {
    /// Fresh metadata: a new id and the current time, nothing else set.
    pub fn new() -> Self {
        Self {
            id: Uuid::now_v7(),
            created_at: SystemTime::now(),
            event_time: None,
            source: None,
            correlation_id: None,
            headers: None,
        }
    }

    /// Sets the source.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Cow<'static, str>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the event time.
    #[must_use]
    pub fn with_event_time(mut self, at: SystemTime) -> Self {
        self.event_time = Some(at);
        self
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// The headers, created empty on first use.
    pub fn headers_mut(&mut self) -> &mut Headers {
        self.headers.get_or_insert_with(Box::default)
    }

    /// The value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.as_ref().and_then(|h| h.get(name))
    }
}

/// Not derived: a `Default` that is computed fresh each call is still a fresh id, never a shared one.
impl Default for MessageMetadata {
    fn default() -> Self {
        Self::new()
    }
}

/// Ordered message headers; names may repeat (as in Kafka and HTTP), values are bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// Appends a header.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.entries.push((name.into(), value.into()));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// All headers in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_its_own_id() {
        let a = Message::new("a");
        let b = Message::new("b");
        assert_ne!(a.metadata.id, b.metadata.id);
        let c = MessageMetadata::default();
        let d = MessageMetadata::default();
        assert_ne!(c.id, d.id);
        assert!(b.metadata.created_at >= a.metadata.created_at);
    }

    #[test]
    fn map_keeps_metadata() {
        let a = Message::new(2).map(|x| x + 1);
        let id = a.metadata.id;
        let b = a.map(|x| x.to_string());
        assert_eq!(b.payload, "3");
        assert_eq!(b.metadata.id, id);
    }

    #[test]
    fn headers_are_optional_and_ordered() {
        let mut m = MessageMetadata::new();
        assert!(m.headers.is_none());
        m.headers_mut().insert("k", b"v1".to_vec());
        m.headers_mut().insert("k", b"v2".to_vec());
        assert_eq!(m.header("k"), Some(&b"v1"[..]));
        assert_eq!(m.headers.as_ref().map(|h| h.len()), Some(2));
    }
}
