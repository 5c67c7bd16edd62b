//! The PostgreSQL backend: tokio-postgres on a current-thread runtime it owns.
//!
//! Nothing async leaks out: every call blocks on the runtime, as the
//! `postgres` crate does. Audited writers take a transaction-scoped advisory
//! lock named after the schema (the audit chain's lock), so keyward processes
//! on many hosts append one at a time (one linear chain) without blocking the
//! application's own reads; unaudited writers take none.
//! TLS follows `sslmode` through rustls.

use super::migrate::{self, HISTORY_TABLE};
use super::{Access, Conn, Dialect, MigrationState, PgTarget, Row, SslMode, Store, Value};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::runtime::Runtime;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, Statement};

/// The advisory-lock class keyward's writers use (with the schema's hash as the key).
const LOCK_CLASS: i32 = 0x6b77; // "kw"

/// How long connecting (TCP, TLS, start-up) may take when no connect_timeout is set.
const CONNECT_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// A PostgreSQL database.
pub struct PgStore {
    rt: Runtime,
    client: Client,
    location: String,
    role: String,
    statements: HashMap<String, Statement>,
}

impl PgStore {
    /// Connects, honouring the TLS mode; fails with exit 6 within the connect timeout.
    pub fn connect(target: &PgTarget) -> Result<Self> {
        let location = target.to_string();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::internal(format!("cannot start the I/O runtime: {e}")))?;
        let mut config = target.config.clone();
        let role = config.get_user().unwrap_or("(default)").to_owned();
        let unavailable = |e: tokio_postgres::Error| {
            Error::unavailable(format!(
                "cannot connect to PostgreSQL at {location}: {}",
                describe(&e)
            ))
        };
        // The driver's connect_timeout covers the TCP connect only; a server
        // that accepts but never answers must not hang us either.
        let budget = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_BUDGET)
            .max(std::time::Duration::from_secs(1));
        let timed_out = || {
            Error::unavailable(format!(
                "cannot connect to PostgreSQL at {location}: no answer within {} s",
                budget.as_secs()
            ))
        };
        let client = if target.ssl_mode == SslMode::Disable {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            let (client, connection) = rt
                .block_on(async {
                    tokio::time::timeout(budget, config.connect(tokio_postgres::NoTls)).await
                })
                .map_err(|_| timed_out())?
                .map_err(unavailable)?;
            rt.spawn(connection);
            client
        } else {
            config.ssl_mode(match target.ssl_mode {
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                _ => tokio_postgres::config::SslMode::Require,
            });
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(target)?);
            let (client, connection) = rt
                .block_on(async { tokio::time::timeout(budget, config.connect(tls)).await })
                .map_err(|_| timed_out())?
                .map_err(unavailable)?;
            rt.spawn(connection);
            client
        };
        Ok(PgStore {
            rt,
            client,
            location,
            role,
            statements: HashMap::new(),
        })
    }

    fn history_exists(&mut self) -> Result<bool> {
        let row = self.rt.block_on(
            self.client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&HISTORY_TABLE]),
        );
        row.map_err(map_err)?.try_get(0).map_err(map_err)
    }
}

/// A rustls configuration for the target's `sslmode`.
fn tls_config(target: &PgTarget) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS set-up failed: {e}")))?;
    let config = match target.ssl_mode {
        SslMode::VerifyFull => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if let Some(path) = &target.ssl_root_cert {
                use rustls_pki_types::pem::PemObject;
                let certs = rustls_pki_types::CertificateDer::pem_file_iter(path).map_err(|e| {
                    Error::invalid(format!("cannot read sslrootcert {}: {e}", path.display()))
                })?;
                for cert in certs {
                    let cert = cert.map_err(|e| {
                        Error::invalid(format!("sslrootcert {} is not PEM: {e}", path.display()))
                    })?;
                    roots.add(cert).map_err(|e| {
                        Error::invalid(format!("sslrootcert {}: {e}", path.display()))
                    })?;
                }
            }
            if roots.is_empty() {
                return Err(Error::unavailable(
                    "sslmode=verify-full but no trusted root certificates were found: install the system CA bundle or pass sslrootcert=/path/ca.pem",
                ));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        // libpq's prefer/require encrypt without verifying the certificate.
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// Accepts any server certificate but still checks handshake signatures:
/// libpq's `require` semantics (encryption without authentication).
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The driver error's message with its cause, without any connection secret.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_owned();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// The SQLSTATE the append-only trigger raises (class `KW`, keyward's own).
pub const APPEND_ONLY_SQLSTATE: &str = "KW001";

/// Turns a driver error into the crate's error, by SQLSTATE.
pub(crate) fn map_err(e: tokio_postgres::Error) -> Error {
    map_err_as(e, None)
}

/// [`map_err`], naming the database role in permission errors.
fn map_err_as(e: tokio_postgres::Error, role: Option<&str>) -> Error {
    let text = describe(&e);
    let err = match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => {
            Error::conflict(format!("already exists ({text})"))
        }
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => {
            Error::conflict(format!("still referenced ({text})"))
        }
        Some(c) if *c == SqlState::CHECK_VIOLATION || *c == SqlState::NOT_NULL_VIOLATION => {
            Error::invalid(format!("rejected by the database: {text}"))
        }
        // The append-only trigger's own code (migration V2): tampering, exit 8.
        Some(c) if c.code() == APPEND_ONLY_SQLSTATE => Error::integrity(text),
        // The server refused our role: not tampering, but a database we cannot use.
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => Error::unavailable(format!(
            "PostgreSQL refused the database role{}: {text}; grant it the privileges keyward needs, or connect as another role",
            role.map(|r| format!(" '{r}'")).unwrap_or_default()
        )),
        Some(c) if *c == SqlState::UNDEFINED_TABLE => Error::unavailable(format!(
            "{text}: the schema is not migrated; run `keyward db migrate`"
        )),
        Some(c) if c.code().starts_with("08") || c.code().starts_with("57P") => {
            Error::unavailable(format!("PostgreSQL connection lost: {text}"))
        }
        None if e.is_closed() => Error::unavailable(format!("PostgreSQL connection lost: {text}")),
        _ => Error::internal(format!("PostgreSQL: {text}")),
    };
    err.with_source(e)
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            Value::Float(f) => f.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
            Value::Bool(b) => b.to_sql(ty, out),
            Value::Time(t) => t.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

fn read_row(columns: &super::Columns, row: &tokio_postgres::Row) -> Result<Row> {
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let ty = col.type_();
        let v = match *ty {
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)
                .map(|v| v.map(Value::Bool)),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)
                .map(|v| v.map(|x| Value::Int(x.into()))),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)
                .map(|v| v.map(|x| Value::Int(x.into()))),
            Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int)),
            Type::FLOAT4 => row
                .try_get::<_, Option<f32>>(i)
                .map(|v| v.map(|x| Value::Float(x.into()))),
            Type::FLOAT8 => row
                .try_get::<_, Option<f64>>(i)
                .map(|v| v.map(Value::Float)),
            Type::TIMESTAMPTZ => row
                .try_get::<_, Option<time::OffsetDateTime>>(i)
                .map(|v| v.map(|t| Value::Time(crate::time::truncate(t)))),
            Type::TIMESTAMP => row
                .try_get::<_, Option<time::PrimitiveDateTime>>(i)
                .map(|v| v.map(|t| Value::Time(t.assume_utc()))),
            Type::JSON | Type::JSONB => row
                .try_get::<_, Option<serde_json::Value>>(i)
                .map(|v| v.map(|j| Value::Text(j.to_string()))),
            _ => row
                .try_get::<_, Option<String>>(i)
                .map(|v| v.map(Value::Text)),
        }
        .map_err(|e| {
            // A stored time keyward cannot represent (`infinity`, year 20000)
            // was written behind its back: the row needs repair.
            if matches!(*ty, Type::TIMESTAMPTZ | Type::TIMESTAMP) {
                Error::integrity(format!(
                    "column {} holds a time keyward cannot read (such as infinity, or past the year 9999): repair that row",
                    col.name()
                ))
            } else {
                Error::internal(format!("column {} ({ty}): {e}", col.name()))
            }
        })?;
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row::new(columns.clone(), values))
}

struct PgConn<'a> {
    audited: bool,
    role: &'a str,
    rt: &'a Runtime,
    client: &'a Client,
    statements: &'a mut HashMap<String, Statement>,
}

impl PgConn<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let stmt = self
            .rt
            .block_on(self.client.prepare(sql))
            .map_err(|e| map_err_as(e, Some(self.role)))?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

fn as_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Conn for PgConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn holds_audit_lock(&self) -> bool {
        self.audited
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let stmt = self.statement(sql)?;
        self.rt
            .block_on(self.client.execute(&stmt, &as_params(params)))
            .map_err(|e| map_err_as(e, Some(self.role)))
    }

    fn copy_in(&mut self, sql: &str, data: Vec<u8>) -> Result<u64> {
        use futures_util::SinkExt;
        let role = self.role;
        self.rt
            .block_on(async {
                let sink = self.client.copy_in::<_, bytes::Bytes>(sql).await?;
                let mut sink = std::pin::pin!(sink);
                sink.send(bytes::Bytes::from(data)).await?;
                sink.as_mut().finish().await
            })
            .map_err(|e| map_err_as(e, Some(role)))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let stmt = self.statement(sql)?;
        let rows = self
            .rt
            .block_on(self.client.query(&stmt, &as_params(params)))
            .map_err(|e| map_err_as(e, Some(self.role)))?;
        let columns: super::Columns = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
        rows.iter().map(|r| read_row(&columns, r)).collect()
    }
}

impl Store for PgStore {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn migration_states(&mut self) -> Result<Vec<MigrationState>> {
        let exists = self.history_exists()?;
        let applied = migrate::read_applied(
            &mut PgConn {
                audited: false,
                role: &self.role,
                rt: &self.rt,
                client: &self.client,
                statements: &mut self.statements,
            },
            exists,
        )?;
        Ok(migrate::states(Dialect::Postgres, &applied))
    }

    fn migrate(&mut self, dry_run: bool) -> Result<Vec<MigrationState>> {
        // One migrator per schema at a time, across hosts.
        let lock = "SELECT pg_advisory_lock($1, hashtext(current_schema()))";
        let unlock = "SELECT pg_advisory_unlock($1, hashtext(current_schema()))";
        self.rt
            .block_on(self.client.execute(lock, &[&(LOCK_CLASS + 1)]))
            .map_err(map_err)?;
        let result = (|| {
            let pending = migrate::pending(&self.migration_states()?, &self.location)?;
            if dry_run || pending.is_empty() {
                return Ok(pending);
            }
            let runner = migrate::runner(Dialect::Postgres);
            let report = self
                .rt
                .block_on(runner.run_async(&mut self.client))
                .map_err(|e| migrate::failed(&self.location, &e))?;
            Ok(migrate::applied_by(&report, pending))
        })();
        let released = self
            .rt
            .block_on(self.client.execute(unlock, &[&(LOCK_CLASS + 1)]))
            .map_err(map_err);
        let pending = result?;
        released?;
        Ok(pending)
    }

    fn transaction(
        &mut self,
        access: Access,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<()>,
    ) -> Result<()> {
        let begin = match access {
            Access::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            Access::Write | Access::WriteUnaudited => "BEGIN ISOLATION LEVEL READ COMMITTED",
        };
        self.rt
            .block_on(self.client.batch_execute(begin))
            .map_err(map_err)?;
        let mut conn = PgConn {
            audited: access == Access::Write,
            role: &self.role,
            rt: &self.rt,
            client: &self.client,
            statements: &mut self.statements,
        };
        let mut result = Ok(());
        // The audit chain's lock, held to commit, only by writers that append to
        // the chain; unaudited writers (hot paths) never wait for it.
        if access == Access::Write {
            result = conn
                .execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))",
                    &[Value::Int(LOCK_CLASS.into())],
                )
                .map(drop);
        }
        let result = result.and_then(|()| f(&mut conn));
        match result {
            Ok(()) => self
                .rt
                .block_on(self.client.batch_execute("COMMIT"))
                .map_err(map_err),
            Err(e) => {
                // A failed rollback means the connection is gone; the server
                // rolls back on disconnect, and the original error matters more.
                let _ = self.rt.block_on(self.client.batch_execute("ROLLBACK"));
                Err(e)
            }
        }
    }

    fn backup(&mut self, _dest: &std::path::Path) -> Result<u64> {
        Err(Error::invalid(format!(
            "`db backup` copies SQLite databases; for PostgreSQL ({}) use pg_dump",
            self.location
        )))
    }
}
