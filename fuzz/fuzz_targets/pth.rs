//! A dropped PyTorch checkpoint (`torch.save` zip or legacy pickle): the zip reader, the
//! restricted unpickler, the storages, the architecture and the layout check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vitscape::io::checkpoint::read_checkpoint;
use vitscape::model::arch::HeadCounts;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = read_checkpoint(data, None) {
        let _ = e.to_string();
    }
    match vitscape::io::inspect::inspect("fuzz.pth", data, None, HeadCounts::default()) {
        Ok(found) => drop(found.summary()),
        Err(e) => drop(e.to_string()),
    }
});
