//! Eight bytes at a time in a `u64`: what the JSON writer uses to find the few bytes it escapes, where a call of
//! `memchr` on short strings costs more than it saves (and the CSV splitter's marks where SSE2 is missing).
//!
//! `(x - 0x01…01 * n) & !x & 0x80…80` marks the bytes of `x` below `n` (for `n` up to 0x80), in their high bit;
//! a byte equal to `c` is a zero byte of `x ^ (0x01…01 * c)`, that is below 1. A byte's borrow may also mark a
//! byte above it, never one below, so the lowest mark is always a true one.

/// `0x01` in every byte.
const ONES: u64 = u64::from_le_bytes([1; 8]);

/// `0x80` in every byte.
const HIGHS: u64 = ONES * 0x80;

/// The bytes of `x` below `n`, marked in their high bit (see the [module docs](self); exact for the lowest).
#[inline]
pub(crate) const fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * n as u64) & !x & HIGHS
}

/// `byte` in every byte of a word.
#[inline]
pub(crate) const fn splat(byte: u8) -> u64 {
    ONES * byte as u64
}

/// The bytes of `x` equal to the byte `splat` holds in every byte, marked as [`below`] marks.
#[inline]
pub(crate) const fn equal_splat(x: u64, splat: u64) -> u64 {
    below(x ^ splat, 1)
}

/// The bytes of `x` equal to `byte`, marked as [`below`] marks.
#[inline]
pub(crate) const fn equal(x: u64, byte: u8) -> u64 {
    equal_splat(x, splat(byte))
}

/// Eight bytes as a little-endian word: the first byte is the lowest.
#[inline]
pub(crate) fn load(eight: &[u8]) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&eight[..8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index of the lowest byte marked in `marks`.
    const fn first(marks: u64) -> usize {
        (marks.trailing_zeros() / 8) as usize
    }

    #[test]
    fn marks_find_the_first_match_at_every_place_beside_every_byte() {
        for at in 0..8 {
            for b in 0..=255u8 {
                for neighbour in [0x00u8, 0x01, 0x20, 0x7f, 0x80, 0xff] {
                    let mut bytes = [neighbour; 8];
                    bytes[at] = b;
                    let x = load(&bytes);
                    let want = bytes.iter().position(|&c| c == b);
                    assert_eq!((equal(x, b) != 0).then(|| first(equal(x, b))), want);
                    let want = bytes.iter().position(|&c| c < 0x20);
                    let got = (below(x, 0x20) != 0).then(|| first(below(x, 0x20)));
                    assert_eq!(got, want, "{bytes:?}");
                }
            }
        }
    }
}
