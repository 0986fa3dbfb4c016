//! The page ↔ worker messages' headers: a request as the worker reads and checks it before any
//! work (mode byte even; the byte also says how many attachments came with it), or a reply as the
//! page reads it (mode byte odd).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vitscape::protocol::{FromWorker, RunRequest};

fuzz_target!(|data: &[u8]| {
    let Some((mode, header)) = vitscape_fuzz::mode(data) else {
        return;
    };
    if mode & 1 == 0 {
        let attachments = usize::from(mode >> 1);
        match RunRequest::from_header(header, attachments) {
            Ok(request) => drop(request),
            Err(e) => drop(e),
        }
    } else if let Ok(reply) = serde_json::from_slice::<FromWorker>(header) {
        drop(reply);
    }
});
