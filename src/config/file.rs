//! The YAML config file: where it is, and what it may hold.

use super::Env;
use crate::error::{Error, Result};
use serde::Deserialize;
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
    let explicit = flag
        .cloned()
        .or_else(|| env.get("KEYWARD_CONFIG").map(PathBuf::from));
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
fn read(path: &Path, must_exist: bool) -> Result<Option<FileConfig>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => return Ok(None),
        Err(e) => {
            return Err(Error::invalid(format!(
                "cannot read config file {}: {e}",
                path.display()
            )))
        }
    };
    if text.trim().is_empty() {
        return Ok(Some(FileConfig::default()));
    }
    serde_yaml::from_str(&text).map(Some).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        // serde_yaml's message may quote the offending value; a config file
        // can hold a password, so keep only the kind of fault.
        let what = e.to_string();
        let what = what.split(" at line").next().unwrap_or(&what);
        let what = crate::error::without_input(what);
        Error::invalid(format!("config file {}{at}: {what}", path.display()))
    })
}
