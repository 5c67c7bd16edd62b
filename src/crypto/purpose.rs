//! Key purposes: what a key or a sealed value is for.
//!
//! Every envelope keyward seals names its purpose in its associated data
//! (`setting:<env>:<key>`, `totp:<username>`, `keycheck:<kid>`,
//! `signing:<kid>`), so a ciphertext moved to another row or another purpose
//! fails to open. Envelopes are sealed with the key itself (the SPEC's `kw1`
//! format), told apart by that associated data; raw key material for any other
//! use (a MAC, a signature seed) is derived per purpose from the active key
//! (`Keyring::derive`), so a new purpose never reuses the encryption key's
//! bytes directly. `db rotate-key` re-seals every sealed column by purpose
//! (`domain::keys::SEALED`). This file is the one home of those formats.

use std::fmt;

/// What a key, or a value sealed under one, is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Secret setting values (`settings.value`).
    SettingValue,
    /// TOTP secrets (`users.totp_secret`).
    TotpSecret,
    /// The key check values (`key_checks`), proving which key a database uses.
    KeyCheck,
    /// Private token-signing keys kept in the database.
    TokenSigning,
}

impl Purpose {
    /// The label used in associated data and in key derivation.
    pub fn label(self) -> &'static str {
        match self {
            Purpose::SettingValue => "setting",
            Purpose::TotpSecret => "totp",
            Purpose::KeyCheck => "keycheck",
            Purpose::TokenSigning => "signing",
        }
    }
}

/// The associated data binding one sealed value to its row and purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aad<'a> {
    /// A secret setting: `setting:<environment>:<key>`.
    Setting {
        /// The setting's environment.
        environment: &'a str,
        /// The setting's key.
        key: &'a str,
    },
    /// A user's TOTP secret: `totp:<username>`.
    Totp {
        /// The user.
        username: &'a str,
    },
    /// A key check value: `keycheck:<kid>`.
    KeyCheck {
        /// The id of the key it checks.
        kid: &'a str,
    },
    /// A private signing key: `signing:<kid>`.
    Signing {
        /// The signing key's id.
        kid: &'a str,
    },
}

impl Aad<'_> {
    /// The purpose this associated data belongs to.
    pub fn purpose(&self) -> Purpose {
        match self {
            Aad::Setting { .. } => Purpose::SettingValue,
            Aad::Totp { .. } => Purpose::TotpSecret,
            Aad::KeyCheck { .. } => Purpose::KeyCheck,
            Aad::Signing { .. } => Purpose::TokenSigning,
        }
    }
}

impl fmt::Display for Aad<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = self.purpose().label();
        match self {
            Aad::Setting { environment, key } => write!(f, "{label}:{environment}:{key}"),
            Aad::Totp { username } => write!(f, "{label}:{username}"),
            Aad::KeyCheck { kid } | Aad::Signing { kid } => write!(f, "{label}:{kid}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_the_specs() {
        let setting = Aad::Setting {
            environment: "production",
            key: "smtp.password",
        };
        assert_eq!(setting.to_string(), "setting:production:smtp.password");
        assert_eq!(Aad::Totp { username: "bob" }.to_string(), "totp:bob");
        assert_eq!(
            Aad::KeyCheck { kid: "ab12cd34" }.to_string(),
            "keycheck:ab12cd34"
        );
        assert_eq!(Aad::Signing { kid: "k1" }.to_string(), "signing:k1");
    }
}
