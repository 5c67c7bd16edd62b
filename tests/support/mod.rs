//! Shared by the test crates: a private database per test on each backend.
//!
//! SQLite gets a file in a temp dir. PostgreSQL gets a fresh schema on the
//! server named by `KEYWARD_TEST_DATABASE_URL`, selected with `search_path`,
//! and dropped when the test ends; so tests run in parallel and leave nothing.
#![allow(dead_code)]

pub mod reliability;

use keyward::store::{self, Store};
use std::sync::atomic::{AtomicU32, Ordering};

/// The variable naming the PostgreSQL server for tests.
pub const PG_VAR: &str = "KEYWARD_TEST_DATABASE_URL";

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server URL, or `None` (with a note on stderr) when unset.
#[allow(clippy::disallowed_methods)] // the test harness's own setting
pub fn pg_base_url() -> Option<String> {
    match std::env::var(PG_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Written to the real stderr: the harness captures eprintln! of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipping the PostgreSQL half of this test: {PG_VAR} is not set"
            );
            None
        }
    }
}

/// A database for one test; dropped with the test.
pub struct TestDb {
    /// The URL keyward is given.
    pub url: String,
    /// Which backend.
    pub backend: Backend,
    pg_schema: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "kwt_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos
    )
}

fn with_search_path(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-csearch_path%3D{schema}")
}

fn admin(base: &str, sql: &str) {
    let target = store::target::parse_url(base)
        .expect("KEYWARD_TEST_DATABASE_URL must be a postgres:// URL");
    let mut s = store::open(&target, 1, false)
        .unwrap_or_else(|e| panic!("{PG_VAR} is set but PostgreSQL is not reachable: {e}"));
    store::write(s.as_mut(), |c| c.execute(sql, &[])).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

impl TestDb {
    /// A fresh, empty database, or `None` for PostgreSQL when no server is configured.
    pub fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/test.db", dir.path().display());
                Some(TestDb {
                    url,
                    backend,
                    pg_schema: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let base = pg_base_url()?;
                let schema = unique_name();
                admin(&base, &format!("CREATE SCHEMA {schema}"));
                Some(TestDb {
                    url: with_search_path(&base, &schema),
                    backend,
                    pg_schema: Some((base, schema)),
                    _dir: None,
                })
            }
        }
    }

    /// Opens the store (creating the SQLite file if needed), unmigrated.
    pub fn open_raw(&self) -> Box<dyn Store> {
        let target = store::target::parse_url(&self.url).expect("test URL parses");
        store::open(&target, 2, true).expect("test database opens")
    }

    /// Opens the store and migrates it.
    pub fn open(&self) -> Box<dyn Store> {
        let mut s = self.open_raw();
        s.migrate(false).expect("migrations apply");
        s
    }

    /// The PostgreSQL schema's name, if any.
    pub fn schema(&self) -> Option<&str> {
        self.pg_schema.as_ref().map(|(_, s)| s.as_str())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.pg_schema {
            admin(base, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// Expands one test body into an SQLite and a PostgreSQL test.
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* fn $name:ident($db:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($db: &$crate::support::TestDb) $body
            #[test]
            fn sqlite() {
                let db = $crate::support::TestDb::new($crate::support::Backend::Sqlite).expect("sqlite test db");
                body(&db);
            }
            #[test]
            fn postgres() {
                if let Some(db) = $crate::support::TestDb::new($crate::support::Backend::Postgres) {
                    body(&db);
                }
            }
        }
    };
}
