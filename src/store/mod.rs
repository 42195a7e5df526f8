//! The SQLite call log, owned by one store thread (DESIGN.md §6).
