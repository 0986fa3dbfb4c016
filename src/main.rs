//! The native `vitscape` command line: landscape sweeps, checkpoint inspection and benchmarks.
#![forbid(unsafe_code)]

#[cfg(not(target_arch = "wasm32"))]
mod cli;

/// mimalloc for the engine's many large, short-lived buffers (Cargo.toml).
#[cfg(all(not(target_arch = "wasm32"), feature = "engine"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
