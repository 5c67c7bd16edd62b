//! Operations of `keyward flags`: the definition and state verbs (`manage`),
//! each taking the [`Context`] and a request and returning a typed view.
//! Flags are defined once (name, description, bucketing group) and switched
//! per environment (`--env`); a flag never configured in an environment is
//! off there.
//!
//! [`Context`]: crate::context::Context

pub mod eval;
pub mod export;
pub mod manage;
