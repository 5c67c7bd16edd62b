//! Access tokens: compact JWS (RFC 7515) JWTs (RFC 7519) signed with EdDSA
//! over Ed25519 (RFC 8037), published as a JWKS (RFC 7517).
//!
//! One algorithm only. The header is read for its `kid` and checked to say
//! exactly `EdDSA`; it never chooses how a signature is checked, so `alg:
//! none`, an HS256 token keyed with the public key, or any other algorithm is
//! refused before a key is looked up. Signatures are checked with
//! `ed25519-dalek`'s strict verification (no small-order keys, no malleable
//! signatures); base64url must be canonical and unpadded.

use crate::error::{Error, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The only algorithm keyward signs and accepts.
pub const ALG: &str = "EdDSA";

/// The longest `kid` a signing key can have (`signing_keys.kid`; keyward's
/// own are 43-character thumbprints).
pub const MAX_KID: usize = 64;

/// A new Ed25519 key: its 32-byte seed (secret) and public half.
pub struct KeyPair {
    /// The private seed.
    pub seed: Zeroizing<[u8; 32]>,
    /// The public key, base64url without padding (the JWK's `x`).
    pub public: String,
    /// The RFC 7638 thumbprint of the public JWK.
    pub kid: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("kid", &self.kid).finish()
    }
}

/// The public key (base64url, the JWK's `x`) of the key whose seed is `seed`.
pub fn public_of(seed: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(SigningKey::from_bytes(seed).verifying_key().as_bytes())
}

/// Makes a key pair from the OS random source.
pub fn generate() -> Result<KeyPair> {
    let seed = Zeroizing::new(super::random::bytes::<32>()?);
    let public = public_of(&seed);
    let kid = thumbprint(&public);
    Ok(KeyPair { seed, public, kid })
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key.
pub fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The claims of a keyward access token, in their order on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer (`auth.issuer`).
    pub iss: String,
    /// Subject: the username.
    pub sub: String,
    /// Audience (`auth.audience`), absent when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
    /// This token's id.
    pub jti: String,
    /// The session's id.
    pub sid: i64,
    /// The user's role names at login.
    pub roles: Vec<String>,
}

/// `aud`: one string, or (as RFC 7519 allows) several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` names `wanted`.
    pub fn names(&self, wanted: &str) -> bool {
        match self {
            Audience::One(a) => a == wanted,
            Audience::Many(v) => v.iter().any(|a| a == wanted),
        }
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// Signs `claims` with the key whose seed is `seed`, naming `kid` in the header.
pub fn sign(seed: &[u8; 32], kid: &str, claims: &Claims) -> Result<Zeroizing<String>> {
    let header = serde_json::to_vec(&Header {
        alg: ALG,
        typ: "JWT",
        kid,
    })
    .map_err(Error::internal)?;
    let payload = serde_json::to_vec(claims).map_err(Error::internal)?;
    let mut token = Zeroizing::new(URL_SAFE_NO_PAD.encode(header));
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let signature = SigningKey::from_bytes(seed).sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
    Ok(token)
}

/// Why a token was refused before its claims were looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a compact JWS with a JSON header and JSON object payload.
    Malformed,
    /// `alg` is not `EdDSA`, or the signature does not verify.
    BadSignature,
    /// No published key has the header's `kid`.
    UnknownKey,
}

/// A token taken apart, its signature not checked yet.
#[derive(Debug)]
pub struct Parsed<'a> {
    /// The header's `kid`.
    pub kid: String,
    signing_input: &'a str,
    signature: [u8; 64],
    payload: Vec<u8>,
}

#[derive(Deserialize)]
struct ReadHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Takes a compact JWS apart: three canonical base64url parts, a JSON header
/// naming `alg` `EdDSA` and a `kid`, a JSON object payload, a 64-byte signature.
pub fn parse(token: &str) -> std::result::Result<Parsed<'_>, Refusal> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| Refusal::Malformed);
    let header: ReadHeader = serde_json::from_slice(&decode(h)?).map_err(|_| Refusal::Malformed)?;
    let payload = decode(p)?;
    if !serde_json::from_slice::<serde_json::Value>(&payload).is_ok_and(|v| v.is_object()) {
        return Err(Refusal::Malformed);
    }
    let signature = decode(s)?;
    // The algorithm is fixed: anything else is not a signature keyward made.
    if header.alg != ALG || header.crit.is_some() {
        return Err(Refusal::BadSignature);
    }
    let kid = header.kid.ok_or(Refusal::UnknownKey)?;
    // No stored key has such a kid (the column holds 1 to 64 characters);
    // it is not looked up (PostgreSQL refuses a NUL in a query parameter).
    if kid.is_empty() || kid.chars().count() > MAX_KID || kid.chars().any(char::is_control) {
        return Err(Refusal::UnknownKey);
    }
    let signature: [u8; 64] = signature.try_into().map_err(|_| Refusal::BadSignature)?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(Parsed {
        kid,
        signing_input,
        signature,
        payload,
    })
}

impl Parsed<'_> {
    /// Checks the signature with the public key `x` (base64url) and returns
    /// the claims. A stored key that is not an Ed25519 point is an integrity error.
    pub fn verify(&self, x: &str) -> Result<std::result::Result<Claims, Refusal>> {
        let damaged = |what: &str| {
            Error::integrity(format!(
                "signing key {}: its public key is not {what}: restore the signing_keys \
                 table from a backup (`keyward sessions rotate-signing-key` makes a new \
                 signer, but what this key signed cannot be verified)",
                self.kid
            ))
        };
        let key: [u8; 32] = URL_SAFE_NO_PAD
            .decode(x)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| damaged("32 bytes of base64url"))?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| damaged("an Ed25519 point"))?;
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        if key
            .verify_strict(self.signing_input.as_bytes(), &signature)
            .is_err()
        {
            return Ok(Err(Refusal::BadSignature));
        }
        Ok(serde_json::from_slice(&self.payload).map_err(|_| Refusal::Malformed))
    }
}

/// One public key as a JWK (RFC 7517, OKP per RFC 8037).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// The key id.
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

impl Jwk {
    /// The JWK of an Ed25519 public key.
    pub fn ed25519(kid: &str, x: &str) -> Self {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: x.into(),
            kid: kid.into(),
            alg: ALG.into(),
            use_: "sig".into(),
        }
    }
}

/// A JWK Set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: "keyward".into(),
            sub: "alice".into(),
            aud: None,
            iat: 1_900_000_000,
            nbf: 1_900_000_000,
            exp: 1_900_000_900,
            jti: "j1".into(),
            sid: 7,
            roles: vec!["admin".into()],
        }
    }

    #[test]
    fn rfc8037_thumbprint() {
        // RFC 8037 appendix A.3.
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn rfc8037_signature() {
        // RFC 8037 appendix A.4: the same key and payload give the same JWS.
        let seed = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap();
        let seed: [u8; 32] = seed.try_into().unwrap();
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        let sig = SigningKey::from_bytes(&seed).sign(input.as_bytes());
        assert_eq!(
            URL_SAFE_NO_PAD.encode(sig.to_bytes()),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
    }

    #[test]
    fn signs_and_verifies_and_refuses_tampering() {
        let k = generate().unwrap();
        let t = sign(&k.seed, &k.kid, &claims()).unwrap();
        let p = parse(&t).unwrap();
        assert_eq!(p.kid, k.kid);
        assert_eq!(p.verify(&k.public).unwrap(), Ok(claims()));
        // Another key's public half: bad signature.
        let other = generate().unwrap();
        assert_eq!(p.verify(&other.public).unwrap(), Err(Refusal::BadSignature));
        // A changed payload.
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let mut c = claims();
        c.sub = "mallory".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        let forged = parts.join(".");
        assert_eq!(
            parse(&forged).unwrap().verify(&k.public).unwrap(),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn other_algorithms_and_shapes_are_refused() {
        let enc = |v: &str| URL_SAFE_NO_PAD.encode(v);
        let body = enc(r#"{"sub":"a"}"#);
        let none = format!("{}.{body}.", enc(r#"{"alg":"none","kid":"k"}"#));
        assert_eq!(parse(&none).unwrap_err(), Refusal::BadSignature);
        let hs = format!(
            "{}.{body}.{}",
            enc(r#"{"alg":"HS256","kid":"k"}"#),
            enc("x")
        );
        assert_eq!(parse(&hs).unwrap_err(), Refusal::BadSignature);
        let no_kid = format!(
            "{}.{body}.{}",
            enc(r#"{"alg":"EdDSA"}"#),
            enc(&"x".repeat(64))
        );
        assert_eq!(parse(&no_kid).unwrap_err(), Refusal::UnknownKey);
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            &format!("{}.{body}.x=", enc("{}")),
        ] {
            assert_eq!(parse(bad).unwrap_err(), Refusal::Malformed, "{bad}");
        }
        let not_object = format!(
            "{}.{}.{}",
            enc(r#"{"alg":"EdDSA","kid":"k"}"#),
            enc("[1]"),
            enc("x")
        );
        assert_eq!(parse(&not_object).unwrap_err(), Refusal::Malformed);
    }
}
