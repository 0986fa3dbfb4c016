//! The browser page (wasm32, built by Trunk with `--features web`).
fn main() {
    vitscape::web::app::main();
}
