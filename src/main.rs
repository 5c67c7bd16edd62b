//! The `keyward` binary: parse, run, print the error once, exit with its code.

fn main() -> std::process::ExitCode {
    keyward::cli::main()
}
