//! Operations of `keyward settings` (being moved here from `cli/settings.rs`).
