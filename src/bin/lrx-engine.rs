//! `lrx-engine`: the executable that links libtorch and runs every `lrx` command in-process.
//! `lrx` (src/main.rs) replaces itself with it for the commands that train; the training
//! children of `lrx run` and Slurm's array tasks are `lrx-engine run-task`. See `lrx::exec::exe`.
fn main() {
    std::process::exit(lrx::cli::main(std::env::args_os()));
}
