//! Signal processing: G.711, DTMF, tones, and the spandsp FFI wrapper.
