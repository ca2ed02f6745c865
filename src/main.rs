//! `lrx`, the front end: checks, plans and explains specs without loading libtorch, and hands
//! the commands that train to `lrx-engine` (src/bin/lrx-engine.rs). Everything is in
//! `lrx::cli`; see `lrx::exec::exe`.
fn main() {
    std::process::exit(lrx::cli::front_main(std::env::args_os()));
}
