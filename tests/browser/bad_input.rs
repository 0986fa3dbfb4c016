//! Bad input on the page: corrupt files, mangled links, foreign requests.

use std::net::TcpListener;
use std::time::Duration;

use crate::harness::*;

#[test]
fn corrupt_files_mangled_links_and_foreign_requests_get_clear_messages() {
    let _guard = serial();
    let server = Server::start(dist());
    let b = Browser::start(false);
    // A mangled link: a message, and the demo still runs.
    b.open(&server.url("#vitscape1.AAAA-not-really"));
    b.wait_for("the error banner", Duration::from_secs(30), |b| {
        !b.text("#error").is_empty()
    });
    assert!(b.text("#error").contains("damaged"), "{}", b.text("#error"));
    b.wait_for("the demo anyway", Duration::from_secs(60), |b| {
        b.progress().0 > 0
    });
    b.screenshot("mangled-link");
    b.click("#cancel");
    // A foreign fragment.
    b.open(&server.url("#section-3"));
    b.js("location.reload()");
    b.wait_for("the foreign-link banner", Duration::from_secs(30), |b| {
        b.text("#error").contains("does not hold a vitscape plot")
    });
    // A corrupt checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.safetensors");
    std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": nonsense}").unwrap();
    b.upload("#checkpoint-input", &[&bad]);
    b.wait_for("the corrupt-file message", Duration::from_secs(30), |b| {
        b.text("#error").contains("broken.safetensors")
    });
    let message = b.text("#error");
    assert!(
        message.contains("header") || message.contains("JSON"),
        "{message}"
    );
    assert!(
        b.text("#uploads").trim().is_empty(),
        "a corrupt file was accepted"
    );
    b.screenshot("corrupt-file");
    // A live exploit (it runs under torch.load): refused by name, nothing accepted.
    let hostile = root().join("tests/fixtures/pth/hostile/os_system.pth");
    b.upload("#checkpoint-input", &[&hostile]);
    b.wait_for("the refusal", Duration::from_secs(30), |b| {
        b.text("#error").contains("os_system.pth")
    });
    let message = b.text("#error");
    assert!(message.contains("posix.system"), "{message}");
    assert!(message.contains("Nothing in the file was run"), "{message}");
    assert!(
        b.text("#uploads").trim().is_empty(),
        "{}",
        b.text("#uploads")
    );
    // A DeiT-style training file (.pth) is read like a safetensors file, and the page says
    // where the weights were found.
    b.set("#heads", "2");
    let deit = root().join("tests/fixtures/pth/deit.pth");
    b.upload("#checkpoint-input", &[&deit]);
    b.wait_for("the .pth inspection", Duration::from_secs(30), |b| {
        b.text("#uploads").contains("deit.pth")
    });
    let shown = b.text("#uploads");
    assert!(shown.contains("state dict under 'model'"), "{shown}");
    assert!(
        shown.contains("19658") || shown.contains("19 658"),
        "{shown}"
    );
    b.screenshot("pth-upload");
    // The Content-Security-Policy forbids requests to any other origin.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let outcome = b.js_async(&format!(
        "const done = arguments[arguments.length - 1];
         fetch('http://127.0.0.1:{}/leak').then(() => done('sent'), e => done('blocked: ' + e));",
        other.local_addr().unwrap().port()
    ));
    assert!(
        outcome.as_str().unwrap_or("").starts_with("blocked"),
        "{outcome}"
    );

    // A 224×224 RGB model (a .pth without head counts) with the demo's 28×28 grayscale images:
    // the page says what the model takes and what to drop, instead of failing on mean/std.
    b.open(&server.url(""));
    b.wait_for("the demo", Duration::from_secs(60), |b| b.progress().1 > 0);
    b.click("#cancel");
    b.set("#heads", "3");
    let rgb = root().join("tests/fixtures/rgb224/vit224.pth");
    b.upload("#checkpoint-input", &[&rgb]);
    b.wait_for("the 224 inspection", Duration::from_secs(30), |b| {
        b.text("#uploads").contains("vit224.pth")
    });
    let note = b.text("#preprocess-note");
    assert!(
        note.contains("vit224.pth takes 224×224 RGB images"),
        "{note}"
    );
    b.click("#run-uploads");
    b.wait_for("the advice", Duration::from_secs(30), |b| {
        b.text("#error").contains("takes 224×224 RGB")
    });
    let advice = b.text("#error");
    assert!(
        advice.contains("demo images are 28×28") && advice.contains("248"),
        "{advice}"
    );
    b.screenshot("rgb224-advice");
    // An RC-MAE training file offers both halves: the teacher by default, the student on request.
    b.click(".upload .remove");
    b.set("#heads", "2");
    b.set("#decoder-heads", "2");
    let rcmae = root().join("tests/fixtures/pth/rcmae.pth");
    b.upload("#checkpoint-input", &[&rcmae]);
    b.wait_for("the RC-MAE inspection", Duration::from_secs(30), |b| {
        b.text("#uploads").contains("teacher branch")
    });
    b.js(
        "const s = document.querySelector('.branch-select'); s.value = 'student'; \
          s.dispatchEvent(new Event('change', {bubbles: true}));",
    );
    b.wait_for("the student", Duration::from_secs(30), |b| {
        b.text("#uploads").contains("student branch")
    });
}
