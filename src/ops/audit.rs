//! Operations of `keyward audit` (being moved here from `cli/audit.rs`).
