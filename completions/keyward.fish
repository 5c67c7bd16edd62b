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
complete -c keyward -n "__fish_keyward_needs_command" -f -a "audit" -d 'Read and verify the tamper-evident audit trail'
complete -c keyward -n "__fish_keyward_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -f -a "init" -d 'Create the database, migrate it, seed it, and make a key if none is configured'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -f -a "migrate" -d 'Apply pending schema migrations'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -f -a "status" -d 'Show the schema\'s migrations and whether each is applied'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -f -a "seed" -d 'Create the built-in permissions and system roles (idempotent)'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -f -a "health" -d 'Check the connection, the schema and the key (exit 6 or 7 when unhealthy)'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -f -a "rotate-key" -d 'Re-encrypt every secret under a new key, in one transaction'
complete -c keyward -n "__fish_keyward_using_subcommand db; and not __fish_seen_subcommand_from init migrate status seed health rotate-key backup" -f -a "backup" -d 'Copy the SQLite database to FILE while it stays online'
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
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -l actor -d 'Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -s y -l yes -d 'Proceed with destructive actions without asking'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -s V -l version -d 'Print version'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -f -a "list" -d 'List audit entries, oldest first'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -f -a "show" -d 'Show one entry with its details and hashes'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -f -a "verify" -d 'Walk the hash chain; exit 8 naming the first bad entry when broken'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and not __fish_seen_subcommand_from list show verify export" -f -a "export" -d 'Write every entry to stdout'
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l since -d 'Only entries since this long ago (`24h`, `7d`) or this RFC 3339 time' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l actor -d 'Only entries by this actor' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l action -d 'Only this action (`user.create`), or a family (`user.` or `user.*`)' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l target -d 'Only entries about this target' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l limit -d 'Only the newest N matching entries' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l database-url -d 'Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l key-file -d 'Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l config -d 'YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]' -r -F
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -l env -d 'Environment of settings [env: KEYWARD_ENV] [default: development]' -r
complete -c keyward -n "__fish_keyward_using_subcommand audit; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format [env: KEYWARD_OUTPUT] [default: table]' -r -f -a "table\t'Tables for people'
json\t'One JSON document'
yaml\t'One YAML document'"
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
