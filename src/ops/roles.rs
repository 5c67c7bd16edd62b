//! Operations of `keyward roles` (being moved here from `cli/roles.rs`).
