//! A dropped `.safetensors` file, as the page and `vitscape inspect` read it: the header, the
//! tensors, the architecture they imply and the layout check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vitscape::io::checkpoint::read_safetensors;
use vitscape::model::arch::HeadCounts;
use vitscape::spec::Branch;

fuzz_target!(|data: &[u8]| {
    let Some((mode, bytes)) = vitscape_fuzz::mode(data) else {
        return;
    };
    let branch = match mode % 3 {
        0 => None,
        1 => Some(Branch::Student),
        _ => Some(Branch::Teacher),
    };
    if let Err(e) = read_safetensors(bytes, branch) {
        let _ = e.to_string();
    }
    match vitscape::io::inspect::inspect("fuzz.safetensors", bytes, branch, HeadCounts::default()) {
        Ok(found) => drop(found.summary()),
        Err(e) => drop(e.to_string()),
    }
});
