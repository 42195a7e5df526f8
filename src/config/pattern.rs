//! Asterisk-style number patterns.
