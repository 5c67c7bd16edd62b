# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_keyward_global_optspecs
    string join \n database-url= key-file= config= env= actor= o/output= y/yes h/help V/version
end

function __fish_keyward_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_keyward_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_keyward_using_subcommand
    set -l cmd (__fish_keyward_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c keyward -n "__fish_keyward_needs_command" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_needs_command" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_needs_command" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_needs_command" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_needs_command" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_needs_command" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_needs_command" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_needs_command" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_needs_command" -f -a "db" -d 'Create, migrate, check and back up the database; rotate the encryption key'
complete -c keyward -n "__fish_keyward_needs_command" -f -a "users" -d 'Manage users: passwords, lockout, TOTP, permission checks'
complete -c keyward -n "__fish_keyward_needs_command" -f -a "roles" -d 'Manage roles and their RESOURCE:ACTION permissions'
complete -c keyward -n "__fish_keyward_needs_command" -f -a "sessions" -d 'Log users in: signed access tokens, rotating refresh tokens, revocation'
complete -c keyward -n "__fish_keyward_needs_command" -f -a "settings" -d 'Per-environment settings: versioned, encrypted when secret, importable'
complete -c keyward -n "__fish_keyward_needs_command" -f -a "flags" -d 'Feature flags: defined once, switched per environment, percentage rollout and targeting'
complete -c keyward -n "__fish_keyward_needs_command" -f -a "apikeys" -d 'API keys: shown once, scoped, allowlisted, rate limited, rotated with grace, verified, scanned for leaks'
complete -c keyward -n "__fish_keyward_needs_command" -f -a "audit" -d 'Read and verify the tamper-evident audit trail'
complete -c keyward -n "__fish_keyward_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -f -a "init" -d 'Create the database, migrate it, seed it, and make a key if none is configured'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -f -a "migrate" -d 'Apply pending schema migrations'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -f -a "status" -d 'Show the schema\'s migrations and whether each is applied'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -f -a "seed" -d 'Create the built-in permissions and system roles (idempotent)'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -f -a "health" -d 'Check the connection, the schema and the key (exit 6 or 7 when unhealthy)'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -f -a "rotate-key" -d 'Re-encrypt every secret under a new key, in one transaction'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -f -a "backup" -d 'Copy the SQLite database to FILE while it stays online'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup copy" -f -a "copy" -d 'Copy every table into another, empty database (SQLite <-> PostgreSQL), in one transaction'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from init" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from init" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from init" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from init" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from init" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from init" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from init" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from init" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from migrate" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from migrate" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from migrate" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from migrate" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from migrate" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from migrate" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from migrate" -l dry-run -d 'Show what would be applied, change nothing'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from migrate" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from migrate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from migrate" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from status" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from status" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from status" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from status" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from status" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from status" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from status" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from seed" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from seed" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from seed" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from seed" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from seed" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from seed" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from seed" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from seed" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from seed" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from health" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from health" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from health" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from health" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from health" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from health" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from health" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from health" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from health" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from rotate-key" -l new-key-file -d 'The new key: a key file (its first line); created, mode 0600, if it does not exist' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from rotate-key" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from rotate-key" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from rotate-key" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from rotate-key" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from rotate-key" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from rotate-key" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from rotate-key" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from rotate-key" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from rotate-key" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from backup" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from backup" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from backup" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from backup" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from backup" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from backup" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from backup" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from backup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from backup" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from copy" -l to -d 'The target database URL (created and migrated if it has no schema yet; must hold no data: do not run db init or db migrate on it first)' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from copy" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from copy" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from copy" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from copy" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from copy" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from copy" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from copy" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from copy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand db; and __fish_seen_subcommand_from copy" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -f -a "add" -d 'Create a user (password from a prompt, or one line of stdin with --password-stdin)'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -f -a "list" -d 'List users'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -f -a "show" -d 'Show one user with roles and permissions'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -f -a "update" -d 'Change a user\'s email or active flag'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -f -a "passwd" -d 'Set a new password'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -f -a "lock" -d 'Lock an account (until `unlock`, or for a while with --for)'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -f -a "unlock" -d 'Unlock an account and clear its failed-login count'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -f -a "delete" -d 'Delete a user with their sessions, role assignments and API keys'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -f -a "check-password" -d 'The login check: exit 0 when the password is right; counts failures and locks'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -f -a "can" -d 'Whether a user may do RESOURCE:ACTION (exit 0 allowed, 5 denied)'
complete -c keyward -n "__fish_keyward_using_subcommand users; and not __fish_seen_subcommand_from add list show update passwd lock unlock delete check-password can totp" -f -a "totp" -d 'Time-based one-time passwords (RFC 6238)'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -l email -d 'Email address (stored lowercase)' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -l role -d 'Role to assign (repeatable)' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -l password-stdin -d 'Read the password as one line from stdin'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -l allow-weak -d 'Accept a password that fails the policy (recorded in the audit log)'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from list" -l role -d 'Only members of this role' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from list" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from list" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from list" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from list" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from list" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from list" -l locked -d 'Only users locked now'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from list" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from show" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from show" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from show" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from show" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from show" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from show" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from update" -l email -d 'New email address' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from update" -l active -d 'Enable or disable the account' -r -f -a "true\t''
false\t''"
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from update" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from update" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from update" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from update" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from update" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from update" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from update" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from update" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from passwd" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from passwd" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from passwd" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from passwd" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from passwd" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from passwd" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from passwd" -l password-stdin -d 'Read the password as one line from stdin'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from passwd" -l allow-weak -d 'Accept a password that fails the policy (recorded in the audit log)'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from passwd" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from passwd" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from lock" -l for -d 'Lock for this long (`15m`, `2h`, `7d`) instead of until unlocked' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from lock" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from lock" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from lock" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from lock" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from lock" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from lock" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from lock" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from lock" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from lock" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from unlock" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from unlock" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from unlock" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from unlock" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from unlock" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from unlock" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from unlock" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from unlock" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from unlock" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from delete" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from delete" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from delete" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from delete" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from delete" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from delete" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from delete" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from check-password" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from check-password" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from check-password" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from check-password" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from check-password" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from check-password" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from check-password" -l password-stdin -d 'Read the password as one line from stdin'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from check-password" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from check-password" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from check-password" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from can" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from can" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from can" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from can" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from can" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from can" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from can" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from can" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from can" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from totp" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from totp" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from totp" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from totp" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from totp" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from totp" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from totp" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from totp" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from totp" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from totp" -f -a "enroll" -d 'Make a secret and print its otpauth:// URI (and a QR code on a terminal)'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from totp" -f -a "verify" -d 'Check a code (exit 0 valid, 5 not); the first good code activates enrolment'
complete -c keyward -n "__fish_keyward_using_subcommand users; and __fish_seen_subcommand_from totp" -f -a "disable" -d 'Remove TOTP from the account'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -f -a "add" -d 'Create a role'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -f -a "list" -d 'List roles'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -f -a "show" -d 'Show a role\'s permissions and members'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -f -a "delete" -d 'Delete a role (system roles cannot be deleted)'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -f -a "grant" -d 'Grant RESOURCE:ACTION pairs (created if new; admin implies read, write, delete)'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -f -a "revoke" -d 'Revoke RESOURCE:ACTION pairs'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -f -a "assign" -d 'Give the role to a user'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -f -a "unassign" -d 'Take the role from a user'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and not __fish_seen_subcommand_from add list show delete grant revoke assign unassign permissions" -f -a "permissions" -d 'List every permission and the roles granting it'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from add" -l description -d 'What the role is for' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from add" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from add" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from add" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from add" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from add" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from add" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from add" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from list" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from list" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from list" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from list" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from list" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from list" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from show" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from show" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from show" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from show" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from show" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from show" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from delete" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from delete" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from delete" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from delete" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from delete" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from delete" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from delete" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from grant" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from grant" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from grant" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from grant" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from grant" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from grant" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from grant" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from grant" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from grant" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from revoke" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from revoke" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from revoke" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from revoke" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from revoke" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from revoke" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from revoke" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from revoke" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from assign" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from assign" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from assign" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from assign" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from assign" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from assign" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from assign" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from assign" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from assign" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from unassign" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from unassign" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from unassign" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from unassign" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from unassign" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from unassign" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from unassign" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from unassign" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from unassign" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from permissions" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from permissions" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from permissions" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from permissions" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from permissions" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from permissions" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from permissions" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from permissions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand roles; and __fish_seen_subcommand_from permissions" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -f -a "login" -d 'Log a user in (the login check of check-password, then TOTP) and print tokens'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -f -a "verify" -d 'Check an access token read from stdin (exit 0 valid, 5 with a reason)'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -f -a "refresh" -d 'Spend a refresh token read from stdin for new tokens (reuse revokes the session)'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -f -a "list" -d 'List sessions, newest first: active ones, or all kept with --all (never a token)'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -f -a "show" -d 'Show one session with its user\'s current roles'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -f -a "revoke" -d 'Revoke one session: its access and refresh tokens stop working'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -f -a "revoke-all" -d 'Revoke every active session of a user'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -f -a "jwks" -d 'Print the public signing keys as a JWKS document (RFC 7517)'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -f -a "rotate-signing-key" -d 'Make a new key the signer (the old one stays published until its tokens expire)'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and not __fish_seen_subcommand_from login verify refresh list show revoke revoke-all jwks rotate-signing-key prune" -f -a "prune" -d 'Delete expired and revoked sessions in short batches (safe from cron on several hosts)'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -l totp -d 'The current TOTP code, when the account has TOTP enabled' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -l device -d 'A label for the device or client (shown by list and show)' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -l ip -d 'The client\'s IP address (IPv4 or IPv6)' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -l ttl -d 'Access token lifetime [default: auth.access_ttl, 15m]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -l refresh-ttl -d 'Session (refresh token) lifetime [default: auth.refresh_ttl, 7d]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -l password-stdin -d 'Read the password as one line from stdin'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from login" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from verify" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from verify" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from verify" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from verify" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from verify" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from verify" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from verify" -l token-stdin -d 'Read the token as one line from stdin'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from verify" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from refresh" -l ttl -d 'Access token lifetime [default: auth.access_ttl, 15m]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from refresh" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from refresh" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from refresh" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from refresh" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from refresh" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from refresh" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from refresh" -l token-stdin -d 'Read the refresh token as one line from stdin'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from refresh" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from refresh" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from refresh" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from list" -l user -d 'Only this user\'s sessions' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from list" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from list" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from list" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from list" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from list" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from list" -l all -d 'Include revoked and expired sessions'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from list" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from show" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from show" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from show" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from show" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from show" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from show" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke-all" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke-all" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke-all" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke-all" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke-all" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke-all" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke-all" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke-all" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from revoke-all" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from jwks" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from jwks" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from jwks" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from jwks" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from jwks" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from jwks" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from jwks" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from jwks" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from jwks" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from rotate-signing-key" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from rotate-signing-key" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from rotate-signing-key" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from rotate-signing-key" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from rotate-signing-key" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from rotate-signing-key" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from rotate-signing-key" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from rotate-signing-key" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from rotate-signing-key" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from prune" -l older-than -d 'Keep sessions that ended or were revoked less than this long ago [default: 0s]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from prune" -l batch-size -d 'Sessions deleted per transaction, 1 to 100000 [default: 5000]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from prune" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from prune" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from prune" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from prune" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from prune" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from prune" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from prune" -l dry-run -d 'Count what would be deleted, change nothing'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from prune" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand sessions; and __fish_seen_subcommand_from prune" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -f -a "set" -d 'Create or change a setting (a new version when anything differs)'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -f -a "get" -d 'Show a setting'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -f -a "list" -d 'List settings, by key (streamed a page at a time)'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -f -a "delete" -d 'Delete a setting (its history stays; `rollback` can restore it)'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -f -a "history" -d 'Show every version of a setting'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -f -a "rollback" -d 'Write an earlier version back as a new version (also for a deleted setting)'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -f -a "import" -d 'Apply a settings file (YAML, JSON or dotenv) declaratively: print the plan, apply it in one transaction'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -f -a "export" -d 'Print the environment\'s settings (every format re-imports with `import`)'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -f -a "run" -d 'Run a command with the settings as environment variables (smtp.password → SMTP_PASSWORD)'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -f -a "envs" -d 'List the environments that have settings, with their counts'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -f -a "diff" -d 'Compare this environment (--env) with another: keys in only one, values that differ'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and not __fish_seen_subcommand_from set get list delete history rollback import export run envs diff promote" -f -a "promote" -d 'Copy settings from one environment to another, as audited changes there'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -l from-file -d 'Read the value from a file, as it is' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -l type -d 'Value type (default: the current type, else string)' -r -f -a "string\t'Text'
int\t'A 64-bit integer'
float\t'A finite float'
bool\t'true / false'
json\t'Any JSON document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -l category -d 'Category' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -l description -d 'Description' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -l if-version -d 'Only if the setting is at this version (0: only if it does not exist)' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -l value-stdin -d 'Read the value from stdin (all of it, minus one trailing newline; on a terminal, asked for without echo)'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -l secret -d 'Store it encrypted; shown masked unless --reveal'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from set" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from get" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from get" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from get" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from get" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from get" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from get" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from get" -l reveal -d 'Show a secret\'s value'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from get" -l raw -d 'Print only the value, for $(…) in scripts'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from get" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from get" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from list" -l category -d 'Only this category' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from list" -l prefix -d 'Only keys starting with this' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from list" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from list" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from list" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from list" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from list" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from list" -l reveal -d 'Show secrets\' values'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from list" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from delete" -l if-version -d 'Only if the setting is at this version' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from delete" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from delete" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from delete" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from delete" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from delete" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from delete" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from delete" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from history" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from history" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from history" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from history" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from history" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from history" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from history" -l reveal -d 'Show secrets\' values'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from history" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from history" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from history" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from rollback" -l to-version -d 'The version to restore' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from rollback" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from rollback" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from rollback" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from rollback" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from rollback" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from rollback" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from rollback" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from rollback" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from rollback" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from import" -s f -l file -d 'The file (- for stdin)' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from import" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from import" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from import" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from import" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from import" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from import" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from import" -l dry-run -d 'Print the plan only'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from import" -l prune -d 'Also delete settings the file does not name'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from import" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from import" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from export" -l format -d 'Output format [default: json with `-o json`, else yaml]' -r -f -a "yaml\t''
json\t''
dotenv\t''
shell\t''"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from export" -l allow-var -d 'Write this protected variable (PATH, LD_PRELOAD, …) in dotenv/shell exports all the same' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from export" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from export" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from export" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from export" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from export" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from export" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from export" -l reveal -d 'Include secrets\' values (otherwise they are left out)'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from export" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from run" -l prefix -d 'Only keys starting with this' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from run" -l allow-var -d 'Set this protected variable (PATH, LD_PRELOAD, …) from settings all the same' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from run" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from run" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from run" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from run" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from run" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from run" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from run" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from run" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from envs" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from envs" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from envs" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from envs" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from envs" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from envs" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from envs" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from envs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from envs" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from diff" -l against -d 'The environment to compare against' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from diff" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from diff" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from diff" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from diff" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from diff" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from diff" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from diff" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from diff" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from promote" -l from -d 'Source environment' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from promote" -l to -d 'Target environment' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from promote" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from promote" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from promote" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from promote" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from promote" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from promote" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from promote" -l dry-run -d 'Print the plan only'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from promote" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from promote" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand settings; and __fish_seen_subcommand_from promote" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -f -a "add" -d 'Define a flag (global); with --enabled or --percentage also set its state in --env'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -f -a "list" -d 'List every flag with its state in --env (never configured there: off, 0 %)'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -f -a "show" -d 'Show a flag\'s definition and its state in every environment where it is configured'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -f -a "enable" -d 'Switch a flag on in --env'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -f -a "disable" -d 'Switch a flag off in --env'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -f -a "set" -d 'Set a flag\'s rollout percentage in --env'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -f -a "target" -d 'Turn a flag on for users or roles in --env, whatever the percentage'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -f -a "untarget" -d 'Stop targeting users or roles in --env'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -f -a "delete" -d 'Delete a flag: its definition and its state in every environment'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -f -a "copy" -d 'Copy a flag\'s state (on/off, percentage, targets) from one environment to another'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -f -a "eval" -d 'Decide a flag for users in this environment: enabled, reason and bucket (exit 3 for an unknown flag)'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and not __fish_seen_subcommand_from add list show enable disable set target untarget delete copy eval export" -f -a "export" -d 'Print this environment\'s flags for applications to evaluate offline'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -l description -d 'What the flag is for' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -l group -d 'Bucketing group (Unleash\'s groupId): flags sharing one roll out to the same users [default: the name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -l percentage -d 'Also set its rollout percentage (0 to 100) in the current environment' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -l enabled -d 'Also switch it on in the current environment'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from list" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from list" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from list" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from list" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from list" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from list" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from show" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from show" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from show" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from show" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from show" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from show" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from enable" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from enable" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from enable" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from enable" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from enable" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from enable" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from enable" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from enable" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from enable" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from disable" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from disable" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from disable" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from disable" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from disable" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from disable" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from disable" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from disable" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from disable" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from set" -l percentage -d 'Percentage of users (by bucket) the flag is on for, 0 to 100' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from set" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from set" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from set" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from set" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from set" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from set" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from set" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from set" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from target" -l user -d 'A username (repeatable); need not exist yet' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from target" -l role -d 'A role name (repeatable); need not exist yet' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from target" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from target" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from target" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from target" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from target" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from target" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from target" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from target" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from target" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from untarget" -l user -d 'A username (repeatable); need not exist yet' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from untarget" -l role -d 'A role name (repeatable); need not exist yet' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from untarget" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from untarget" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from untarget" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from untarget" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from untarget" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from untarget" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from untarget" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from untarget" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from untarget" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from delete" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from delete" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from delete" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from delete" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from delete" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from delete" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from delete" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from copy" -l from -d 'Source environment' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from copy" -l to -d 'Target environment' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from copy" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from copy" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from copy" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from copy" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from copy" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from copy" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from copy" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from copy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from copy" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -l user -d 'A user id to decide the flag for (repeatable): a username, or the id the application uses' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -l role -d 'A role the users hold besides their roles in the database (repeatable)' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -l users-stdin -d 'Read user ids from stdin, one per line (blank lines skipped), and print each decision as it is made (-o json: one JSON object per line)'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -l exit-code -d 'Exit 0 when the flag is on for every user evaluated, 5 otherwise'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from eval" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from export" -l format -d 'json: keyward\'s document; unleash: the Unleash client API features document (version 2)' -r -f -a "json\t''
unleash\t''"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from export" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from export" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from export" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from export" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from export" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from export" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from export" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand flags; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -f -a "create" -d 'Create a key and print it once (only its prefix and hash are stored)'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -f -a "list" -d 'List keys: active ones (a rotated key in its grace period too), or all with --all (never a key)'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -f -a "show" -d 'Show one key by id or prefix: grants, status, last use, failures, rotation links'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -f -a "revoke" -d 'Revoke a key by id or prefix: it stops verifying at once'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -f -a "rotate" -d 'Replace a key with a new one (same name, grants, allowlist, limit); the old one works until the grace period ends'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -f -a "verify" -d 'Check a key read from stdin (exit 0 valid, 5 with one reason)'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and not __fish_seen_subcommand_from create list show revoke rotate verify scan" -f -a "scan" -d 'Find keyward keys and refresh tokens in files, directories or stdin, and report each one\'s status (exit 5 when one is active, 1 when a path could not be read)'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -l user -d 'The user the key acts for: it holds only permissions they have, and stops working when they are disabled, locked or deleted' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -l permission -d 'A permission the key holds, RESOURCE:ACTION (repeatable)' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -l allow-ip -d 'A network the key may be used from: CIDR or bare address, IPv4 or IPv6 (repeatable; none: anywhere)' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -l rate-limit -d 'Successful verifications allowed per minute, N/min (none: no limit)' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -l expires-in -d 'The key stops working this long after creation (e.g. 90d; none: it does not expire)' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from list" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from list" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from list" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from list" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from list" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from list" -l all -d 'Include revoked and expired keys'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from list" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from show" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from show" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from show" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from show" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from show" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from show" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from revoke" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from revoke" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from revoke" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from revoke" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from revoke" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from revoke" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from revoke" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from revoke" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from rotate" -l grace -d 'How long the old key keeps working (0s: not at all) [default: 24h]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from rotate" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from rotate" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from rotate" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from rotate" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from rotate" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from rotate" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from rotate" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from rotate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from rotate" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from verify" -l ip -d 'The client\'s IP address, checked against the key\'s allowlist' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from verify" -l permission -d 'A permission the use needs, RESOURCE:ACTION' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from verify" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from verify" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from verify" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from verify" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from verify" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from verify" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from verify" -l key-stdin -d 'Read the key as one line from stdin'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from verify" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from scan" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from scan" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from scan" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from scan" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from scan" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from scan" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from scan" -l revoke -d 'Revoke every active key (and the session of every active refresh token) found'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from scan" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from scan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand apikeys; and __fish_seen_subcommand_from scan" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -f -a "list" -d 'List audit entries, oldest first: the newest 100 unless --limit or --all'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -f -a "show" -d 'Show one entry with its details and hashes'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -f -a "verify" -d 'Walk the hash chain and compare its end with the head record; exit 8 naming the first bad entry when broken or truncated'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -f -a "head" -d 'Print the newest entry\'s id and hash (ID:HASH), to record outside the database'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify head export" -f -a "export" -d 'Write every entry to stdout'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l since -d 'Only entries since this long ago (`24h`, `7d`) or this RFC 3339 time' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l actor -d 'Only entries by this actor' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l action -d 'Only this action (`user.create`), or a family (`user.` or `user.*`)' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l target -d 'Only entries about this target' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l limit -d 'Only the newest N matching entries (default: 100)' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l all -d 'Every matching entry, oldest first (streamed)'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from show" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from show" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from show" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from show" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from show" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from show" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from verify" -l anchor -d 'Also prove the chain still holds this entry (ID:HASH, from `audit head`) and continues from it' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from verify" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from verify" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from verify" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from verify" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from verify" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from verify" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from verify" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from head" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from head" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from head" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from head" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from head" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from head" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from head" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from head" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from head" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from export" -l format -d 'jsonl: one entry per line; json: one array' -r -f -a "jsonl\t''
json\t''"
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from export" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from export" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from export" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from export" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from export" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from export" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from export" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand completions" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand completions" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand completions" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand completions" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand completions" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand completions" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand completions" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand completions" -s V -l version -d 'Print version'
