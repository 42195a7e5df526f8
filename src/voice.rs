//! Prompt sets: 8 kHz mono WAVs, memory-mapped once and shared by every channel.
