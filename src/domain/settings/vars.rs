//! The variables a setting may not set for a program (`settings run`, and
//! the dotenv and shell exports) unless the operator names them: those that
//! decide what runs and how (`PATH`, `LD_PRELOAD`, `NODE_OPTIONS`, …), so that
//! `settings:write` is not a way to take over the programs `run` starts.

use crate::error::{Error, Result};
use zeroize::Zeroizing;

/// Protected by exact name.
pub const PROTECTED: &[&str] = &[
    // What runs, and the shell's start-up and parsing.
    "PATH",
    "HOME",
    "SHELL",
    "IFS",
    "ENV",
    "BASH_ENV",
    "PS4",
    "CDPATH",
    "GLOBIGNORE",
    "SHELLOPTS",
    "BASHOPTS",
    "PROMPT_COMMAND",
    "ZDOTDIR",
    // The C library and the dynamic loader.
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    "LOCPATH",
    "NLSPATH",
    "MALLOC_TRACE",
    "HOSTALIASES",
    "RESOLV_HOST_CONF",
    // Interpreters and runtimes: code loaded or options taken at start-up.
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PYTHONINSPECT",
    "PYTHONBREAKPOINT",
    "NODE_OPTIONS",
    "NODE_PATH",
    "PERL5LIB",
    "PERLLIB",
    "PERL5OPT",
    "PERL5DB",
    "RUBYOPT",
    "RUBYLIB",
    "JAVA_TOOL_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "_JAVA_OPTIONS",
    "CLASSPATH",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "NODE_EXTRA_CA_CERTS",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "NODE_REPL_EXTERNAL_MODULE",
    "NODE_ICU_DATA",
    "GEM_HOME",
    "GEM_PATH",
    "DOTNET_STARTUP_HOOKS",
    "DOTNET_ADDITIONAL_DEPS",
    "DOTNET_SHARED_STORE",
    "DOTNET_ROOT",
    "COR_ENABLE_PROFILING",
    "COR_PROFILER",
    "COR_PROFILER_PATH",
    // Programs other programs start (browsers, editors, pagers, password helpers).
    "BROWSER",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "MANPAGER",
    "SSH_ASKPASS",
    "SUDO_ASKPASS",
    // TLS: trust, engines and key logs.
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
    "OPENSSL_MODULES",
    "SSLKEYLOGFILE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    // Where traffic goes.
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
];

/// Protected by prefix: the dynamic loaders' (`LD_PRELOAD`, `DYLD_INSERT_LIBRARIES`),
/// bash's exported functions, and whole families read by runtimes and tools at
/// start-up (`PYTHONWARNINGS` can import a module; `GIT_SSH_COMMAND` runs one;
/// `LUA_INIT` runs code; `CORECLR_PROFILER_PATH` loads a library).
pub const PROTECTED_PREFIXES: &[&str] = &[
    "LD_",
    "DYLD_",
    "BASH_FUNC_",
    "PYTHON",
    "GIT_",
    "LUA_",
    "CORECLR_",
];

/// Whether a setting may set `name` only when the operator allows it by name.
pub fn is_protected(name: &str) -> bool {
    PROTECTED.contains(&name) || PROTECTED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Checks a name given to `--allow-var`: an environment variable's name.
pub fn validate_var_name(name: &str) -> Result<()> {
    let ok = name
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "--allow-var {} is not an environment variable name (letters, digits and `_`)",
            crate::ident::shown(name)
        )))
    }
}

/// Variables for a program, with the protected ones not explicitly allowed set aside.
#[derive(Default)]
pub struct Screened {
    /// The variables to set.
    pub kept: Vec<(String, Zeroizing<String>)>,
    /// The names left out (never their values).
    pub skipped: Vec<String>,
}

/// Splits `pairs` into those to set and the protected names not in `allowed`.
pub fn screen(pairs: Vec<(String, Zeroizing<String>)>, allowed: &[String]) -> Screened {
    let mut out = Screened::default();
    for (name, value) in pairs {
        if is_protected(&name) && !allowed.contains(&name) {
            out.skipped.push(name);
        } else {
            out.kept.push((name, value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deny_list_holds_what_decides_what_runs() {
        for name in [
            "PATH",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "DYLD_INSERT_LIBRARIES",
            "HOME",
            "IFS",
            "BASH_ENV",
            "NODE_OPTIONS",
            "PYTHONPATH",
            "JAVA_TOOL_OPTIONS",
            // Found by an adversarial review: each runs code or weakens TLS.
            "PYTHONWARNINGS",
            "BROWSER",
            "OPENSSL_CONF",
            "DOTNET_STARTUP_HOOKS",
            "CORECLR_PROFILER_PATH",
            "SSLKEYLOGFILE",
            "LUA_INIT",
            "NODE_TLS_REJECT_UNAUTHORIZED",
            "GIT_SSH_COMMAND",
            "HTTPS_PROXY",
        ] {
            assert!(is_protected(name), "{name}");
        }
        for name in [
            "SMTP_HOST",
            "DATABASE_URL",
            "PATHS",
            "MY_PATH",
            "LDAP_URL",
            "NODE_ENV",
            "DOTNET_ENVIRONMENT",
        ] {
            assert!(!is_protected(name), "{name}");
        }
    }

    #[test]
    fn only_named_variables_pass() {
        let v = |n: &str| (n.to_owned(), Zeroizing::new("x".to_owned()));
        let s = screen(
            vec![v("PATH"), v("SMTP_HOST"), v("LD_PRELOAD")],
            &["PATH".to_owned()],
        );
        let kept: Vec<&str> = s.kept.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(kept, ["PATH", "SMTP_HOST"]);
        assert_eq!(s.skipped, ["LD_PRELOAD"]);
        validate_var_name("LD_PRELOAD").unwrap();
        assert!(validate_var_name("1X").is_err());
        assert!(validate_var_name("A=B").is_err());
    }
}
