//! The `sluice` command. Thin: parsing and exit codes; the library does the work.

fn main() -> std::process::ExitCode {
    sluice::cli::main()
}
