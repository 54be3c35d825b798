//! The `shoal` binary: parse the command line and run a subcommand.
fn main() {}
