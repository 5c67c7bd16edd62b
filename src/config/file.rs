//! The YAML config file: where it is, and what it may hold.

use super::database::{self, Source};
use super::Env;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The YAML config file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub database: Option<FileDatabase>,
    pub encryption: Option<FileEncryption>,
    pub environment: Option<String>,
    pub actor: Option<String>,
    pub output: Option<String>,
    pub auth: Option<FileAuth>,
    pub settings: Option<FileSettings>,
}

/// `database:` in the config file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDatabase {
    pub url: Option<String>,
    pub client: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub name: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub filename: Option<String>,
    pub ssl_mode: Option<String>,
    pub pool_size: Option<u32>,
}

impl FileDatabase {
    /// A database part by its `DATABASE_<PART>` suffix (`HOST`, `PORT`, …).
    pub fn part(&self, k: &str) -> Option<String> {
        match k {
            "HOST" => self.host.clone(),
            "PORT" => self.port.map(|p| p.to_string()),
            "NAME" => self.name.clone(),
            "USER" => self.user.clone(),
            "PASSWORD" => self.password.clone(),
            "FILENAME" => self.filename.clone(),
            "SSL_MODE" => self.ssl_mode.clone(),
            _ => None,
        }
    }

    /// Refuses a `database:` section that contradicts itself: a URL with
    /// parts (`client`, `host`, …), or parts without a client.
    fn check(&self) -> Result<()> {
        if self.url.is_some() {
            let other = [
                "CLIENT", "HOST", "PORT", "NAME", "USER", "PASSWORD", "FILENAME", "SSL_MODE",
            ]
            .into_iter()
            .find(|k| self.client_or_part(k).is_some());
            if let Some(k) = other {
                return Err(Error::invalid(format!(
                    "database.url and database.{} are both set: keep one (the URL, or client and parts)",
                    k.to_ascii_lowercase()
                )));
            }
        } else if self.client.is_none() {
            database::refuse_parts_without_client(Source::File, |k| self.part(k))?;
        }
        Ok(())
    }

    fn client_or_part(&self, k: &str) -> Option<String> {
        if k == "CLIENT" {
            self.client.clone()
        } else {
            self.part(k)
        }
    }

    /// Whether the section holds a password (`password`, or one in the URL).
    fn holds_secret(&self) -> bool {
        self.password.is_some() || self.url.as_deref().is_some_and(url_holds_password)
    }
}

/// Whether a database URL carries a password, decided on the connection
/// settings the driver will use (so `pass%77ord=` or `user:pw@` count alike),
/// not on the text. A URL that does not parse counts as holding one when any
/// decoded form of it might: the file stays private either way.
fn url_holds_password(url: &str) -> bool {
    match crate::store::target::parse_url(url) {
        Ok(crate::store::DatabaseTarget::Postgres(pg)) => pg.config.get_password().is_some(),
        Ok(crate::store::DatabaseTarget::Sqlite(_)) => false,
        Err(_) => {
            let decoded = percent_encoding::percent_decode_str(url).decode_utf8_lossy();
            let lower = decoded.to_ascii_lowercase();
            let rest = lower.split_once("://").map_or("", |(_, r)| r);
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            lower.contains("password")
                || authority
                    .rsplit_once('@')
                    .is_some_and(|(userinfo, _)| userinfo.contains(':'))
        }
    }
}

/// `encryption:` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileEncryption {
    pub key_file: Option<PathBuf>,
}

/// `auth:` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAuth {
    pub pbkdf2_iterations: Option<u32>,
    pub max_failed_logins: Option<u32>,
    pub lockout_duration: Option<String>,
    pub access_ttl: Option<String>,
    pub refresh_ttl: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// `settings:` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSettings {
    pub max_value_size: Option<u64>,
}

/// Finds and reads the config file: one named by `--config` or
/// `KEYWARD_CONFIG` must exist; the default one may be absent. Returns its
/// contents and its path when one was read.
pub(super) fn load(
    flag: Option<&PathBuf>,
    env: &Env<'_>,
    config_dir: Option<&PathBuf>,
) -> Result<(FileConfig, Option<PathBuf>)> {
    let explicit = flag.cloned().or_else(|| env.get_path("KEYWARD_CONFIG"));
    if let Some(path) = explicit {
        return Ok((read(&path, true)?.unwrap_or_default(), Some(path)));
    }
    match config_dir.map(|d| d.join("config.yaml")) {
        Some(path) => match read(&path, false)? {
            Some(f) => Ok((f, Some(path))),
            None => Ok((FileConfig::default(), None)),
        },
        None => Ok((FileConfig::default(), None)),
    }
}

/// Reads and parses a config file; `None` when it is absent and may be.
/// Only a regular file is read (a FIFO is refused, not waited on); one that
/// holds a database password follows the key file's rule: group and others
/// may not access it (exit 7, with the `chmod 600` fix).
fn read(path: &Path, must_exist: bool) -> Result<Option<FileConfig>> {
    let shown = path.display();
    let cannot =
        |e: std::io::Error| Error::invalid(format!("cannot read config file {shown}: {e}"));
    let mut file = match crate::fsutil::open_for_reading(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => return Ok(None),
        Err(e) => return Err(cannot(e)),
    };
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(Error::invalid(format!(
            "config file {shown} is not a regular file"
        )));
    }
    let mut text = zeroize::Zeroizing::new(String::new());
    file.read_to_string(&mut text).map_err(cannot)?;
    if text.trim().is_empty() {
        return Ok(Some(FileConfig::default()));
    }
    let config: FileConfig = serde_yaml::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        // serde_yaml's message may quote the offending value; a config file
        // can hold a password, so keep only the kind of fault.
        let what = e.to_string();
        let what = crate::error::without_input(what.split(" at line").next().unwrap_or(&what));
        Error::invalid(format!("config file {shown}{at}: {what}"))
    })?;
    if let Some(db) = &config.database {
        db.check()
            .map_err(|e| e.context(format!("config file {shown}")))?;
        if let (true, Some(mode)) = (db.holds_secret(), crate::fsutil::shared_mode(&meta)) {
            return Err(Error::key(format!(
                "config file {shown} holds a database password and can be read by other users (mode {mode:04o}): run `chmod 600 {shown}`"
            )));
        }
    }
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::url_holds_password;

    #[test]
    fn passwords_in_urls_are_seen() {
        assert!(url_holds_password("postgres://u:pw@h/db"));
        assert!(url_holds_password("postgres://u@h/db?password=x"));
        assert!(url_holds_password(
            "postgres://u@h/db?sslmode=disable&pass%77ord=pw"
        ));
        assert!(url_holds_password(
            "postgres://u@h/db?PASS%57ORD=pw&bogus=1"
        ));
        assert!(url_holds_password("postgres://u:p%77@h/db?bogus=1"));
        assert!(!url_holds_password("postgres://u@h/db?sslmode=require"));
        assert!(!url_holds_password("sqlite:///var/a:b@c.db"));
    }
}
