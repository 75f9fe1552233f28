//! Where the four bytes a plain CSV row stops at (the delimiter, the quote, `\n`, `\r`) are, sixteen bytes at a
//! time, as bits: the row splitter ([`super::read`]) walks a row from mark to mark instead of searching for the
//! end of each field.
//!
//! Why: with a search per field (eight bytes at a time in a `u64`, whose first-match marks need no fix-up but
//! whose start and end cost on every short field), framing a row of the orders bench cost about 670
//! instructions; with sixteen exact marks a block from SSE2 it costs about 540 (callgrind, issue 18). Targets
//! without SSE2 get the marks from eight-bytes-a-word arithmetic, made exact (tested against SSE2 here).

/// The bytes to mark: one to four of them (repeats are allowed).
#[derive(Debug, Clone, Copy)]
pub(super) struct Stops([u8; 4]);

impl Stops {
    /// Marks `delimiter`, `quote`, `\n` and `\r`.
    pub(super) const fn new(delimiter: u8, quote: u8) -> Self {
        Self([delimiter, quote, b'\n', b'\r'])
    }

    /// The marks of `block`: bit `i` is set when `block[i]` is one of the stops.
    #[inline]
    pub(super) fn block(&self, block: &[u8; 16]) -> u32 {
        #[cfg(target_arch = "x86_64")]
        {
            self.block_sse2(block)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self.block_words(block)
        }
    }

    /// The marks of `block`, with SSE2 (part of every x86_64 processor).
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[allow(unsafe_code)]
    fn block_sse2(&self, block: &[u8; 16]) -> u32 {
        #[target_feature(enable = "sse2")]
        fn marks(block: &[u8; 16], stops: [u8; 4]) -> u32 {
            use std::arch::x86_64::{
                _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x, _mm_set1_epi8,
            };
            let half = |eight: &[u8]| {
                let mut word = [0; 8];
                word.copy_from_slice(eight);
                i64::from_le_bytes(word)
            };
            // Two halves, not an unaligned load from a pointer: no `unsafe` here, for two more instructions.
            let x = _mm_set_epi64x(half(&block[8..]), half(&block[..8]));
            let equal = |stop: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(stop.cast_signed()));
            let any = _mm_or_si128(
                _mm_or_si128(equal(stops[0]), equal(stops[1])),
                _mm_or_si128(equal(stops[2]), equal(stops[3])),
            );
            // Sixteen bits, one per byte: the cast keeps them (the upper half of the `i32` is zero).
            _mm_movemask_epi8(any).cast_unsigned()
        }
        // SAFETY: `marks` needs SSE2, which every x86_64 processor has (it is in the target's baseline:
        // `cfg(target_feature = "sse2")` holds for every x86_64 target Rust supports).
        unsafe { marks(block, self.0) }
    }

    /// The marks of `block`, eight bytes at a time in a `u64`: exact, unlike [`crate::word`]'s first-match
    /// marks (a byte equal to a stop is a zero byte of `x ^ stop`; a zero byte is one whose low seven bits
    /// carry nothing into its high bit when 0x7f is added, and whose high bit is clear).
    #[cfg_attr(
        target_arch = "x86_64",
        allow(dead_code, reason = "the fallback, tested against SSE2 here")
    )]
    fn block_words(&self, block: &[u8; 16]) -> u32 {
        const LOWS: u64 = u64::from_le_bytes([0x7f; 8]);
        let word = |eight: &[u8]| {
            let x = crate::word::load(eight);
            let mut zero = 0;
            for stop in self.0 {
                let y = x ^ crate::word::splat(stop);
                zero |= !(((y & LOWS) + LOWS) | y | LOWS);
            }
            // The high bit of each byte, gathered into the word's low eight bits in byte order.
            ((zero >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
        };
        word(&block[..8]) | word(&block[8..]) << 8
    }
}

/// The marks of a row's text, read block by block as the splitter asks for them.
pub(super) struct Marks<'a> {
    data: &'a [u8],
    stops: Stops,
    /// Where the current block starts in `data`.
    base: usize,
    /// The current block's marks not yet passed.
    bits: u32,
    /// The current block's length (16, or less for the last bytes of `data`).
    len: usize,
}

impl<'a> Marks<'a> {
    /// The marks of `data`.
    pub(super) fn new(data: &'a [u8], stops: Stops) -> Self {
        Self {
            data,
            stops,
            base: 0,
            bits: 0,
            len: 0,
        }
    }

    /// The place of the first stop at or after `from`, or `None` when `data` has none there. Cheapest when
    /// each `from` is past the place returned before it (as the splitter asks): the block is then read once.
    #[inline]
    pub(super) fn next_from(&mut self, mut from: usize) -> Option<usize> {
        loop {
            if let Some(offset) = from.checked_sub(self.base).filter(|&i| i < self.len) {
                let left = self.bits & (u32::MAX << offset);
                if left != 0 {
                    return Some(self.base + left.trailing_zeros() as usize);
                }
                from = self.base + self.len;
            }
            // The block that starts at `from`.
            self.base = from;
            (self.bits, self.len) = (0, 0);
            let rest = self.data.get(self.base..)?;
            if let Some(block) = rest.first_chunk::<16>() {
                self.bits = self.stops.block(block);
                self.len = 16;
            } else if rest.is_empty() {
                return None;
            } else {
                // The last bytes: padded, and the padding's marks cut off.
                let mut block = [0; 16];
                block[..rest.len()].copy_from_slice(rest);
                self.len = rest.len();
                self.bits = self.stops.block(&block) & ((1 << self.len) - 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The marks by definition: a byte at a time.
    fn by_byte(block: &[u8; 16], stops: Stops) -> u32 {
        (0..16).fold(0, |marks, i| {
            marks | u32::from(stops.0.contains(&block[i])) << i
        })
    }

    #[test]
    fn every_byte_is_marked_at_every_place_beside_every_neighbour() {
        let stops = Stops::new(b';', b'\'');
        for at in 0..16 {
            for b in 0..=255u8 {
                for neighbour in [0x00u8, 0x01, b'\n', 0x7f, 0x80, 0xff, b';'] {
                    let mut block = [neighbour; 16];
                    block[at] = b;
                    let want = by_byte(&block, stops);
                    assert_eq!(stops.block(&block), want, "{block:?}");
                    assert_eq!(stops.block_words(&block), want, "{block:?}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn both_ways_mark_what_a_byte_at_a_time_marks(
            block in proptest::array::uniform16(proptest::sample::select(b",;\"'\n\r\x00\x7f\x80\xffa".to_vec())),
            delimiter in proptest::sample::select(b",;\t\x00\xff".to_vec()),
            quote in proptest::sample::select(b"\"'\x80".to_vec()),
        ) {
            let stops = Stops::new(delimiter, quote);
            let want = by_byte(&block, stops);
            proptest::prop_assert_eq!(stops.block(&block), want);
            proptest::prop_assert_eq!(stops.block_words(&block), want);
        }

        #[test]
        fn next_from_finds_the_first_stop_at_or_after_any_place(
            data in proptest::collection::vec(proptest::sample::select(b",\"\n\raaaaaa".to_vec()), 0..80),
            steps in proptest::collection::vec(-20isize..20, 0..30),
        ) {
            let stops = Stops::new(b',', b'"');
            let mut marks = Marks::new(&data, stops);
            let mut from = 0;
            for step in steps {
                let want = data.iter().skip(from).position(|b| stops.0.contains(b)).map(|i| from + i);
                proptest::prop_assert_eq!(marks.next_from(from), want);
                from = from.saturating_add_signed(step);
            }
        }
    }
}
