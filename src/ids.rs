//! Row ids as types: a `UserId` cannot be passed where a `RoleId` is meant.
//!
//! Each is a transparent `i64` in JSON and in the database; repositories
//! read them with [`crate::store::Row::int`] and wrap them at once.

use crate::store::Value;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
            #[serde(transparent)]
            pub struct $name(pub i64);

            impl $name {
                /// The raw row id.
                pub fn get(self) -> i64 {
                    self.0
                }
            }

            impl fmt::Display for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    self.0.fmt(f)
                }
            }

            impl From<$name> for Value {
                fn from(id: $name) -> Value {
                    Value::Int(id.0)
                }
            }
        )*
    };
}

ids! {
    /// A row of `users`.
    UserId;
    /// A row of `roles`.
    RoleId;
    /// A row of `permissions`.
    PermissionId;
    /// A row of `settings`.
    SettingId;
    /// An entry of `audit_events` (also its position in the chain).
    AuditId;
    /// A row of `sessions`.
    SessionId;
    /// A row of `feature_flags`.
    FlagId;
    /// A row of `api_keys`.
    ApiKeyId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_numbers_outside() {
        assert_eq!(serde_json::to_string(&UserId(7)).unwrap(), "7");
        assert_eq!(Value::from(RoleId(3)), Value::Int(3));
        assert_eq!(SettingId(12).to_string(), "12");
    }
}
