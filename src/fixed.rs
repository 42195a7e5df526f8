//! Fixed-capacity strings for the real-time path: numbers and digit buffers that move through
//! lock-free queues without touching the heap.

use std::fmt;

/// `write!` into a fixed string (no allocation): what does not fit is cut and marked truncated.
impl<const N: usize> fmt::Write for FixedStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for ch in s.chars() {
            if !self.push(ch) {
                break;
            }
        }
        Ok(())
    }
}

/// A string of at most `N` bytes stored inline. Input beyond `N` bytes is cut at a char boundary and
/// remembered as truncated, so a caller can tell "long number" from "short number".
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixedStr<const N: usize> {
    len: u8,
    truncated: bool,
    bytes: [u8; N],
}

impl<const N: usize> FixedStr<N> {
    const CAPACITY_FITS_U8: () = assert!(N <= 255, "FixedStr capacity must fit in a u8");

    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let _ = Self::CAPACITY_FITS_U8;
        Self {
            len: 0,
            truncated: false,
            bytes: [0; N],
        }
    }

    /// Copies `s`, cutting it at the last char boundary that fits.
    pub fn from_str_truncating(s: &str) -> Self {
        let mut out = Self::new();
        for ch in s.chars() {
            if !out.push(ch) {
                break;
            }
        }
        out
    }

    /// Appends one char; returns false (and marks the string truncated) when it does not fit.
    pub fn push(&mut self, ch: char) -> bool {
        let mut utf8 = [0u8; 4];
        let encoded = ch.encode_utf8(&mut utf8).as_bytes();
        let len = self.len as usize;
        if len + encoded.len() > N {
            self.truncated = true;
            return false;
        }
        self.bytes[len..len + encoded.len()].copy_from_slice(encoded);
        self.len += encoded.len() as u8;
        true
    }

    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 sequences are ever written, so this cannot fail.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A telephone number or caller name as signalled by the network (E.164 allows 15 digits; PRI and
/// our sim allow up to 32 characters including `*`, `#` and `+`).
pub type Number = FixedStr<32>;
/// A caller name (calling party name / CNAM), cut at 48 bytes.
pub type Name = FixedStr<48>;
/// A flow or state name in an event (names longer than 32 bytes are cut).
pub type Label = FixedStr<32>;
/// Every key a caller pressed in one call, in order; the call log keeps the first 64.
pub type DigitLog = FixedStr<64>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_at_capacity_and_says_so() {
        let s = FixedStr::<4>::from_str_truncating("12345");
        assert_eq!(s.as_str(), "1234");
        assert!(s.is_truncated());
        let t = FixedStr::<4>::from_str_truncating("12");
        assert!(!t.is_truncated());
    }

    #[test]
    fn never_splits_a_multibyte_char() {
        // "一" is three bytes: two of them fit in 5 bytes, the third char does not.
        let s = FixedStr::<5>::from_str_truncating("一二三");
        assert_eq!(s.as_str(), "一");
        assert!(s.is_truncated());
    }
}
