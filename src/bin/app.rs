//! The browser page (wasm32, built by Trunk with `--no-default-features --features page`: no burn).
#![forbid(unsafe_code)]
fn main() {
    vitscape::web::app::main();
}
