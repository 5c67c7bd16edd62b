//! `apikeys`: the operations. `manage` creates, lists, shows, revokes and
//! rotates keys; `verify` checks a presented key (offline first, then in one
//! short unaudited write that records its use or failure and counts its rate
//! window); `scan` finds keys and refresh tokens in text.

pub mod manage;
pub mod scan;
pub mod verify;
