//! Bureau's journal: runs and steps behind a trait, SQLite by default.
