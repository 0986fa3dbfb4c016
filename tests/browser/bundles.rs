//! What the built bundles carry.

use crate::harness::*;

/// The page is built without the engine (`--no-default-features --features page`), so no burn or
/// cubecl code can reach its bundle; the worker carries the engine. Checked on the built files:
/// burn's and cubecl's source paths (panic locations) and crate names appear in the worker's
/// wasm and nowhere in the page's.
#[test]
fn the_page_bundle_holds_no_burn_code_and_the_worker_bundle_does() {
    let dist = dist();
    let holds = |file: &str, needle: &str| {
        let bytes = std::fs::read(dist.join(file)).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    for needle in [
        "cubecl",
        "burn-tensor",
        "burn_tensor",
        "burn-flex",
        "burn_flex",
    ] {
        assert!(
            !holds("app_bg.wasm", needle),
            "the page's wasm holds `{needle}`: burn code reached the page"
        );
    }
    assert!(holds("worker_bg.wasm", "cubecl") && holds("worker_bg.wasm", "burn"));
}
