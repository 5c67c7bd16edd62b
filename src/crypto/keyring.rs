//! Encryption keys, the keyring (one active key and any previous ones) and the key file.
//!
//! A key is 32 random bytes, written as standard padded base64. Its key id
//! (`kid`) is the first 8 lowercase hex digits of the SHA-256 of the raw
//! bytes; it is public and goes into every envelope so that the right key can
//! be found on decryption.
//!
//! The key file is text with one base64 key per line: the first is the active
//! key (it encrypts), the rest are previous keys (decrypt only). Blank lines
//! and lines starting with `#` are ignored; surrounding whitespace is trimmed.
//! On Unix a key file that group or others can access is refused.
//!
//! Key bytes live in [`Zeroizing`] buffers and are wiped when dropped; no
//! error message or `Debug` output ever contains them.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::purpose::Purpose;
use crate::crypto::random;
use crate::error::{Error, Result};

/// Length of a key in bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// The error message for a string that is not a key; it never echoes the input.
const NOT_A_KEY: &str = "not a base64 key of 32 bytes";

/// A 256-bit encryption key and its public key id.
#[derive(Clone)]
pub struct Key {
    /// The raw key bytes, wiped on drop.
    bytes: Zeroizing<[u8; KEY_LEN]>,
    /// The public key id.
    kid: String,
}

impl Key {
    /// Builds a key from raw bytes, computing its kid.
    pub(crate) fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Key {
        let digest = Sha256::digest(bytes.as_slice());
        let kid = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        Key { bytes, kid }
    }

    /// Parses a standard padded base64 key of exactly 32 bytes (surrounding whitespace ignored).
    pub fn from_base64(s: &str) -> Result<Key> {
        let decoded = Zeroizing::new(
            STANDARD
                .decode(s.trim())
                .map_err(|_| Error::key(NOT_A_KEY.to_string()))?,
        );
        if decoded.len() != KEY_LEN {
            return Err(Error::key(NOT_A_KEY.to_string()));
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&decoded);
        Ok(Key::from_bytes(bytes))
    }

    /// Generates a new random key from the operating system's secure random source.
    pub fn generate() -> Result<Key> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        random::fill(bytes.as_mut_slice())?;
        Ok(Key::from_bytes(bytes))
    }

    /// The key id: first 8 lowercase hex digits of SHA-256 of the raw key bytes.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key as standard padded base64, in a buffer wiped on drop.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_slice()))
    }

    /// The raw key bytes (crate-internal: only the envelope needs them).
    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the public kid: the key bytes never reach Debug output.
        f.debug_struct("Key").field("kid", &self.kid).finish()
    }
}

/// Where the keyring's keys came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable, by name (e.g. `DATABASE_ENCRYPTION_KEY`).
    EnvVar(String),
    /// A key file, by path.
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::EnvVar(name) => write!(f, "environment variable {name}"),
            KeySource::File(path) => write!(f, "key file {}", path.display()),
        }
    }
}

/// The configured keys: one active key (encrypts and decrypts) and previous keys (decrypt only).
#[derive(Debug, Clone)]
pub struct Keyring {
    /// The key that encrypts (and decrypts).
    active: Key,
    /// Older keys that only decrypt.
    previous: Vec<Key>,
    /// Where the keys came from.
    source: KeySource,
}

impl Keyring {
    /// Builds a keyring from its active key, its previous keys and where they came from.
    pub fn new(active: Key, previous: Vec<Key>, source: KeySource) -> Keyring {
        Keyring {
            active,
            previous,
            source,
        }
    }

    /// The active key, used to encrypt.
    pub fn active(&self) -> &Key {
        &self.active
    }

    /// The previous keys, used only to decrypt older values.
    pub fn previous(&self) -> &[Key] {
        &self.previous
    }

    /// Where the keys came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The key with this kid, looking at the active key first, then the previous keys in order.
    pub fn find(&self, kid: &str) -> Option<&Key> {
        self.all().find(|k| k.kid() == kid)
    }

    /// All keys: the active key first, then the previous keys in order.
    pub fn all(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.active).chain(self.previous.iter())
    }

    /// Key material for `purpose`, derived from the active key (see [`Key::derive`]).
    pub fn derive(&self, purpose: Purpose) -> Result<Zeroizing<[u8; KEY_LEN]>> {
        self.active.derive(purpose)
    }
}

impl Key {
    /// Key material for `purpose`: HKDF-SHA256 over this key, no salt, info
    /// `keyward:<label>`. Envelopes (the SPEC's `kw1` format) are sealed with
    /// the key itself, every purpose told apart by its associated data
    /// ([`crate::crypto::purpose::Aad`]); any other use of key material (a MAC
    /// key, a signature seed) takes it from here, so no purpose reuses the
    /// encryption key's bytes directly. Refuses [`Purpose::SettingValue`],
    /// whose only use is the envelope. Derived material follows the key it
    /// came from: what is stored under it must be re-made or re-sealed by
    /// `db rotate-key` (see `domain::keys::SEALED`).
    pub fn derive(&self, purpose: Purpose) -> Result<Zeroizing<[u8; KEY_LEN]>> {
        if purpose == Purpose::SettingValue {
            return Err(Error::internal(
                "setting values are sealed with the key itself, not a derived key",
            ));
        }
        let info = format!("keyward:{}", purpose.label());
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        hkdf::Hkdf::<Sha256>::new(None, self.bytes.as_slice())
            .expand(info.as_bytes(), out.as_mut_slice())
            .map_err(|_| Error::internal("HKDF output length is invalid"))?;
        Ok(out)
    }
}

/// The most bytes a key file may have (64 KiB: some hundreds of keys with
/// comments); a bigger file is refused by its size, before it is read.
pub const MAX_KEY_FILE: u64 = 64 * 1024;

/// Reads a key file: checks its permissions, then parses one base64 key per line.
///
/// The first key returned is the active key. Errors are [`ErrorKind::Key`](crate::error::ErrorKind::Key); a bad
/// line is reported by its number only, never by its content.
pub fn read_key_file(path: &Path) -> Result<Vec<Key>> {
    let shown = path.display();
    // A FIFO or device must be refused, not waited on: open without blocking.
    let mut file = crate::fsutil::open_for_reading(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::key(format!("key file {shown} does not exist")),
        _ => Error::key(format!("cannot read key file {shown}: {e}")),
    })?;
    // The permission check uses the opened file, so it describes what is read.
    let meta = file
        .metadata()
        .map_err(|e| Error::key(format!("cannot read key file {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(Error::key(format!(
            "key file {shown} is not a regular file"
        )));
    }
    check_permissions(path, &meta)?;
    let too_big = || {
        Error::key(format!(
            "key file {shown} is larger than {MAX_KEY_FILE} bytes: it is not a key file"
        ))
    };
    if meta.len() > MAX_KEY_FILE {
        return Err(too_big());
    }

    // Reserve the whole file up front so the secret text is not left behind in
    // reallocated buffers; the buffer is wiped on drop. A file that grew since
    // is read only one byte past the limit.
    let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    let mut text = Zeroizing::new(String::with_capacity(capacity));
    let read = (&mut file).take(MAX_KEY_FILE + 1).read_to_string(&mut text);
    if text.len() as u64 > MAX_KEY_FILE {
        return Err(too_big());
    }
    read.map_err(|e| match e.kind() {
        io::ErrorKind::InvalidData => {
            Error::key(format!("key file {shown} is not valid UTF-8 text"))
        }
        _ => Error::key(format!("cannot read key file {shown}: {e}")),
    })?;

    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = Key::from_base64(line).map_err(|_| {
            Error::key(format!(
                "key file {shown}: line {} is {NOT_A_KEY}",
                index + 1
            ))
        })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(Error::key(format!("key file {shown} contains no keys")));
    }
    Ok(keys)
}

/// Refuses a key file that group or others can access (Unix only).
fn check_permissions(path: &Path, meta: &fs::Metadata) -> Result<()> {
    if let Some(mode) = crate::fsutil::shared_mode(meta) {
        let shown = path.display();
        return Err(Error::key(format!(
            "key file {shown} can be read by other users (mode {mode:04o}): run `chmod 600 {shown}`"
        )));
    }
    Ok(())
}

/// Parses a comma-separated list of base64 keys; `what` names the source in errors.
///
/// Whitespace around entries is ignored and empty entries are skipped, so an
/// empty string gives an empty list. A bad entry is reported by its position
/// only, never by its content.
pub fn parse_key_list(s: &str, what: &str) -> Result<Vec<Key>> {
    let mut keys = Vec::new();
    for (index, entry) in s.split(',').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let key = Key::from_base64(entry)
            .map_err(|_| Error::key(format!("{what}: entry {} is {NOT_A_KEY}", index + 1)))?;
        keys.push(key);
    }
    Ok(keys)
}

/// Writes keys to a key file, one per line (first = active), with mode 0600, atomically.
///
/// The keys go to a new temporary file (mode 0600) in the target's directory,
/// which is synced, renamed over the target, and the directory synced. The
/// parent directory is created (mode 0700) if missing. If `overwrite` is false
/// and the file exists, the result is [`ErrorKind::Conflict`](crate::error::ErrorKind::Conflict); I/O failures are
/// [`ErrorKind::Key`](crate::error::ErrorKind::Key). When overwriting a symbolic link, the link itself is replaced.
pub fn write_key_file(path: &Path, keys: &[&Key], overwrite: bool) -> Result<()> {
    let shown = path.display();
    if keys.is_empty() {
        return Err(Error::invalid(format!(
            "refusing to write key file {shown} without any key"
        )));
    }
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::invalid(format!("key file path {shown} does not name a file")))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let write_err = |e: io::Error| Error::key(format!("cannot write key file {shown}: {e}"));

    if !overwrite && exists(path).map_err(write_err)? {
        return Err(conflict(path));
    }
    if !dir.exists() {
        crate::fsutil::create_private_dir(&dir).map_err(|e| {
            Error::key(format!(
                "cannot create the directory of key file {shown}: {e}"
            ))
        })?;
    }

    let mut contents = Zeroizing::new(String::new());
    for key in keys {
        contents.push_str(&key.to_base64());
        contents.push('\n');
    }

    let suffix = random::bytes::<8>()?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".{suffix}.tmp"));
    let tmp = TempFile(dir.join(tmp_name));

    let mut file = crate::fsutil::create_new_private(&tmp.0).map_err(write_err)?;
    file.write_all(contents.as_bytes()).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    drop(file);

    if overwrite {
        fs::rename(&tmp.0, path).map_err(write_err)?;
    } else {
        // A hard link never replaces an existing file, so a key file created
        // since the check above is not clobbered.
        match fs::hard_link(&tmp.0, path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(conflict(path)),
            // Hard links unsupported here (some file systems): re-check, then rename.
            Err(_) => {
                if exists(path).map_err(write_err)? {
                    return Err(conflict(path));
                }
                fs::rename(&tmp.0, path).map_err(write_err)?;
            }
        }
    }
    // Removes the temporary name if it is still there (after a hard link).
    drop(tmp);
    crate::fsutil::sync_dir(&dir).map_err(write_err)?;
    Ok(())
}

/// A temporary file removed when dropped (a no-op once it was renamed away).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        // Best effort: it is absent after a successful rename.
        let _ = fs::remove_file(&self.0);
    }
}

/// The error for a key file that exists when overwriting was not allowed.
fn conflict(path: &Path) -> Error {
    Error::conflict(format!(
        "key file {} already exists; refusing to overwrite it",
        path.display()
    ))
}

/// Whether something (even a dangling symbolic link) exists at `path`.
fn exists(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HKDF-SHA256(salt none, ikm 00..1f, info `keyward:signing`), 32 bytes.
    const EXPECTED_SIGNING: &str =
        "839f5cca042fe720bd9bb913e75e31b26f43cde494aa623a2de1d7090afa9015";

    /// The key of bytes 0, 1, …, 31.
    fn counting_key() -> Key {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        Key::from_bytes(bytes)
    }

    #[cfg(unix)]
    fn write_with_mode(path: &Path, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn kid_is_first_8_hex_of_sha256() {
        // sha256(00 01 02 … 1f) = 630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd
        assert_eq!(counting_key().kid(), "630dcd29");
        // sha256(32 × 0x42) = 425ed4e4a36b30ea21b90e21c712c649e8214c29b7eaf68089d1039c6e55384c
        let key = Key::from_base64(&STANDARD.encode([0x42u8; 32])).unwrap();
        assert_eq!(key.kid(), "425ed4e4");
    }

    #[test]
    fn base64_round_trip() {
        let key = counting_key();
        let text = key.to_base64();
        assert_eq!(
            text.as_str(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        );
        let back = Key::from_base64(&text).unwrap();
        assert_eq!(back.bytes(), key.bytes());
        assert_eq!(back.kid(), key.kid());
        // Surrounding whitespace (e.g. a trailing newline in an env var) is fine.
        let spaced = format!("  {}\n", text.as_str());
        assert_eq!(Key::from_base64(&spaced).unwrap().kid(), key.kid());
    }

    #[test]
    fn generate_gives_distinct_keys() {
        let a = Key::generate().unwrap();
        let b = Key::generate().unwrap();
        assert_ne!(a.bytes(), b.bytes());
        assert_eq!(a.kid().len(), 8);
        assert!(a
            .kid()
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn bad_keys_are_refused_without_echo() {
        let short = STANDARD.encode([7u8; 31]);
        let long = STANDARD.encode([7u8; 33]);
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode([7u8; 32]);
        for bad in [
            "",
            "not base64!!",
            short.as_str(),
            long.as_str(),
            unpadded.as_str(),
            "secretsecret",
        ] {
            let err = Key::from_base64(bad).unwrap_err();
            assert!(
                err.kind() == crate::error::ErrorKind::Key,
                "{bad:?}: {err:?}"
            );
            assert_eq!(err.to_string(), NOT_A_KEY);
            assert_eq!(err.exit_code(), 7);
        }
    }

    #[test]
    fn debug_shows_only_the_kid() {
        let key = counting_key();
        let debug = format!("{key:?}");
        assert_eq!(debug, "Key { kid: \"630dcd29\" }");
        assert!(!debug.contains(key.to_base64().as_str()));
        let ring = Keyring::new(key.clone(), vec![], KeySource::EnvVar("X".into()));
        let debug = format!("{ring:?}");
        assert!(!debug.contains(key.to_base64().as_str()));
        assert!(!debug.contains("[0, 1, 2"));
    }

    #[test]
    fn key_source_display() {
        assert_eq!(
            KeySource::EnvVar("DATABASE_ENCRYPTION_KEY".into()).to_string(),
            "environment variable DATABASE_ENCRYPTION_KEY"
        );
        assert_eq!(
            KeySource::File(PathBuf::from("/etc/keyward/key")).to_string(),
            "key file /etc/keyward/key"
        );
    }

    #[test]
    fn keyring_find_and_all() {
        let active = counting_key();
        let prev1 = Key::generate().unwrap();
        let prev2 = Key::generate().unwrap();
        let ring = Keyring::new(
            active.clone(),
            vec![prev1.clone(), prev2.clone()],
            KeySource::File(PathBuf::from("k")),
        );
        assert_eq!(ring.active().kid(), active.kid());
        assert_eq!(ring.previous().len(), 2);
        assert_eq!(ring.source(), &KeySource::File(PathBuf::from("k")));
        assert_eq!(ring.find(prev2.kid()).unwrap().bytes(), prev2.bytes());
        assert_eq!(ring.find(active.kid()).unwrap().bytes(), active.bytes());
        assert!(ring.find("zzzzzzzz").is_none());
        let kids: Vec<&str> = ring.all().map(Key::kid).collect();
        assert_eq!(kids, vec![active.kid(), prev1.kid(), prev2.kid()]);
    }

    #[test]
    fn find_prefers_the_active_key() {
        let key = counting_key();
        let ring = Keyring::new(
            key.clone(),
            vec![key.clone()],
            KeySource::EnvVar("X".into()),
        );
        let found = ring.find(key.kid()).unwrap();
        assert!(std::ptr::eq(found, ring.active()));
    }

    #[test]
    fn parse_key_list_handles_commas_and_spaces() {
        let a = counting_key();
        let b = Key::generate().unwrap();
        let list = format!(" {} , {},", a.to_base64().as_str(), b.to_base64().as_str());
        let keys = parse_key_list(&list, "KEYWARD_PREVIOUS_KEYS").unwrap();
        let kids: Vec<&str> = keys.iter().map(Key::kid).collect();
        assert_eq!(kids, vec![a.kid(), b.kid()]);
        assert!(parse_key_list("", "KEYWARD_PREVIOUS_KEYS")
            .unwrap()
            .is_empty());
        assert!(parse_key_list("  ", "KEYWARD_PREVIOUS_KEYS")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn parse_key_list_names_source_and_position_only() {
        let a = counting_key();
        let list = format!("{},hunter2secret", a.to_base64().as_str());
        let err = parse_key_list(&list, "KEYWARD_PREVIOUS_KEYS").unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Key);
        let msg = err.to_string();
        assert!(msg.contains("KEYWARD_PREVIOUS_KEYS"), "{msg}");
        assert!(msg.contains("entry 2"), "{msg}");
        assert!(!msg.contains("hunter2secret"), "{msg}");
        assert!(!msg.contains(a.to_base64().as_str()), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn key_file_with_comments_and_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.key");
        let a = counting_key();
        let b = Key::generate().unwrap();
        let text = format!(
            "# keyward key file\n\n   {}   \r\n# previous keys:\n\t{}\n\n",
            a.to_base64().as_str(),
            b.to_base64().as_str()
        );
        write_with_mode(&path, &text, 0o600);
        let keys = read_key_file(&path).unwrap();
        let kids: Vec<&str> = keys.iter().map(Key::kid).collect();
        assert_eq!(kids, vec![a.kid(), b.kid()]);
        // 0400 is fine as well.
        write_with_mode(&path, &text, 0o400);
        assert_eq!(read_key_file(&path).unwrap().len(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn too_open_key_file_is_refused_with_chmod_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.key");
        let text = format!("{}\n", counting_key().to_base64().as_str());
        for (mode, shown) in [
            (0o644, "0644"),
            (0o640, "0640"),
            (0o604, "0604"),
            (0o620, "0620"),
        ] {
            write_with_mode(&path, &text, mode);
            let err = read_key_file(&path).unwrap_err();
            assert!(err.kind() == crate::error::ErrorKind::Key, "{err:?}");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("chmod 600 {}", path.display())),
                "{msg}"
            );
            assert!(msg.contains(&format!("(mode {shown})")), "{msg}");
            assert!(!msg.contains(text.trim()), "{msg}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn bad_line_is_reported_by_number_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.key");
        let good = counting_key().to_base64();
        let text = format!("# comment\n{}\n\nsupersecretpassword\n", good.as_str());
        write_with_mode(&path, &text, 0o600);
        let err = read_key_file(&path).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Key);
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("line 4"), "{msg}");
        assert!(!msg.contains("supersecretpassword"), "{msg}");
        assert!(!msg.contains(good.as_str()), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn empty_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.key");
        write_with_mode(&path, "# only a comment\n\n   \n", 0o600);
        let err = read_key_file(&path).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Key);
        assert!(err.to_string().contains(&path.display().to_string()));
        assert!(err.to_string().contains("no keys"));
    }

    #[test]
    fn missing_key_file_is_a_key_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.key");
        let err = read_key_file(&path).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Key);
        assert_eq!(err.exit_code(), 7);
        let msg = err.to_string();
        assert!(msg.contains("does not exist"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }

    #[test]
    fn directory_is_not_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_key_file(dir.path()).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Key, "{err:?}");
    }

    #[cfg(unix)]
    #[test]
    fn write_key_file_round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        // The parent directory does not exist yet.
        let path = dir.path().join("conf").join("keyward.key");
        let a = counting_key();
        let b = Key::generate().unwrap();
        write_key_file(&path, &[&a, &b], false).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(path.parent().unwrap()) & 0o077, 0);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("{}\n{}\n", a.to_base64().as_str(), b.to_base64().as_str())
        );
        let keys = read_key_file(&path).unwrap();
        let kids: Vec<&str> = keys.iter().map(Key::kid).collect();
        assert_eq!(kids, vec![a.kid(), b.kid()]);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("keyward.key")]);
    }

    #[cfg(unix)]
    #[test]
    fn write_key_file_refuses_overwrite_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.key");
        let a = counting_key();
        let b = Key::generate().unwrap();
        write_key_file(&path, &[&a], false).unwrap();

        let err = write_key_file(&path, &[&b], false).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Conflict, "{err:?}");
        assert_eq!(err.exit_code(), 4);
        assert_eq!(read_key_file(&path).unwrap()[0].kid(), a.kid());

        // Overwriting replaces the contents and restores mode 0600.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_key_file(&path, &[&b, &a], true).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        let kids: Vec<String> = read_key_file(&path)
            .unwrap()
            .iter()
            .map(|k| k.kid().to_string())
            .collect();
        assert_eq!(kids, vec![b.kid().to_string(), a.kid().to_string()]);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn derived_keys_differ_per_purpose_and_key_and_are_stable() {
        let a = counting_key();
        let b = Key::generate().unwrap();
        let purposes = [
            Purpose::TotpSecret,
            Purpose::KeyCheck,
            Purpose::TokenSigning,
        ];
        let mut seen: Vec<[u8; KEY_LEN]> = Vec::new();
        for key in [&a, &b] {
            for p in purposes {
                let d = key.derive(p).unwrap();
                assert_eq!(*d, *key.derive(p).unwrap(), "stable");
                assert_ne!(&*d, key.bytes(), "not the key itself");
                assert!(!seen.contains(&d), "distinct per purpose and per key");
                seen.push(*d);
            }
        }
        let ring = Keyring::new(a.clone(), vec![b], KeySource::EnvVar("X".into()));
        assert_eq!(
            *ring.derive(Purpose::TokenSigning).unwrap(),
            *a.derive(Purpose::TokenSigning).unwrap()
        );
    }

    #[test]
    fn derive_matches_hkdf_sha256_and_refuses_the_value_key() {
        // RFC 5869 HKDF-SHA256 with an empty salt, computed independently:
        // python3 -c "import hmac,hashlib; k=bytes(range(32)); prk=hmac.new(b'\0'*32,k,hashlib.sha256).digest();
        //   print(hmac.new(prk,b'keyward:signing\x01',hashlib.sha256).hexdigest())"
        let d = counting_key().derive(Purpose::TokenSigning).unwrap();
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, EXPECTED_SIGNING);
        let err = counting_key().derive(Purpose::SettingValue).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Internal);
    }

    #[test]
    fn write_key_file_needs_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.key");
        let err = write_key_file(&path, &[], true).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Invalid);
        assert!(!path.exists());
    }
}
