//! Operations of `keyward db` (being moved here from `cli/db.rs`).
