//! The chunk channel between two stages: items travel in chunks, each item with its weight in the ledger and,
//! when the source gives positions, its acknowledgement tag.
//!
//! A channel holds at most `buffer_size` items, in chunks of at most `min(chunk_size, buffer_size)` items. Its
//! `depth` counts the ledger weight waiting in it (for the queue gauge, and for the ledger of an aborted run).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::mpsc;

use super::acks::{AckTracker, Tag};

/// What one item in flight stands for: its weight in the ledger (source items and expansions it carries; a
/// batch weighs its items) and its acknowledgement tag (only when the source gives positions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemMeta {
    pub(crate) weight: u64,
    pub(crate) tag: Option<Tag>,
}

impl ItemMeta {
    /// One source item with `tag`.
    pub(crate) fn one(tag: Option<Tag>) -> Self {
        Self { weight: 1, tag }
    }
}

/// The per-item bookkeeping of a chunk, kept beside the items so that the common case costs nothing: every
/// weight 1 (`weights` empty) and no tags (`tags` empty). Otherwise each vector is parallel to the items.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    weights: Vec<u64>,
    tags: Vec<Tag>,
}

impl Meta {
    /// The bookkeeping of `len` items of weight 1 without tags.
    pub(crate) const fn uniform() -> Self {
        Self {
            weights: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// Appends one item's bookkeeping; `len` is the number of items before it.
    #[inline]
    pub(crate) fn push(&mut self, len: usize, meta: ItemMeta) {
        if !self.weights.is_empty() {
            self.weights.push(meta.weight);
        } else if meta.weight != 1 {
            self.weights.resize(len, 1);
            self.weights.push(meta.weight);
        }
        if let Some(tag) = meta.tag {
            self.tags.push(tag);
        }
    }

    /// Makes room for the bookkeeping of `n` more items (tags, when the items carry them).
    fn reserve(&mut self, n: usize) {
        if !self.tags.is_empty() {
            self.tags.reserve(n);
        }
    }

    /// Appends the bookkeeping `other` of `len_other` items after `len` items.
    pub(crate) fn append(&mut self, len: usize, len_other: usize, mut other: Self) {
        if !self.weights.is_empty() || !other.weights.is_empty() {
            self.weights.resize(len, 1);
            if other.weights.is_empty() {
                other.weights.resize(len_other, 1);
            }
            self.weights.append(&mut other.weights);
        }
        self.tags.append(&mut other.tags);
    }

    /// Splits off the bookkeeping of the items from `at` on.
    pub(crate) fn split_off(&mut self, at: usize) -> Self {
        Self {
            weights: if self.weights.is_empty() {
                Vec::new()
            } else {
                self.weights.split_off(at)
            },
            tags: if self.tags.is_empty() {
                Vec::new()
            } else {
                self.tags.split_off(at)
            },
        }
    }

    /// The bookkeeping of every item, in order (`len` items).
    pub(crate) fn into_items(self, len: usize) -> MetaIter {
        MetaIter {
            weights: self.weights.into_iter(),
            tags: self.tags.into_iter(),
            left: len,
        }
    }

    /// The total weight of `len` items.
    pub(crate) fn weight(&self, len: usize) -> u64 {
        if self.weights.is_empty() {
            len as u64
        } else {
            self.weights.iter().sum()
        }
    }

    /// Whether the items carry acknowledgement tags.
    pub(crate) fn tracked(&self) -> bool {
        !self.tags.is_empty()
    }

    /// The tags.
    pub(crate) fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

/// The bookkeeping of the items of a chunk, one [`ItemMeta`] per item.
#[derive(Debug)]
pub(crate) struct MetaIter {
    weights: std::vec::IntoIter<u64>,
    tags: std::vec::IntoIter<Tag>,
    left: usize,
}

impl Iterator for MetaIter {
    type Item = ItemMeta;
    #[inline]
    fn next(&mut self) -> Option<ItemMeta> {
        self.left = self.left.checked_sub(1)?;
        Some(ItemMeta {
            weight: self.weights.next().unwrap_or(1),
            tag: self.tags.next(),
        })
    }
}

impl MetaIter {
    /// The total weight of the items not yet taken, and their tags (for items that will never be processed).
    pub(crate) fn rest(self) -> (u64, Vec<Tag>) {
        let weight = if self.weights.len() == 0 {
            self.left as u64
        } else {
            self.weights.sum()
        };
        (weight, self.tags.collect())
    }
}

/// A group of items travelling together between two stages.
#[derive(Debug)]
pub(crate) struct Chunk<T> {
    pub(crate) items: Vec<T>,
    pub(crate) meta: Meta,
}

impl<T> Chunk<T> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            items: Vec::with_capacity(n),
            meta: Meta::uniform(),
        }
    }
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// The chunk's weight in the ledger.
    pub(crate) fn weight(&self) -> u64 {
        self.meta.weight(self.items.len())
    }
    #[inline]
    pub(crate) fn push(&mut self, item: T, meta: ItemMeta) {
        self.meta.push(self.items.len(), meta);
        self.items.push(item);
    }
    /// Takes the items out, leaving an empty chunk with room for `cap` items.
    pub(crate) fn take(&mut self, cap: usize) -> Self {
        std::mem::replace(self, Self::with_capacity(cap))
    }
    /// Splits off the first `n` items (and their bookkeeping) as a chunk of their own.
    pub(crate) fn split_front(&mut self, n: usize) -> Self {
        let n = n.min(self.items.len());
        let rest_items = self.items.split_off(n);
        let rest_meta = self.meta.split_off(n);
        Self {
            items: std::mem::replace(&mut self.items, rest_items),
            meta: std::mem::replace(&mut self.meta, rest_meta),
        }
    }
    /// Makes room for `n` more items.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.items.reserve(n);
        self.meta.reserve(n);
    }
    /// Moves the items of `other` (and their bookkeeping) to the end of this chunk.
    pub(crate) fn append(&mut self, mut other: Self) {
        let len = self.items.len();
        self.meta.append(len, other.items.len(), other.meta);
        self.items.append(&mut other.items);
    }
    /// Items with their bookkeeping.
    pub(crate) fn into_pairs(self) -> impl Iterator<Item = (T, ItemMeta)> {
        let len = self.items.len();
        self.items.into_iter().zip(self.meta.into_items(len))
    }
    /// Gives up the whole chunk: its weight, and its tags (never acknowledged).
    pub(crate) fn abandon(self) -> u64 {
        self.weight()
    }
    /// Items `before..` were pushed as the outputs of one input with bookkeeping `meta`: gives them their
    /// weights and tags. Returns how the input ended: `filtered` (no output) or the weight the outputs added
    /// beyond the input's (`expanded`).
    ///
    /// Weights split as evenly as the outputs allow, so un-batching a batch of 100 into 100 items adds
    /// nothing; outputs beyond the input's weight are expansions (a flat-map that makes 3 items of 1 adds 2).
    #[inline]
    pub(crate) fn settle_outputs(
        &mut self,
        before: usize,
        meta: ItemMeta,
        tracker: Option<&AckTracker>,
    ) -> Settled {
        let n = self.items.len() - before;
        match n {
            0 => Settled::Filtered(meta),
            1 => {
                self.meta.push(before, meta);
                Settled::Passed { expanded: 0 }
            }
            n => {
                let n64 = n as u64;
                if let (Some(t), Some(tag)) = (tracker, &meta.tag) {
                    t.retain(tag, u32::try_from(n - 1).unwrap_or(u32::MAX));
                }
                let (share, extra, expanded) = if meta.weight >= n64 {
                    (meta.weight / n64, meta.weight % n64, 0)
                } else {
                    (1, 0, n64 - meta.weight)
                };
                for i in 0..n {
                    let weight = if i == 0 { share + extra } else { share };
                    self.meta.push(
                        before + i,
                        ItemMeta {
                            weight,
                            tag: meta.tag.clone(),
                        },
                    );
                }
                Settled::Passed { expanded }
            }
        }
    }
}

/// How one input of a pipe ended; see [`Chunk::settle_outputs`].
#[derive(Debug)]
pub(crate) enum Settled {
    /// No output: the input was filtered out (its bookkeeping, to count and acknowledge).
    Filtered(ItemMeta),
    /// One or more outputs, `expanded` weight beyond the input's.
    Passed { expanded: u64 },
}

/// The sending half of a chunked channel between two stages.
pub struct ChunkTx<T> {
    inner: mpsc::Sender<Chunk<T>>,
    depth: Arc<AtomicI64>,
    max: usize,
}

impl<T> fmt::Debug for ChunkTx<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkTx").field("max", &self.max).finish()
    }
}

impl<T> Clone for ChunkTx<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            depth: Arc::clone(&self.depth),
            max: self.max,
        }
    }
}

impl<T> ChunkTx<T> {
    /// Most items per chunk on this channel.
    pub(crate) fn chunk_max(&self) -> usize {
        self.max
    }

    /// Most items the channel holds (in full chunks).
    pub(crate) fn items_max(&self) -> usize {
        self.max * self.inner.max_capacity()
    }

    /// Sends a chunk; gives it back when the receiver is gone (its stage stopped). Empty chunks are not sent.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a dropped send loses the chunk. Stages await it to completion.
    pub(crate) async fn send(&self, chunk: Chunk<T>) -> Result<(), Chunk<T>> {
        if chunk.is_empty() {
            return Ok(());
        }
        let w = i64::try_from(chunk.weight()).unwrap_or(i64::MAX);
        self.depth.fetch_add(w, Ordering::Relaxed);
        match self.inner.send(chunk).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendError(chunk)) => {
                self.depth.fetch_sub(w, Ordering::Relaxed);
                Err(chunk)
            }
        }
    }
}

/// The receiving half of a chunked channel between two stages.
pub struct ChunkRx<T> {
    inner: mpsc::Receiver<Chunk<T>>,
    depth: Arc<AtomicI64>,
}

impl<T> fmt::Debug for ChunkRx<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkRx").finish_non_exhaustive()
    }
}

impl<T> ChunkRx<T> {
    fn took(&self, c: Option<Chunk<T>>) -> Option<Chunk<T>> {
        if let Some(c) = &c {
            let w = i64::try_from(c.weight()).unwrap_or(i64::MAX);
            self.depth.fetch_sub(w, Ordering::Relaxed);
        }
        c
    }
    /// The next chunk; `None` once every sender is gone and the channel is empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as `tokio::sync::mpsc::Receiver::recv`.
    pub(crate) async fn recv(&mut self) -> Option<Chunk<T>> {
        let c = self.inner.recv().await;
        self.took(c)
    }
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Chunk<T>>> {
        self.inner.poll_recv(cx).map(|c| self.took(c))
    }
    pub(crate) fn try_recv(&mut self) -> Option<Chunk<T>> {
        let c = self.inner.try_recv().ok();
        self.took(c)
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
    /// How many chunks wait in the channel.
    pub(crate) fn waiting(&self) -> usize {
        self.inner.len()
    }
    /// The weight waiting in the channel, shared with the queue gauge.
    pub(crate) fn depth(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.depth)
    }
    /// Refuses further chunks and takes every one queued, also those of senders that were sending when it
    /// closed (Tokio lets a sender that holds a permit deliver after `close`): a stage that stops gives them up,
    /// none is left uncounted in the channel (later senders get theirs back). Returns their total weight.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: what was taken before the future was dropped is lost to the count.
    pub(crate) async fn close_and_receive_all(&mut self) -> u64 {
        self.inner.close();
        let mut weight = 0;
        while let Some(c) = self.recv().await {
            weight += c.abandon();
        }
        weight
    }

    /// As [`close_and_receive_all`](Self::close_and_receive_all), without waiting for senders in the middle of
    /// a send (for `Drop`).
    pub(crate) fn close_and_drain(&mut self) -> u64 {
        self.inner.close();
        let mut weight = 0;
        while let Some(c) = self.try_recv() {
            weight += c.abandon();
        }
        weight
    }
}

/// A channel that holds at most `buffer` items, in chunks of at most `min(chunk, buffer)` items.
pub(crate) fn channel<T>(buffer: usize, chunk: usize) -> (ChunkTx<T>, ChunkRx<T>) {
    let max = chunk.min(buffer).max(1);
    let cap = (buffer / max).max(1);
    let (tx, rx) = mpsc::channel(cap);
    let depth = Arc::new(AtomicI64::new(0));
    (
        ChunkTx {
            inner: tx,
            depth: Arc::clone(&depth),
            max,
        },
        ChunkRx { inner: rx, depth },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heavy_first_item_is_counted() {
        let mut c = Chunk::with_capacity(2);
        c.push(
            'a',
            ItemMeta {
                weight: 2,
                tag: None,
            },
        );
        c.push('b', ItemMeta::one(None));
        assert_eq!(c.weight(), 3);
    }

    #[test]
    fn uniform_chunks_keep_no_bookkeeping() {
        let mut c = Chunk::with_capacity(4);
        for i in 0..4 {
            c.push(i, ItemMeta::one(None));
        }
        assert_eq!(c.meta, Meta::uniform());
        assert_eq!(c.weight(), 4);
        c.push(
            9,
            ItemMeta {
                weight: 5,
                tag: None,
            },
        );
        assert_eq!(c.weight(), 9);
        let metas: Vec<u64> = c.into_pairs().map(|(_, m)| m.weight).collect();
        assert_eq!(metas, [1, 1, 1, 1, 5]);
    }

    #[test]
    fn outputs_split_weights_and_count_expansions() {
        let mut c: Chunk<u32> = Chunk::with_capacity(8);
        c.items.extend([1, 2, 3]);
        let s = c.settle_outputs(0, ItemMeta::one(None), None);
        assert!(matches!(s, Settled::Passed { expanded: 2 }));
        assert_eq!(c.weight(), 3);
        let before = c.len();
        c.items.extend([4, 5]);
        let s = c.settle_outputs(
            before,
            ItemMeta {
                weight: 5,
                tag: None,
            },
            None,
        );
        assert!(matches!(s, Settled::Passed { expanded: 0 }));
        assert_eq!(c.weight(), 8);
        let s = c.settle_outputs(c.len(), ItemMeta::one(None), None);
        assert!(matches!(s, Settled::Filtered(_)));
    }

    #[test]
    fn rest_of_an_iteration_keeps_weight_and_tags() {
        let mut meta = Meta::uniform();
        meta.push(0, ItemMeta::one(Some(Tag::One(0))));
        meta.push(
            1,
            ItemMeta {
                weight: 3,
                tag: Some(Tag::One(1)),
            },
        );
        meta.push(2, ItemMeta::one(Some(Tag::One(2))));
        let mut it = meta.into_items(3);
        assert_eq!(it.next().map(|m| m.weight), Some(1));
        let (w, tags) = it.rest();
        assert_eq!(w, 4);
        assert_eq!(tags, [Tag::One(1), Tag::One(2)]);
    }
}
