//! The `lrx` binary: everything is in `lrx::cli`.
fn main() {
    std::process::exit(lrx::cli::main(std::env::args_os()));
}
