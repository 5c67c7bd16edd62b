//! What a command gets: the resolved configuration, the store and key opened
//! on first use (never eagerly), the clock operations read the time from, and
//! the terminal facts for prompts.

use crate::config::Config;
use crate::crypto::keyring::Keyring;
use crate::error::{Error, Result};
use crate::store::{self, Store};
use crate::time::{Clock, FixedClock, SystemClock};
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

/// A command's environment.
pub struct Context {
    /// The resolved configuration.
    pub config: Config,
    /// `--yes`: destructive verbs proceed without asking.
    pub assume_yes: bool,
    /// Where operations read the time from.
    pub clock: Arc<dyn Clock>,
    store: Option<Box<dyn Store>>,
    keyring: Option<Keyring>,
}

impl Context {
    /// Wraps a resolved configuration. Opens nothing.
    pub fn new(config: Config, assume_yes: bool) -> Self {
        let clock: Arc<dyn Clock> = match config.test_now {
            Some(t) => Arc::new(FixedClock::at(t)),
            None => Arc::new(SystemClock),
        };
        Context {
            config,
            assume_yes,
            clock,
            store: None,
            keyring: None,
        }
    }

    /// The store, opened on first use and checked to be fully migrated (exit 6 otherwise).
    pub fn store(&mut self) -> Result<&mut dyn Store> {
        if self.store.is_none() {
            let mut s = store::open(&self.config.database, self.config.pool_size, false)?;
            store::ensure_current(s.as_mut())?;
            self.store = Some(s);
        }
        self.store_ref()
    }

    /// The store without the schema check; `create` allows a new SQLite file (init, migrate).
    pub fn store_unchecked(&mut self, create: bool) -> Result<&mut dyn Store> {
        if self.store.is_none() {
            self.store = Some(store::open(
                &self.config.database,
                self.config.pool_size,
                create,
            )?);
        }
        self.store_ref()
    }

    fn store_ref(&mut self) -> Result<&mut dyn Store> {
        match self.store.as_mut() {
            Some(s) => Ok(s.as_mut()),
            None => Err(Error::internal("store not open")),
        }
    }

    /// The key ring, read on first use.
    pub fn keyring(&mut self) -> Result<&Keyring> {
        if self.keyring.is_none() {
            self.keyring = Some(crate::domain::keys::load(&self.config)?);
        }
        self.keyring
            .as_ref()
            .ok_or_else(|| Error::internal("key ring not loaded"))
    }

    /// The store and the key ring together (for commands that decrypt or encrypt).
    pub fn store_and_keyring(&mut self) -> Result<(&mut dyn Store, &Keyring)> {
        self.keyring()?;
        self.store()?;
        match (self.store.as_mut(), self.keyring.as_ref()) {
            (Some(s), Some(k)) => Ok((s.as_mut(), k)),
            _ => Err(Error::internal("store or key ring not ready")),
        }
    }

    /// Closes the store and forgets the key ring (before `exec` replaces the process).
    pub fn close(&mut self) {
        self.store = None;
        self.keyring = None;
    }

    /// Forgets the loaded key ring (after the key file changed).
    pub fn reload_keyring(&mut self) {
        self.keyring = None;
    }

    /// Prints the hashing warnings (weak PBKDF2 settings) before a password is hashed.
    pub fn warn_before_hashing(&self) {
        for w in &self.config.hashing_warnings {
            crate::output::warn(w);
        }
    }

    /// The actor recorded in the audit log.
    pub fn actor(&self) -> &str {
        &self.config.actor
    }

    /// Asks before a destructive action: `--yes` proceeds; a terminal is asked;
    /// anything else is refused with exit 2.
    pub fn confirm(&self, what: &str) -> Result<()> {
        if self.assume_yes {
            return Ok(());
        }
        let stdin = std::io::stdin();
        if !stdin.is_terminal() || !std::io::stderr().is_terminal() {
            return Err(Error::invalid(format!(
                "refusing to {what} without confirmation: pass --yes (-y) to proceed"
            )));
        }
        crate::output::prompt(&format!("About to {what}. Continue? [y/N] "));
        let mut answer = String::new();
        stdin
            .lock()
            .read_line(&mut answer)
            .map_err(|e| Error::invalid(format!("cannot read the answer: {e}")))?;
        if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            Ok(())
        } else {
            Err(Error::invalid(format!("did not {what}: not confirmed")))
        }
    }

    /// A progress bar on stderr, drawn only when stderr is a terminal.
    pub fn progress(&self, total: u64, what: &str) -> indicatif::ProgressBar {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        // Only worth drawing for work that lasts; indicatif hides it off-terminal.
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    }
}
