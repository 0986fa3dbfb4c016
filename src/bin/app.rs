//! The browser page (wasm32, built by Trunk with `--features web`).
#![forbid(unsafe_code)]
fn main() {
    vitscape::web::app::main();
}
