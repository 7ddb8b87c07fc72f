//! The `switchyard` binary: everything is in the library's `cli` module.

use std::process::ExitCode;

/// mimalloc rather than glibc malloc: per-message buffers are allocated on
/// one runtime thread and freed on another, which glibc's arenas handle
/// poorly (measured: about 15% of the pipeline's CPU in malloc and free,
/// and a resident size that creeps over long runs).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    switchyard::cli::main()
}
