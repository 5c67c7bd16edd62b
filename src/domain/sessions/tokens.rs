//! Issuing, refreshing and verifying a session's tokens, inside the caller's
//! transaction: the rules of `sessions login`, `refresh` and `verify` once.

use super::repo::{self, NewSession, Rotation};
use super::{signing, RevokeReason, Session, Status, FAMILY_LEN};
use crate::crypto::jws::{self, Claims, Refusal};
use crate::crypto::keyring::Keyring;
use crate::crypto::token;
use crate::domain::audit::{self, Event, Stamp};
use crate::domain::users;
use crate::error::{Error, Result};
use crate::ids::{SessionId, UserId};
use crate::store::Conn;
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// The leeway on `exp` and `nbf` when verifying.
pub const LEEWAY: Duration = Duration::seconds(30);

/// What the tokens say and how long they last.
#[derive(Debug, Clone)]
pub struct Policy<'a> {
    /// `iss`.
    pub issuer: &'a str,
    /// `aud`, when configured.
    pub audience: Option<&'a str>,
    /// An access token's lifetime.
    pub access_ttl: Duration,
    /// A session's (refresh token's) lifetime; used at login only.
    pub refresh_ttl: Duration,
}

/// The OAuth-style token response of `login` and `refresh`.
#[derive(Clone, Serialize)]
pub struct TokenResponse {
    /// The session (the `sid` claim).
    pub session_id: SessionId,
    /// The signed access token.
    #[serde(serialize_with = "crate::output::reveal")]
    pub access_token: Zeroizing<String>,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// When the access token expires.
    #[serde(with = "crate::output::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The refresh token (shown once; stored only as its hash).
    #[serde(serialize_with = "crate::output::reveal")]
    pub refresh_token: Zeroizing<String>,
    /// When the session ends (the refresh token's expiry).
    #[serde(with = "crate::output::rfc3339")]
    pub refresh_expires_at: OffsetDateTime,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The whole second of `t` (JWT times are whole seconds; stored expiries match them).
fn whole_second(t: OffsetDateTime) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(t.unix_timestamp()).map_err(Error::internal)
}

/// Whole seconds (or hours) since the epoch, 0 before it.
fn since_epoch(at: OffsetDateTime, unit: i64) -> u64 {
    u64::try_from(at.unix_timestamp().div_euclid(unit)).unwrap_or(0)
}

/// A token id (`jti`, stored as `access_jti`): the second it was made (6
/// base62 digits, enough until the year 3770) then 16 random characters (95
/// bits). Its time prefix keeps the unique index on `access_jti` in the order
/// sessions age, so `prune`, deleting the oldest sessions, rewrites a few
/// neighbouring index pages per batch instead of most of the index (a batch
/// of random ids touched about 9,000 pages, and prune took 1.5 times one
/// `DELETE` of the same rows).
fn new_jti(at: OffsetDateTime) -> Result<String> {
    Ok(token::time_ordered(since_epoch(at, 1), 6, 16)?.to_string())
}

/// A refresh family id (`refresh_jti`, the 12 characters after `kwr_`), time
/// ordered for the same reason as [`new_jti`]: the hour it was made (4 base62
/// digits, enough until the year 3650) then 8 random characters (47 bits).
/// The family only names the session; what a refresh token proves is its
/// other 20 random characters (119 bits), checked against the stored hash.
fn new_family(at: OffsetDateTime) -> Result<Zeroizing<String>> {
    token::time_ordered(since_epoch(at, 3600), 4, FAMILY_LEN - 4)
}

/// Signs an access token for a session and publishes its key until it expires.
fn access_token(
    conn: &mut dyn Conn,
    (ring, stamp): (&Keyring, Stamp<'_>),
    claims: &Claims,
    expires_at: OffsetDateTime,
) -> Result<Zeroizing<String>> {
    let signer = signing::signer(conn, ring, stamp)?;
    let token = signer.sign(claims)?;
    signing::note_expiry(conn, &signer.kid, expires_at)?;
    Ok(token)
}

fn claims_for(
    policy: &Policy<'_>,
    (username, roles): (&str, Vec<String>),
    (sid, jti): (SessionId, String),
    (iat, exp): (OffsetDateTime, OffsetDateTime),
) -> Claims {
    Claims {
        iss: policy.issuer.to_owned(),
        sub: username.to_owned(),
        aud: policy.audience.map(|a| jws::Audience::One(a.to_owned())),
        iat: iat.unix_timestamp(),
        nbf: iat.unix_timestamp(),
        exp: exp.unix_timestamp(),
        jti,
        sid: sid.get(),
        roles,
    }
}

/// A login to turn into a session (the password and TOTP already accepted).
pub struct Login<'a> {
    /// Who.
    pub user: UserId,
    /// Their name (`sub`).
    pub username: &'a str,
    /// `--device`.
    pub device: Option<&'a str>,
    /// `--ip`.
    pub ip_address: Option<&'a str>,
}

#[derive(Serialize)]
struct Created<'a> {
    username: &'a str,
    device: Option<&'a str>,
    ip_address: Option<&'a str>,
    expires_at: String,
    refresh_expires_at: String,
}

/// Creates a session with its first access and refresh tokens (audited write).
pub fn start(
    conn: &mut dyn Conn,
    (ring, stamp): (&Keyring, Stamp<'_>),
    login: &Login<'_>,
    policy: &Policy<'_>,
) -> Result<TokenResponse> {
    let now = whole_second(stamp.at)?;
    let refresh_expires_at = crate::time::add(now, policy.refresh_ttl)?;
    let expires_at = crate::time::add(now, policy.access_ttl)?.min(refresh_expires_at);
    let family = new_family(stamp.at)?;
    let refresh = token::new_refresh(&family)?;
    let jti = new_jti(stamp.at)?;
    let id = repo::insert(
        conn,
        &NewSession {
            user: login.user,
            access_jti: &jti,
            family: &family,
            refresh_hash: &token::hash(&refresh),
            device: login.device,
            ip_address: login.ip_address,
            created_at: stamp.at,
            expires_at,
            refresh_expires_at,
        },
    )?;
    let roles = users::repo::roles_of(conn, login.user)?;
    let claims = claims_for(
        policy,
        (login.username, roles),
        (id, jti),
        (now, expires_at),
    );
    let access = access_token(conn, (ring, stamp), &claims, expires_at)?;
    audit::record(
        conn,
        stamp,
        Event::new("session.create", "session", id.to_string()).details_of(&Created {
            username: login.username,
            device: login.device,
            ip_address: login.ip_address,
            expires_at: crate::time::rfc3339(expires_at),
            refresh_expires_at: crate::time::rfc3339(refresh_expires_at),
        }),
    )?;
    Ok(TokenResponse {
        session_id: id,
        access_token: access,
        token_type: "Bearer",
        expires_in: (expires_at - now).whole_seconds(),
        expires_at,
        refresh_token: refresh,
        refresh_expires_at,
    })
}

/// Why a refresh was refused (`reason` in its JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshRefusal {
    /// Not a refresh token's shape.
    Malformed,
    /// The right shape, a wrong checksum (a typo).
    BadChecksum,
    /// No session has this token's family.
    Unknown,
    /// The session was revoked.
    Revoked,
    /// The session has ended.
    Expired,
    /// A spent token of the session: the session is now revoked.
    RefreshReuse,
    /// The account is disabled or locked by an operator.
    UserInactive,
}

/// What a refresh came to.
#[derive(Debug)]
pub enum Refreshed {
    /// New tokens; the one presented is spent.
    Tokens(TokenResponse),
    /// Refused (and, for `refresh_reuse`, the session revoked).
    Refused {
        /// Why.
        reason: RefreshRefusal,
        /// The session, when the token named one.
        session_id: Option<SessionId>,
    },
}

#[derive(Serialize)]
struct Reused {
    refresh_count: i64,
}

#[derive(Serialize)]
struct RefreshedDetails {
    refresh_count: i64,
    expires_at: String,
}

fn refused(reason: RefreshRefusal, session_id: Option<SessionId>) -> Refreshed {
    Refreshed::Refused { reason, session_id }
}

/// Spends a refresh token for new tokens (audited write). The token's shape
/// and checksum were checked by the caller ([`token::check_refresh`]).
pub fn refresh(
    conn: &mut dyn Conn,
    (ring, stamp): (&Keyring, Stamp<'_>),
    presented: &str,
    policy: &Policy<'_>,
) -> Result<Refreshed> {
    let family = presented
        .get(token::REFRESH_PREFIX.len()..token::REFRESH_PREFIX.len() + FAMILY_LEN)
        .ok_or_else(|| Error::internal("refresh token checked before use"))?;
    let Some(row) = repo::by_family(conn, family)? else {
        return Ok(refused(RefreshRefusal::Unknown, None));
    };
    let sid = Some(row.id);
    if row.revoked_at.is_some() {
        return Ok(refused(RefreshRefusal::Revoked, sid));
    }
    let hash = token::hash(presented);
    let current = row
        .refresh_hash
        .as_deref()
        .is_some_and(|h| token::hashes_match(h, &hash));
    if !current {
        // A token of this session's family, not the newest: it was spent.
        repo::revoke(conn, row.id, stamp.at, RevokeReason::RefreshReuse)?;
        audit::record(
            conn,
            stamp,
            Event::new("session.refresh_reuse", "session", row.id.to_string()).details_of(
                &Reused {
                    refresh_count: row.refresh_count,
                },
            ),
        )?;
        return Ok(refused(RefreshRefusal::RefreshReuse, sid));
    }
    let ends = super::ends_at(row.expires_at, row.refresh_expires_at);
    if ends <= stamp.at {
        return Ok(refused(RefreshRefusal::Expired, sid));
    }
    if !users::works_for_tokens(conn, row.user, stamp.at)? {
        return Ok(refused(RefreshRefusal::UserInactive, sid));
    }
    let now = whole_second(stamp.at)?;
    let expires_at = crate::time::add(now, policy.access_ttl)?.min(ends);
    let next = token::new_refresh(family)?;
    let jti = new_jti(stamp.at)?;
    let rotated = repo::rotate(
        conn,
        &Rotation {
            id: row.id,
            old_hash: &hash,
            new_hash: &token::hash(&next),
            access_jti: &jti,
            expires_at,
            at: stamp.at,
        },
    )?;
    if !rotated {
        return Err(Error::conflict(
            "the session changed during the refresh: try again",
        ));
    }
    let roles = users::repo::roles_of(conn, row.user)?;
    let claims = claims_for(
        policy,
        (&row.username, roles),
        (row.id, jti),
        (now, expires_at),
    );
    let access = access_token(conn, (ring, stamp), &claims, expires_at)?;
    audit::record(
        conn,
        stamp,
        Event::new("session.refresh", "session", row.id.to_string()).details_of(
            &RefreshedDetails {
                refresh_count: row.refresh_count + 1,
                expires_at: crate::time::rfc3339(expires_at),
            },
        ),
    )?;
    Ok(Refreshed::Tokens(TokenResponse {
        session_id: row.id,
        access_token: access,
        token_type: "Bearer",
        expires_in: (expires_at - now).whole_seconds(),
        expires_at,
        refresh_token: next,
        refresh_expires_at: ends,
    }))
}

/// Why an access token was refused (`reason` in its JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyReason {
    /// Not a compact JWS with JSON header and claims.
    Malformed,
    /// Not signed with EdDSA by the key its `kid` names.
    BadSignature,
    /// No published key has its `kid`.
    UnknownKey,
    /// `exp` (plus 30 s) has passed.
    Expired,
    /// `nbf` (less 30 s) is still to come.
    NotYetValid,
    /// `iss` is not `auth.issuer`.
    WrongIssuer,
    /// `aud` does not name `auth.audience`.
    WrongAudience,
    /// Its session was revoked.
    Revoked,
    /// Its session does not exist (never did, or was pruned).
    UnknownSession,
}

impl From<Refusal> for VerifyReason {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Malformed => VerifyReason::Malformed,
            Refusal::BadSignature => VerifyReason::BadSignature,
            Refusal::UnknownKey => VerifyReason::UnknownKey,
        }
    }
}

/// What a verification came to.
#[derive(Debug, Clone)]
pub enum Verified {
    /// Valid: its claims and session.
    Valid {
        /// The token's claims.
        claims: Claims,
        /// Its session (boxed: the refusal is one byte).
        session: Box<Session>,
    },
    /// Refused.
    Refused(VerifyReason),
}

/// Checks the claims' times, issuer and audience at `now`.
pub fn check_claims(
    claims: &Claims,
    policy: &Policy<'_>,
    now: OffsetDateTime,
) -> Option<VerifyReason> {
    let now = now.unix_timestamp();
    let leeway = LEEWAY.whole_seconds();
    if now > claims.exp.saturating_add(leeway) {
        Some(VerifyReason::Expired)
    } else if claims.nbf > now.saturating_add(leeway) {
        Some(VerifyReason::NotYetValid)
    } else if claims.iss != policy.issuer {
        Some(VerifyReason::WrongIssuer)
    } else if policy
        .audience
        .is_some_and(|want| !claims.aud.as_ref().is_some_and(|a| a.names(want)))
    {
        Some(VerifyReason::WrongAudience)
    } else {
        None
    }
}

/// Verifies an access token taken apart by [`jws::parse`] (read transaction).
pub fn verify(
    conn: &mut dyn Conn,
    parsed: &jws::Parsed<'_>,
    policy: &Policy<'_>,
    now: OffsetDateTime,
) -> Result<Verified> {
    let Some(public) = signing::public_key(conn, &parsed.kid)? else {
        return Ok(Verified::Refused(VerifyReason::UnknownKey));
    };
    let claims = match parsed.verify(&public)? {
        Ok(c) => c,
        Err(r) => return Ok(Verified::Refused(r.into())),
    };
    if let Some(reason) = check_claims(&claims, policy, now) {
        return Ok(Verified::Refused(reason));
    }
    let Some(session) = repo::find(conn, SessionId(claims.sid), now)? else {
        return Ok(Verified::Refused(VerifyReason::UnknownSession));
    };
    if session.username != claims.sub {
        return Ok(Verified::Refused(VerifyReason::UnknownSession));
    }
    match session.status {
        Status::Revoked => Ok(Verified::Refused(VerifyReason::Revoked)),
        Status::Expired => Ok(Verified::Refused(VerifyReason::Expired)),
        Status::Active => Ok(Verified::Valid {
            claims,
            session: Box::new(session),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy<'static> {
        Policy {
            issuer: "keyward",
            audience: Some("api"),
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(7),
        }
    }

    fn claims(exp: i64, nbf: i64) -> Claims {
        Claims {
            iss: "keyward".into(),
            sub: "alice".into(),
            aud: Some(jws::Audience::One("api".into())),
            iat: nbf,
            nbf,
            exp,
            jti: "j".into(),
            sid: 1,
            roles: vec![],
        }
    }

    #[test]
    fn times_have_thirty_seconds_of_leeway() {
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap();
        let c = claims(1000, 100);
        assert_eq!(check_claims(&c, &policy(), at(1030)), None);
        assert_eq!(
            check_claims(&c, &policy(), at(1031)),
            Some(VerifyReason::Expired)
        );
        assert_eq!(check_claims(&c, &policy(), at(70)), None);
        assert_eq!(
            check_claims(&c, &policy(), at(69)),
            Some(VerifyReason::NotYetValid)
        );
    }

    #[test]
    fn issuer_and_audience_must_match() {
        let now = OffsetDateTime::from_unix_timestamp(500).unwrap();
        let mut c = claims(1000, 100);
        c.iss = "other".into();
        assert_eq!(
            check_claims(&c, &policy(), now),
            Some(VerifyReason::WrongIssuer)
        );
        let mut c = claims(1000, 100);
        c.aud = None;
        assert_eq!(
            check_claims(&c, &policy(), now),
            Some(VerifyReason::WrongAudience)
        );
        c.aud = Some(jws::Audience::Many(vec!["x".into(), "api".into()]));
        assert_eq!(check_claims(&c, &policy(), now), None);
        let no_aud = Policy {
            audience: None,
            ..policy()
        };
        assert_eq!(check_claims(&c, &no_aud, now), None);
    }

    #[test]
    fn reasons_keep_their_strings() {
        let all = [
            (VerifyReason::Malformed, "malformed"),
            (VerifyReason::BadSignature, "bad_signature"),
            (VerifyReason::UnknownKey, "unknown_key"),
            (VerifyReason::Expired, "expired"),
            (VerifyReason::NotYetValid, "not_yet_valid"),
            (VerifyReason::WrongIssuer, "wrong_issuer"),
            (VerifyReason::WrongAudience, "wrong_audience"),
            (VerifyReason::Revoked, "revoked"),
            (VerifyReason::UnknownSession, "unknown_session"),
        ];
        for (r, s) in all {
            assert_eq!(serde_json::to_value(r).unwrap(), s);
        }
        assert_eq!(
            serde_json::to_value(RefreshRefusal::RefreshReuse).unwrap(),
            "refresh_reuse"
        );
    }
}
