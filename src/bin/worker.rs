//! The compute worker (wasm32, built by Trunk with `--features worker`): burn on WebGPU or the CPU.
#![forbid(unsafe_code)]
fn main() {
    vitscape::web::worker::main();
}
