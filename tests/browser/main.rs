//! The web app in a real headless Chromium, driven over WebDriver (chromedriver), against the
//! Trunk-built `dist/` served on 127.0.0.1 by a small static server (`harness.rs`).
//!
//! Needs `trunk`, `wasm-bindgen`, `chromium` and `chromedriver` (`.ci/setup` installs them). The
//! app is built once (`trunk build --release`, incremental) by the first test that needs it.
//! Screenshots of every view land in `target/screenshots/` — look at them.

mod bad_input;
mod bench;
mod bundles;
mod demo;
mod faults;
mod harness;
mod load;
mod uploads;
