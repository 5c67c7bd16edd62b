//! Operations of `keyward users` (being moved here from `cli/users.rs`).
