//! Operations of `keyward flags`: evaluating a flag for users and exporting
//! the environment's flags for applications.

pub mod eval;
pub mod export;
